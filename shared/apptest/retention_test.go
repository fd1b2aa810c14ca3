package apptest_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/config"
)

// TestRetention: once a referral closes, every item it left (referral, routes,
// events, link tokens) gets a TTL HANDOFF_RETENTION later, and reads treat it
// as gone when the TTL has passed, before DynamoDB deletes it.
func TestRetention(t *testing.T) {
	w := newWorld(t, "", func(c *config.Config) { c.Retention = 30 * 24 * time.Hour })
	id, link := w.refer(t, "r1@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	g := w.groupLink(t, w.groups[0], 1)
	w.answer(t, g, formAction("accept"))
	w.answer(t, g, formAction("connected"))
	closedAt := w.Now()

	out, err := w.DB.Client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(w.DB.Tables.Referrals)})
	if err != nil {
		t.Fatal(err)
	}
	want := closedAt.Add(30 * 24 * time.Hour).Unix()
	var ours int
	for _, item := range out.Items {
		pk := item["PK"].(*types.AttributeValueMemberS).Value
		if pk != "REF#"+id && !strings.HasPrefix(pk, "TOK#") {
			continue
		}
		ours++
		n, ok := item["expires_at"].(*types.AttributeValueMemberN)
		if !ok {
			t.Errorf("%s %s has no TTL", pk, item["SK"].(*types.AttributeValueMemberS).Value)
			continue
		}
		ttl, _ := strconv.ParseInt(n.Value, 10, 64)
		if ttl < want-60 || ttl > want+60 {
			t.Errorf("%s TTL %d, want about %d", pk, ttl, want)
		}
	}
	if ours < 8 {
		t.Fatalf("only %d items of the referral found", ours)
	}
	w.Advance(29 * 24 * time.Hour)
	if v := w.Status(w.clinic, id); v.Status != "connected" {
		t.Fatalf("before the TTL: %s", v.Status)
	}
	w.Advance(2 * 24 * time.Hour)
	st, _, _ := w.Do(http.MethodGet, "/v1/clinics/lakeside/referrals/"+id, nil, http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}})
	if st != http.StatusNotFound {
		t.Fatalf("after the TTL the referral reads as %d, want 404", st)
	}
	if st, _, _ := w.Do(http.MethodGet, link, nil, nil); st != http.StatusNotFound {
		t.Fatalf("after the TTL the consent link answers %d, want 404", st)
	}
}

// TestRevokeDeletesContact: revoking removes the sealed contact fields at once.
func TestRevokeDeletesContact(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "r2@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	if st, _ := w.Form(link, formAction("revoke")); st != http.StatusSeeOther {
		t.Fatalf("revoke: %d", st)
	}
	r, err := w.App.Referrals.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Patient.Email != "" || r.Patient.Phone != "" {
		t.Fatal("the contact fields are still stored after revoking")
	}
}

func formAction(action string) map[string][]string { return map[string][]string{"action": {action}} }
