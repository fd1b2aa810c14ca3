package dynamo_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// listed makes a referral of clinic from source, created at.
func listed(id, clinic, source string, at time.Time) dynamo.NewReferral {
	n := newReferral(id, "w-"+id, "h")
	n.Referral.ClinicID, n.Referral.Source, n.Referral.CreatedAt, n.Referral.UpdatedAt = clinic, source, at, at
	n.Idempotency.ClinicID, n.Token.ClinicID = clinic, clinic
	for i := range n.Events {
		n.Events[i].ClinicID = clinic
	}
	return n
}

// A clinic's list holds every referral of the clinic however it came — a
// webhook, a FHIR Task, its pages — newest first, 50 a page, and none of
// another clinic's. A page costs one Query (50 keys) and one BatchGetItem
// (50 referrals); a FHIR Task keeps its Task search entry.
func TestClinicReferralsListsEverySource(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	sources := []string{"", "fhir", referral.SourceClinicPages}
	var want []string
	for i := range 120 {
		id := fmt.Sprintf("R%03d", i)
		if _, _, err := s.Create(ctx, listed(id, "c1", sources[i%3], t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
		want = append([]string{id}, want...) // newest first
		if i%10 == 0 {
			if _, _, err := s.Create(ctx, listed(fmt.Sprintf("O%03d", i), "c2", sources[i%3], t0.Add(time.Duration(i)*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	before := ""
	for p := 0; ; p++ {
		db.Counter.Reset()
		page, err := s.ClinicReferrals(ctx, "c1", before, 50)
		if err != nil {
			t.Fatal(err)
		}
		calls, items := db.Counter.Totals()
		t.Logf("page %d: %d referrals, %s (%d calls, %d items read)", p+1, len(page.Referrals), db.Counter, calls, items)
		if len(page.Referrals) == 50 && (db.Counter.Calls("Query") != 1 || db.Counter.Calls("BatchGetItem") != 1 || calls != 2 || items != 100) {
			t.Errorf("a full page costs %s, want one Query and one BatchGetItem reading 100 items", db.Counter)
		}
		for _, r := range page.Referrals {
			if r.ClinicID != "c1" || r.Patient.GivenName != "Ana" {
				t.Errorf("listed %s of %s named %q", r.ID, r.ClinicID, r.Patient.GivenName)
			}
			got = append(got, r.ID)
		}
		if page.Before == "" {
			break
		}
		before = page.Before
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d referrals %v…, want %d newest first %v…", len(got), got[:min(5, len(got))], len(want), want[:5])
	}
	tasks, err := s.SearchTasks(ctx, "c1", time.Time{}, time.Time{}, 100, "")
	if err != nil || len(tasks.IDs) != 40 {
		t.Errorf("the Task search finds %d FHIR Tasks (%v), want 40", len(tasks.IDs), err)
	}
}

// A page key that this did not give is refused; a list of no referral is
// an empty page.
func TestClinicReferralsBadPage(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		before string
	}{
		{name: "no separator", before: "20261125"},
		{name: "not a time", before: "yesterday#R1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.ClinicReferrals(ctx, "c1", tc.before, 50); !problem.Is(err, problem.Invalid) {
				t.Errorf("before %q: %v, want Invalid", tc.before, err)
			}
		})
	}
	page, err := s.ClinicReferrals(ctx, "nobody", "", 50)
	if err != nil || len(page.Referrals) != 0 || page.Before != "" {
		t.Errorf("an empty list: %+v, %v", page, err)
	}
}

// A FHIR-created referral's list entry lives in its partition and expires
// with it: after ExpireReferral every item of the referral has a TTL, and
// once that passes the list no longer shows it.
func TestClinicListEntryExpiresWithTheReferral(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	if _, _, err := s.Create(ctx, listed("R1", "c1", "fhir", t0)); err != nil {
		t.Fatal(err)
	}
	ttl := t0.Add(time.Hour).Unix()
	if err := s.ExpireReferral(ctx, "R1", ttl, nil); err != nil {
		t.Fatal(err)
	}
	var entries int
	for _, item := range dynamotest.Scan(t, db, db.Tables.Referrals) {
		pk, _ := item["PK"].(*types.AttributeValueMemberS)
		sk, _ := item["SK"].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil || pk.Value != "REF#R1" {
			continue
		}
		if sk.Value == "LIST" {
			entries++
		}
		if _, ok := item["expires_at"]; !ok {
			t.Errorf("item %s of the referral has no TTL", sk.Value)
		}
	}
	if entries != 1 {
		t.Errorf("%d list items of a FHIR-created referral, want 1", entries)
	}
	s.Now = func() time.Time { return time.Unix(ttl+1, 0) }
	page, err := s.ClinicReferrals(ctx, "c1", "", 50)
	if err != nil || len(page.Referrals) != 0 {
		t.Errorf("after its TTL the list shows %d referrals (%v)", len(page.Referrals), err)
	}
}
