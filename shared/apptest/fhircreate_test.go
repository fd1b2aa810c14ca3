package apptest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// deliveryRecords counts the webhook delivery records (IDEM items) kept.
func deliveryRecords(t *testing.T, w *world) int {
	n := 0
	for _, item := range dynamotest.Scan(t, w.DB, w.DB.Tables.Referrals) {
		if pk, ok := item["PK"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "IDEM#") {
			n++
		}
	}
	return n
}

// TestFHIRCreateWritesOnce: a plain Task create (the clinic in the core's
// cache, as the token request put it there) is one TransactWriteItems and
// no read, and keeps no webhook delivery record, which a signed webhook's
// referral does: a FHIR create is never a replay of a webhook.
func TestFHIRCreateWritesOnce(t *testing.T) {
	w := newWorld(t, "")
	w.refer(t, "webhook@patient.example")
	before := deliveryRecords(t, w)
	if before != 1 {
		t.Fatalf("%d delivery records after a webhook referral, want 1", before)
	}
	tok := w.fhirToken(t, newEHR(t), "lakeside", "system/Task.cru")
	metered := dynamotest.Client(w.DB.URL, w.DB.Counter.Middleware())
	w.App.Referrals.DB, w.App.Clinics.DB = metered, metered
	w.DB.Counter.Reset()
	if st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("once@patient.example", "ORD-O"), nil); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, task)
	}
	if got := callCounts(w); got != "TransactWriteItems 1" {
		t.Errorf("a plain create made %s, want one TransactWriteItems and nothing else", got)
	}
	if n := deliveryRecords(t, w); n != before {
		t.Errorf("%d delivery records after a FHIR create, want %d (none written)", n, before)
	}
}
