package apptest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/referral"
)

// TestCountsRideInTheirWrites: a referral's life to connected is counted
// without a ledger entry of any counting — each count was written in the
// transaction of the change it counts — and the report still has every
// stage once. The consent link's event names its channel; the group's
// answer is a record written done, which the dispatcher never runs.
func TestCountsRideInTheirWrites(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "counted@patient.example")
	if st, _, _ := w.Do(http.MethodGet, link, nil, nil); st != http.StatusOK {
		t.Fatalf("consent page: %d", st)
	}
	if st, _, _ := w.Do(http.MethodGet, link, nil, nil); st != http.StatusOK { // a second view counts nothing
		t.Fatalf("consent page: %d", st)
	}
	w.confirm(t, link, "introduce", "mission-a")
	g := w.groupLink(t, w.groups[0], 1)
	w.Advance(3 * time.Hour)
	w.answer(t, g, url.Values{"action": {"accept"}})
	w.answer(t, g, url.Values{"action": {"connected"}})
	w.Settle()

	for _, it := range dynamotest.Scan(t, w.DB, w.DB.Tables.Referrals) {
		if pk := strAttr(it, "PK"); strings.HasPrefix(pk, "LEDGER#") && strings.Contains(pk, "#count") {
			t.Errorf("a counting's ledger entry %s: counts are to ride in their change's write", pk)
		}
	}
	rec, err := w.App.Referrals.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	answers := 0
	for _, e := range rec.Events {
		if rec.Pending[e.ID] && !e.Due.After(w.Now()) {
			t.Errorf("%s is still pending", e.Type)
		}
		switch e.Type {
		case referral.ConsentRequested:
			if e.Data["channel"] != "email" {
				t.Errorf("the consent link's event names channel %q, want email", e.Data["channel"])
			}
		case referral.RouteAnswered:
			answers++
			if rec.Pending[e.ID] {
				t.Error("a route-answered record is in the due index")
			}
		case referral.StatusChanged:
			if e.Data["counted"] == "" {
				t.Errorf("status-changed %s is not marked counted", e.Status)
			}
		case "consent-viewed":
			t.Error("a consent-viewed event was written: the view is counted in its own write")
		}
	}
	if answers != 2 {
		t.Errorf("%d route-answered records, want 2", answers)
	}

	day := w.Now().UTC().Format("2006-01-02")
	span := "?from=" + w.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02") + "&to=" + day
	r := readReport(t, w.Harness, "/v1/admin/outcomes"+span, apptest.AdminToken)
	for _, s := range []string{"received", "contacted", "viewed", "consented", "routed", "accepted", "connected"} {
		if r.Funnel[s] != 1 {
			t.Errorf("funnel %s = %d, want 1 (%v)", s, r.Funnel[s], r.Funnel)
		}
	}
	if e := r.Channels["email"]; e.Sent != 1 {
		t.Errorf("emails sent %d, want the one consent link", e.Sent)
	}
	if notified, accepted := r.group("mission-a"); notified != 1 || accepted != 1 {
		t.Errorf("mission-a: notified %d, accepted %d, want 1 and 1", notified, accepted)
	}
}

// TestLegacyStatusEventCountedOnce: a status change written by a version
// before counts rode in their change's transaction — its status-changed
// event unmarked — is counted by the event's effect, once, however often
// the event is delivered.
func TestLegacyStatusEventCountedOnce(t *testing.T) {
	w := newWorld(t, "")
	id, _ := w.refer(t, "legacy@patient.example")
	ctx := context.Background()
	rec, err := w.App.Referrals.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r := rec.Referral
	r.Status, r.UpdatedAt = referral.Cancelled, w.Now()
	ev := w.App.StatusEvent(r, "cancelled by the clinic")
	// Written as the version before wrote it: the change alone, no counts.
	if err := w.App.Referrals.Apply(ctx, dynamo.Change{Referral: r, Events: []referral.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	span := "?from=" + w.Now().UTC().Format("2006-01-02") + "&to=" + w.Now().UTC().Format("2006-01-02")
	if n := readReport(t, w.Harness, "/v1/admin/outcomes"+span, apptest.AdminToken).Statuses["cancelled"]; n != 1 {
		t.Fatalf("cancelled counted %d times, want 1", n)
	}
	if err := w.App.Referrals.Replay(ctx, ev); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	if n := readReport(t, w.Harness, "/v1/admin/outcomes"+span, apptest.AdminToken).Statuses["cancelled"]; n != 1 {
		t.Errorf("cancelled counted %d times after the event ran again, want 1", n)
	}
}

// TestGroupResponseTimeFromItsNotice: how long a group took to answer is
// measured from when it was notified, whatever
// HANDOFF_GROUP_RESPONSE_TIMEOUT says by the time it answers.
func TestGroupResponseTimeFromItsNotice(t *testing.T) {
	w := newWorld(t, "")
	_, link := w.refer(t, "timed@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	g := w.groupLink(t, w.groups[0], 1)
	// The setting changes while the route waits (it was 48 hours when the
	// group was notified).
	w.App.Config.GroupResponseTimeout = 2 * time.Hour
	w.Advance(10 * time.Hour)
	w.answer(t, g, url.Values{"action": {"accept"}})
	day := w.Now().UTC()
	span := "?from=" + day.AddDate(0, 0, -1).Format("2006-01-02") + "&to=" + day.Format("2006-01-02")
	st, b := outcomes(t, w.Harness, "/v1/admin/outcomes"+span, apptest.AdminToken, "")
	if st != http.StatusOK {
		t.Fatalf("outcomes: %d %s", st, b)
	}
	var r struct {
		Groups []struct {
			GroupID string   `json:"group_id"`
			Median  *float64 `json:"median_response_hours"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	for _, gr := range r.Groups {
		if gr.GroupID == "mission-a" {
			if gr.Median == nil || *gr.Median != 12 {
				t.Errorf("mission-a answered 10 hours after its notice: median %v hours, want the 8–12 hour bucket", gr.Median)
			}
			return
		}
	}
	t.Errorf("no mission-a in %s", b)
}
