package dynamo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/referral"
)

// TestPutGroupScheduled: a group stored with a GroupSchedule has one
// pending periodic check named by its LISTING item, written with the group
// in one read and one write; storing it again keeps the schedule; a
// LISTING item a deleted group left is replaced; and a schedule written
// between the read and the write wins, without a second one.
func TestPutGroupScheduled(t *testing.T) {
	ctx := context.Background()
	d, db := newDirectory(t)
	refs := &dynamo.Referrals{DB: db.Client, Table: db.Tables.Referrals, Now: func() time.Time { return dirNow }}
	due := dirNow.Add(90 * 24 * time.Hour)
	n := 0
	event := func(gid string) referral.Event {
		n++
		return referral.Event{ID: fmt.Sprintf("01EVT%03d", n), Partition: dynamo.GroupPartition(gid), Type: referral.ListingCheck,
			At: dirNow, Due: due, Data: map[string]string{"group": gid, "periodic": "1"}}
	}
	var race func(gid string)
	sched := &dynamo.GroupSchedule{Referrals: refs, First: func(gid string) referral.Event {
		if race != nil {
			race(gid)
			race = nil
		}
		return event(gid)
	}}
	// pending checks that gid's LISTING item names want and is its only pending check.
	pending := func(t *testing.T, gid, want string) {
		t.Helper()
		head, err := refs.ListingHead(ctx, dynamo.GroupPartition(gid))
		if err != nil || head != want {
			t.Fatalf("%s: LISTING names %q, want %q (%v)", gid, head, want, err)
		}
		ev, ok, err := refs.Event(ctx, dynamo.GroupPartition(gid), head)
		if err != nil || !ok || !ev.Due.Equal(due) {
			t.Fatalf("%s: check %s pending %v due %s (%v)", gid, head, ok, ev.Due, err)
		}
	}
	// put stores gid and returns the DynamoDB calls it made.
	put := func(t *testing.T, gid string, wantCreated bool) string {
		t.Helper()
		db.Counter.Reset()
		created, err := d.PutGroupScheduled(ctx, grp(gid, loopLat, loopLon), sched)
		if err != nil || created != wantCreated {
			t.Fatalf("put %s: created %v, %v", gid, created, err)
		}
		return fmt.Sprintf("reads %d+%d, writes %d", db.Counter.Calls("TransactGetItems"), db.Counter.Calls("GetItem"), db.Counter.Calls("TransactWriteItems"))
	}

	if calls := put(t, "g1", true); calls != "reads 1+0, writes 1" {
		t.Errorf("a new group: %s", calls)
	}
	pending(t, "g1", "01EVT001")
	if calls := put(t, "g1", false); n != 1 || calls != "reads 1+0, writes 1" {
		t.Errorf("again: %d checks made, %s", n, calls)
	}
	pending(t, "g1", "01EVT001")

	// A group stored before it had a schedule gets one.
	if _, err := d.PutGroup(ctx, grp("g2", loopLat, loopLon)); err != nil {
		t.Fatal(err)
	}
	put(t, "g2", false)
	pending(t, "g2", "01EVT002")

	// The LISTING item of a deleted group is replaced by the new group's.
	stale := event("g3")
	if err := refs.ApplyGroup(ctx, dynamo.GroupChange{Partition: stale.Partition, Next: &stale}); err != nil {
		t.Fatal(err)
	}
	put(t, "g3", true)
	pending(t, "g3", "01EVT004")

	// Another schedule written after the read: the group's write is tried
	// again, and keeps it.
	if _, err := d.PutGroup(ctx, grp("g4", loopLat, loopLon)); err != nil {
		t.Fatal(err)
	}
	race = func(gid string) {
		other := event(gid)
		if err := refs.ApplyGroup(ctx, dynamo.GroupChange{Partition: other.Partition, Next: &other}); err != nil {
			t.Fatal(err)
		}
	}
	// (Three writes: the other schedule's, the one it cancelled, the retry.)
	if calls := put(t, "g4", false); calls != "reads 2+0, writes 3" {
		t.Errorf("after the race: %s", calls)
	}
	pending(t, "g4", "01EVT005")
	g4, err := d.GetGroup(ctx, "g4")
	if err != nil || !g4.UpdatedAt.Equal(dirNow) {
		t.Errorf("g4 after the race: %v %v", g4.UpdatedAt, err)
	}
}
