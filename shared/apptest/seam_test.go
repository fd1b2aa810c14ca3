package apptest_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/referral"
)

// TestEffectsAddedBesideTheCore: an effect a package beside shared/app adds
// with Handle runs through the one dispatcher and ledger (once, however often
// the sweeper passes), and a status hook added with OnStatus hears each
// status change of a referral once.
func TestEffectsAddedBesideTheCore(t *testing.T) {
	w := newWorld(t, "")
	ctx := context.Background()
	var (
		mu       sync.Mutex
		ran      []string
		statuses []referral.Status
	)
	const custom referral.EventType = "test-effect"
	w.App.Handle(custom, func(ctx context.Context, ev referral.Event) error {
		mu.Lock()
		ran = append(ran, ev.Data["n"])
		mu.Unlock()
		return w.App.Referrals.Finish(ctx, ev)
	})
	w.App.OnStatus(func(_ context.Context, rec *dynamo.Record, ev referral.Event) error {
		mu.Lock()
		statuses = append(statuses, ev.Status)
		mu.Unlock()
		return nil
	})

	now := w.Now()
	ev := referral.Event{ID: app.NewID(now), Partition: dynamo.GroupPartition("mission-a"), Type: custom, At: now, Due: now, Data: map[string]string{"n": "1"}}
	if err := w.App.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: ev.Partition, Events: []referral.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	w.Settle()
	if len(ran) != 1 || ran[0] != "1" {
		t.Errorf("the added effect ran %v, want once with its data", ran)
	}

	_, link := w.refer(t, "seam@example.org")
	w.confirm(t, link, "introduce", w.groups[0].ID)
	w.answer(t, w.groupLink(t, w.groups[0], 1), url.Values{"action": {"accept"}})
	w.Settle()
	want := []referral.Status{referral.AwaitingConsent, referral.Consented, referral.Routed, referral.Accepted}
	if len(statuses) != len(want) {
		t.Fatalf("status hook heard %v, want %v", statuses, want)
	}
	for i := range want {
		if statuses[i] != want[i] {
			t.Errorf("status hook heard %v, want %v", statuses, want)
			break
		}
	}
}
