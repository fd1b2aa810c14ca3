package apptest_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
)

// BenchmarkIntake sends signed referrals through the HTTP handler to the
// embedded DynamoDB and reports the DynamoDB calls and items read per
// accepted referral (the clinic is cached after the first).
func BenchmarkIntake(b *testing.B) {
	h := apptest.New(b)
	c := h.NewClinic("lakeside", "")
	body := []byte(nativeReferral)
	if st, out := h.ReferAs(c, "warm-up", "application/json", body); st != http.StatusAccepted {
		b.Fatalf("%d %s", st, out)
	}
	h.DB.Counter.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if st, out := h.ReferAs(c, fmt.Sprintf("bench-%d", i), "application/json", body); st != http.StatusAccepted {
			b.Fatalf("%d %s", st, out)
		}
	}
	b.StopTimer()
	calls, items := h.DB.Counter.Totals()
	b.ReportMetric(float64(calls)/float64(b.N), "ddb-calls/op")
	b.ReportMetric(float64(items)/float64(b.N), "ddb-items-read/op")
	b.ReportMetric(float64(h.DB.Counter.Calls("TransactWriteItems"))/float64(b.N), "ddb-writes/op")
}
