package dynamo_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/problem"
)

// A launch state is taken once: the second take, a take after expiry and a
// take of a state never kept are all NotFound, and it carries a TTL.
func TestLaunchStateIsTakenOnce(t *testing.T) {
	db := dynamotest.New(t)
	s := &dynamo.Referrals{DB: db.Client, Table: db.Tables.Referrals}
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	if err := s.PutLaunchState(ctx, "h1", []byte("record"), now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLaunchState(ctx, "h1", []byte("other"), now.Add(10*time.Minute)); !problem.Is(err, problem.Conflict) {
		t.Errorf("second put = %v, want Conflict", err)
	}
	for _, item := range dynamotest.Scan(t, db, db.Tables.Referrals) {
		if _, ok := item["expires_at"]; !ok {
			t.Errorf("launch state without expires_at: %v", item)
		}
	}
	db.Counter.Reset()
	rec, err := s.TakeLaunchState(ctx, "h1", now)
	if err != nil || string(rec) != "record" {
		t.Fatalf("take = %q, %v", rec, err)
	}
	if db.Counter.String() != "DeleteItem=1/0" {
		t.Errorf("a take costs %s, want one DeleteItem", db.Counter)
	}
	if _, err := s.TakeLaunchState(ctx, "h1", now); !problem.Is(err, problem.NotFound) {
		t.Errorf("second take = %v, want NotFound", err)
	}
	if _, err := s.TakeLaunchState(ctx, "never", now); !problem.Is(err, problem.NotFound) {
		t.Errorf("take of an unknown state = %v, want NotFound", err)
	}
	if err := s.PutLaunchState(ctx, "h2", []byte("r"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeLaunchState(ctx, "h2", now.Add(2*time.Minute)); !problem.Is(err, problem.NotFound) {
		t.Errorf("take after expiry = %v, want NotFound", err)
	}
}

// Racing takes of one state: exactly one gets it.
func TestLaunchStateRace(t *testing.T) {
	db := dynamotest.New(t)
	s := &dynamo.Referrals{DB: db.Client, Table: db.Tables.Referrals}
	ctx := context.Background()
	now := time.Now()
	if err := s.PutLaunchState(ctx, "race", []byte("r"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.TakeLaunchState(ctx, "race", now); err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d takes won, want 1", wins.Load())
	}
}

// A CDS Hooks jti is seen once per client, in DynamoDB with a TTL.
func TestSeenHookJTI(t *testing.T) {
	db := dynamotest.New(t)
	s := &dynamo.Referrals{DB: db.Client, Table: db.Tables.Referrals}
	ctx := context.Background()
	exp := time.Now().Add(5 * time.Minute)
	for _, c := range []struct {
		client, jti string
		seen        bool
	}{
		{"clinic-a", "j1", false},
		{"clinic-a", "j1", true},
		{"clinic-b", "j1", false},
		{"clinic-a", "j2", false},
		{"clinic-a1", "", false}, // concatenated, this pair and the next are alike: they must not collide
		{"clinic-a", "1", false},
	} {
		seen, err := s.SeenHookJTI(ctx, c.client, c.jti, exp)
		if err != nil || seen != c.seen {
			t.Errorf("SeenHookJTI(%q, %q) = %v, %v; want %v", c.client, c.jti, seen, err, c.seen)
		}
	}
	for _, item := range dynamotest.Scan(t, db, db.Tables.Referrals) {
		if _, ok := item["expires_at"]; !ok {
			t.Errorf("jti record without expires_at: %v", item)
		}
	}
}
