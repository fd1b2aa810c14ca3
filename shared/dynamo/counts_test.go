package dynamo_test

import (
	"context"
	"testing"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/referral"
)

// outcome reads one counter of one scope on t0's day.
func outcome(t *testing.T, s *dynamo.Referrals, scope, counter string) int64 {
	t.Helper()
	items, err := s.Outcomes(context.Background(), t0, t0, scope)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Scope == scope {
			return it.Counters[counter]
		}
	}
	return 0
}

// TestCountsRideInTheirWrite: counts go in the transaction of the change
// they count — a new referral, a change, a ledger entry turning done — and
// count once: a repeated intake, a stale change and a second record add
// nothing. A record (an event written done) never enters the due index.
func TestCountsRideInTheirWrite(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	counts := func(counter string) *dynamo.Counts {
		c := dynamo.NewCounts(t0)
		c.Add("C#c1", counter, 1)
		c.Add("C#c1#T#alcohol", counter, 1)
		return c
	}
	n := newReferral("R1", "w1", "h")
	n.Counts = counts("received")
	for range 2 { // the second delivery is a replay: nothing written
		if _, _, err := s.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if got := outcome(t, s, "C#c1", "received"); got != 1 {
		t.Errorf("received %d after a delivery and its replay, want 1", got)
	}
	if got := outcome(t, s, "C#c1#T#alcohol", "received"); got != 1 {
		t.Errorf("the topic's received %d, want 1", got)
	}

	a, _ := s.Get(ctx, "R1")
	stale, _ := s.Get(ctx, "R1")
	a.Status = referral.Consented
	rec := referral.Event{ID: "E9", Partition: "R1", Type: referral.RouteAnswered, At: t0}
	if err := s.Apply(ctx, dynamo.Change{Referral: a, Counts: counts("consented"), Records: []referral.Event{rec}}); err != nil {
		t.Fatal(err)
	}
	stale.Status = referral.Declined
	if err := s.Apply(ctx, dynamo.Change{Referral: stale, Counts: counts("declined")}); err == nil {
		t.Fatal("a stale change was written")
	}
	if c, d := outcome(t, s, "C#c1", "consented"), outcome(t, s, "C#c1", "declined"); c != 1 || d != 0 {
		t.Errorf("consented %d, declined %d; want 1 and 0 (the stale change counts nothing)", c, d)
	}
	if _, pending, err := s.Event(ctx, "R1", "E9"); err != nil || pending {
		t.Errorf("the record: pending %v, %v; want written done", pending, err)
	}

	if st, err := s.Claim(ctx, "E1R1#email", t0, 0); err != nil || st != dynamo.Claimed {
		t.Fatalf("claim: %v %v", st, err)
	}
	for i, want := range []bool{true, false} {
		counted, err := s.CompleteCounting(ctx, "E1R1#email", "msg-1", counts("email_sent"))
		if err != nil || counted != want {
			t.Errorf("record %d: counted %v, %v; want %v", i+1, counted, err, want)
		}
	}
	if got := outcome(t, s, "C#c1", "email_sent"); got != 1 {
		t.Errorf("email_sent %d after recording twice, want 1", got)
	}
	if st, _ := s.Claim(ctx, "E1R1#email", t0, 0); st != dynamo.AlreadyDone {
		t.Errorf("the ledger entry after CompleteCounting: %v, want done", st)
	}
}
