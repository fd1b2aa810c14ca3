package dynamo_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/seal"
)

func newStore(t *testing.T) (*dynamo.Referrals, *dynamotest.DB) {
	t.Helper()
	db := dynamotest.New(t)
	k, _, err := seal.NewRandomLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	return &dynamo.Referrals{DB: db.Client, Table: db.Tables.Referrals, Sealer: k, Retention: 90 * 24 * time.Hour}, db
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newReferral(id, webhookID, bodyHash string) dynamo.NewReferral {
	r := &referral.Referral{
		ID: id, ClinicID: "c1", Status: referral.AwaitingConsent, CreatedAt: t0, UpdatedAt: t0,
		Intake: referral.Intake{
			Patient: referral.Patient{GivenName: "Ana", FamilyName: "Diaz", Email: "ana@example.org", Language: "es"},
			Topics:  []string{"alcohol"}, Location: referral.Location{PostalCode: "94110", Geohash: "9q8yy9"},
		},
	}
	return dynamo.NewReferral{
		Referral:    r,
		Idempotency: dynamo.Idempotency{ClinicID: "c1", WebhookID: webhookID, BodyHash: bodyHash, Answer: []byte(`{"id":"` + id + `"}`), At: t0},
		Token:       dynamo.Token{Hash: "h-" + id, Kind: "consent", ReferralID: id, ClinicID: "c1", ExpiresAt: t0.Add(time.Hour)},
		Events: []referral.Event{
			{ID: "E1" + id, Partition: id, ClinicID: "c1", Type: referral.ConsentRequested, At: t0, Due: t0},
			{ID: "E2" + id, Partition: id, ClinicID: "c1", Type: referral.ConsentDeadline, At: t0, Due: t0.Add(time.Hour)},
		},
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	ans, replay, err := s.Create(ctx, newReferral("R1", "w1", "hash-a"))
	if err != nil || replay || string(ans) != `{"id":"R1"}` {
		t.Fatalf("first create: %s %v %v", ans, replay, err)
	}
	db.Counter.Reset()
	// Same webhook id and body, new referral id: the first answer, nothing new.
	ans, replay, err = s.Create(ctx, newReferral("R2", "w1", "hash-a"))
	if err != nil || !replay || string(ans) != `{"id":"R1"}` {
		t.Fatalf("replay: %s %v %v", ans, replay, err)
	}
	if _, err := s.Get(ctx, "R2"); !problem.Is(err, problem.NotFound) {
		t.Fatalf("replay wrote a referral: %v", err)
	}
	// Same webhook id, another body: conflict.
	if _, _, err := s.Create(ctx, newReferral("R3", "w1", "hash-b")); !problem.Is(err, problem.Conflict) {
		t.Fatalf("different body: %v", err)
	}
	r, err := s.Get(ctx, "R1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Patient.GivenName != "Ana" || r.Patient.Email != "ana@example.org" || r.Patient.Language != "es" {
		t.Fatalf("patient did not round-trip: %+v", r.Patient)
	}
}

func TestContactIsSealedAtRest(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	if _, _, err := s.Create(ctx, newReferral("R1", "w1", "h")); err != nil {
		t.Fatal(err)
	}
	raw := dynamotest.Dump(t, db, db.Tables.Referrals)
	for _, secret := range []string{"Ana", "Diaz", "ana@example.org"} {
		if contains(raw, secret) {
			t.Errorf("%q is stored in clear", secret)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestParallelDeliveriesMakeOneReferral(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	answers := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, _, err := s.Create(ctx, newReferral(fmt.Sprintf("R%02d", i), "same", "h"))
			if err != nil {
				errs <- err
				return
			}
			answers <- string(ans)
		}()
	}
	wg.Wait()
	close(errs)
	close(answers)
	for err := range errs {
		t.Errorf("delivery failed: %v", err)
	}
	seen := map[string]bool{}
	for a := range answers {
		seen[a] = true
	}
	if len(seen) != 1 {
		t.Fatalf("deliveries got %d different answers, want 1: %v", len(seen), seen)
	}
	due, err := s.Due(ctx, t0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 {
		t.Fatalf("%d due events, want 1", len(due))
	}
}

func TestApplyChecksVersionAndWritesEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, _, err := s.Create(ctx, newReferral("R1", "w1", "h")); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Get(ctx, "R1")
	b, _ := s.Get(ctx, "R1")
	a.Status = referral.Consented
	ev := referral.Event{ID: "E3", Partition: "R1", Type: referral.StatusChanged, Status: referral.Consented, At: t0, Due: t0}
	done, _, err := s.Event(ctx, "R1", "E1R1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, dynamo.Change{Referral: a, Events: []referral.Event{ev}, Done: &done,
		Routes: []referral.Route{{ReferralID: "R1", Seq: 1, GroupID: "g1", Status: referral.RouteNotified, At: t0}}}); err != nil {
		t.Fatal(err)
	}
	b.Status = referral.Declined
	if err := s.Apply(ctx, dynamo.Change{Referral: b}); !problem.Is(err, problem.Conflict) {
		t.Fatalf("stale write: %v, want conflict", err)
	}
	rec, err := s.Load(ctx, "R1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Referral.Status != referral.Consented || len(rec.Routes) != 1 || len(rec.Events) != 3 {
		t.Fatalf("record: status %s, %d routes, %d events", rec.Referral.Status, len(rec.Routes), len(rec.Events))
	}
	if rec.Pending["E1R1"] || !rec.Pending["E3"] || !rec.Pending["E2R1"] {
		t.Fatalf("pending: %v", rec.Pending)
	}
}

func TestDueRescheduleFinish(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, _, err := s.Create(ctx, newReferral("R1", "w1", "h")); err != nil {
		t.Fatal(err)
	}
	due, _ := s.Due(ctx, t0, 10)
	if len(due) != 1 || due[0].EventID != "E1R1" {
		t.Fatalf("due at t0: %+v", due)
	}
	due, _ = s.Due(ctx, t0.Add(2*time.Hour), 10)
	if len(due) != 2 {
		t.Fatalf("due later: %+v", due)
	}
	ev, pending, err := s.Event(ctx, "R1", "E1R1")
	if err != nil || !pending {
		t.Fatalf("event: %v %v", pending, err)
	}
	if err := s.Reschedule(ctx, ev, t0.Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	if due, _ = s.Due(ctx, t0, 10); len(due) != 0 {
		t.Fatalf("rescheduled event still due: %+v", due)
	}
	if err := s.Finish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, ev); err != nil {
		t.Fatalf("second finish: %v", err)
	}
	if _, pending, _ = s.Event(ctx, "R1", "E1R1"); pending {
		t.Fatal("finished event still pending")
	}
}

func TestClaimLedger(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	tests := []struct {
		name string
		at   time.Time
		do   func()
		want dynamo.ClaimState
	}{
		{"first claim", t0, nil, dynamo.Claimed},
		{"held by another", t0.Add(time.Second), nil, dynamo.Busy},
		{"lease ran out: taken over", t0.Add(3 * time.Minute), nil, dynamo.Claimed},
		{"done", t0.Add(4 * time.Minute), func() {
			if err := s.Complete(ctx, "k", "msg-1"); err != nil {
				t.Fatal(err)
			}
		}, dynamo.AlreadyDone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.do != nil {
				tc.do()
			}
			got, err := s.Claim(ctx, "k", tc.at, 2*time.Minute)
			if err != nil || got != tc.want {
				t.Fatalf("Claim = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if st, _ := s.Claim(ctx, "k2", t0, time.Minute); st != dynamo.Claimed {
		t.Fatal("claim k2")
	}
	if err := s.Release(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Claim(ctx, "k2", t0, time.Minute); st != dynamo.Claimed {
		t.Fatal("released claim could not be taken again")
	}
}

// TestDueReadsEveryShard spreads the events of 40 referrals, each due a
// minute after the one before, over the due index's shards, and checks that
// Due finds them all, and that with a limit it returns the oldest, in order.
func TestDueReadsEveryShard(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	for i := range 40 {
		id := fmt.Sprintf("R%02d", i)
		nr := newReferral(id, "w"+id, "h")
		nr.Events = nr.Events[:1]
		nr.Events[0].Due = t0.Add(time.Duration(i) * time.Minute)
		if _, _, err := s.Create(ctx, nr); err != nil {
			t.Fatal(err)
		}
	}
	shards := map[string]bool{}
	for _, item := range dynamotest.Scan(t, db, db.Tables.Referrals) {
		if pk, ok := item["GSI1PK"].(*types.AttributeValueMemberS); ok {
			shards[pk.Value] = true
		}
	}
	if len(shards) < dynamo.DefaultDueShards/2 {
		t.Errorf("40 referrals' events landed in %d shards: %v", len(shards), shards)
	}
	all, err := s.Due(ctx, t0.Add(time.Hour), 100)
	if err != nil || len(all) != 40 {
		t.Fatalf("Due found %d of 40: %v", len(all), err)
	}
	oldest, err := s.Due(ctx, t0.Add(time.Hour), 5)
	if err != nil || len(oldest) != 5 {
		t.Fatalf("Due with limit 5: %d, %v", len(oldest), err)
	}
	for i, ref := range oldest {
		if want := fmt.Sprintf("R%02d", i); ref.Partition != want || !ref.Due.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("oldest[%d] = %s due %s, want %s due %s", i, ref.Partition, ref.Due, want, t0.Add(time.Duration(i)*time.Minute))
		}
	}
	if due, _ := s.Due(ctx, t0.Add(90*time.Second), 100); len(due) != 2 {
		t.Errorf("due by t0+90s: %d, want 2", len(due))
	}
}
