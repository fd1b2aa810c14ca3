package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/referral"
)

// TestUnrecorded: a later status change is held, for one recipient, by the
// earlier pending ones that have not recorded their post to it (claimed or
// never begun), not by those that have, nor by finished ones or other
// types; it learns the latest of their due times, reading one ledger entry
// per earlier pending status change and none when there is none.
func TestUnrecorded(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	status := func(id string, due time.Time) referral.Event {
		return referral.Event{ID: id, Partition: "r1", Type: referral.StatusChanged, At: t0, Due: due}
	}
	e1, e2, e3 := status("01A", t0.Add(time.Hour)), status("01B", t0.Add(2*time.Hour)), status("01C", t0.Add(3*time.Hour))
	other := referral.Event{ID: "01AA", Partition: "r1", Type: referral.GroupNotified, At: t0, Due: t0.Add(9 * time.Hour)}
	finished := status("019", t0.Add(8*time.Hour))
	ev := status("01D", t0)
	rec := &dynamo.Record{Events: []referral.Event{finished, e1, other, e2, e3, ev},
		Pending: map[string]bool{e1.ID: true, other.ID: true, e2.ID: true, e3.ID: true, ev.ID: true}}
	key := func(id string) string { return id + "#callback" }
	// e1 posted to the recipient; e2 is posting (claimed); e3 never began.
	for _, k := range []string{key(e1.ID), key(e2.ID)} {
		if st, err := s.Claim(ctx, k, t0, time.Minute); err != nil || st != dynamo.Claimed {
			t.Fatalf("claim %s: %v %v", k, st, err)
		}
	}
	if err := s.Complete(ctx, key(e1.ID), "204"); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{key(e1.ID): true, key(e2.ID): false, key(e3.ID): false} {
		if got, err := s.Recorded(ctx, k); err != nil || got != want {
			t.Errorf("Recorded(%s) = %v, %v; want %v", k, got, err, want)
		}
	}

	db.Counter.Reset()
	due, held, err := s.Unrecorded(ctx, rec, ev, key)
	if err != nil || !held || !due.Equal(e3.Due) {
		t.Errorf("Unrecorded = %v, %v, %v; want held until e3's due %v", due, held, err, e3.Due)
	}
	if n := db.Counter.Calls("GetItem"); n != 3 {
		t.Errorf("%d ledger reads, want 3 (one per earlier pending status change)", n)
	}
	// Before e2: only e1, which posted there.
	if _, held, err := s.Unrecorded(ctx, rec, e2, key); err != nil || held {
		t.Errorf("e2 held (%v, %v) by e1, which recorded its post", held, err)
	}
	// Another recipient, which e1 never posted to: e1 holds it.
	if due, held, _ := s.Unrecorded(ctx, rec, e2, func(id string) string { return id + "#sub#S1" }); !held || !due.Equal(e1.Due) {
		t.Errorf("e2's post to another recipient: held %v until %v, want held until e1's due", held, due)
	}
	// Nothing earlier is pending: no read at all.
	db.Counter.Reset()
	if _, held, err := s.Unrecorded(ctx, rec, e1, key); err != nil || held || db.Counter.Calls("GetItem") != 0 {
		t.Errorf("the first pending status change: held %v (%v) after %d reads, want free with none", held, err, db.Counter.Calls("GetItem"))
	}
}
