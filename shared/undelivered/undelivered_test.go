package undelivered_test

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/undelivered"
)

// groupEvent writes a pending event of type typ in group gid's partition
// and returns it.
func groupEvent(t *testing.T, h *apptest.Harness, gid string, typ referral.EventType, data map[string]string) referral.Event {
	t.Helper()
	now := h.Now()
	data["group"] = gid
	ev := referral.Event{ID: app.NewID(now), Partition: dynamo.GroupPartition(gid), Type: typ, At: now, Due: now.Add(24 * time.Hour), Data: data}
	if err := h.App.Referrals.ApplyGroup(context.Background(), dynamo.GroupChange{Partition: ev.Partition, Events: []referral.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestGroupContactBounces: a bounce of a group contact's email pauses the
// group — the listing check's, and the current contact's notice of a
// hand-over — but the new contact's hand-over link bouncing leaves the
// group as it is (the hand-over is just never confirmed).
func TestGroupContactBounces(t *testing.T) {
	h := apptest.New(t)
	ctx := context.Background()
	u := undelivered.New(h.App)
	tests := []struct {
		name   string
		typ    referral.EventType
		effect string
		kind   string
		paused bool
	}{
		{"the listing check", referral.ListingCheck, "email", "bounce", true},
		{"a complaint about the listing check", referral.ListingCheck, "email", "complaint", true},
		{"the hand-over's notice to the contact", referral.ListingHandover, "email-old", "bounce", true},
		{"the hand-over's link to the new contact", referral.ListingHandover, "email-new", "bounce", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := apptest.SampleGroup("bounce-"+string(rune('a'+i)), 37.76, -122.42)
			h.PutGroup(g, g.ID)
			ev := groupEvent(t, h, g.ID, tc.typ, map[string]string{"seq": "1"})
			if err := u.RecordBounce(ctx, undelivered.Bounce{Kind: tc.kind, ReferralID: ev.Partition, EventID: ev.ID, Effect: tc.effect}); err != nil {
				t.Fatal(err)
			}
			got, err := h.App.Directory.GetGroup(ctx, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Paused != tc.paused || tc.paused && got.PausedReason != "contact email "+tc.kind {
				t.Errorf("paused %v (%q), want %v", got.Paused, got.PausedReason, tc.paused)
			}
		})
	}
}

// TestReportsThatChangeNothing: a report naming an event handoff does not
// know changes nothing and is no error (a retry of SNS must not loop), and
// a text's delivery event that is not a failure is not even looked up.
func TestReportsThatChangeNothing(t *testing.T) {
	h := apptest.New(t)
	ctx := context.Background()
	u := undelivered.New(h.App)
	if err := u.RecordBounce(ctx, undelivered.Bounce{Kind: "bounce", ReferralID: "01JUNKNOWNREFERRAL00000000", EventID: "01JUNKNOWNEVENT00000000000", Effect: "email"}); err != nil {
		t.Errorf("a bounce of an unknown event: %v", err)
	}
	if err := u.RecordTextEvent(ctx, undelivered.TextEvent{Type: "TEXT_BLOCKED", ReferralID: "01JUNKNOWNREFERRAL00000000", EventID: "01JUNKNOWNEVENT00000000000"}); err != nil {
		t.Errorf("a text event of an unknown event: %v", err)
	}
	h.DB.Counter.Reset()
	for _, typ := range []string{"TEXT_DELIVERED", "TEXT_SUCCESSFUL", "TEXT_PENDING", "TEXT_UNKNOWN"} {
		if err := u.RecordTextEvent(ctx, undelivered.TextEvent{Type: typ, ReferralID: "01JUNKNOWNREFERRAL00000000", EventID: "01JUNKNOWNEVENT00000000000"}); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if calls := h.DB.Counter.Snapshot(); len(calls) != 0 {
		t.Errorf("delivery events that are no failure made DynamoDB calls: %+v", calls)
	}
}
