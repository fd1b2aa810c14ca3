package apptest_test

import (
	"fmt"
	"net/http"
	"net/url"
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

// BenchmarkDispatch times the dispatcher per event, through the embedded
// DynamoDB and the SES emulator: the events one accepted referral makes
// (match the groups for the consent page, email the patient) and the events
// a confirmation makes (route, email each chosen group, tell the clinic).
// Each op is one referral's events; the metrics divide by the events run.
func BenchmarkDispatch(b *testing.B) {
	b.Run("after-intake", func(b *testing.B) {
		w := newWorld(b, "")
		benchSweeps(b, w, func(i int) {
			if st, out := w.Refer(w.clinic, "application/json", referralFor(fmt.Sprintf("p%d@example.org", i), "Diaz")); st != http.StatusAccepted {
				b.Fatalf("refer: %d %s", st, out)
			}
		})
	})
	b.Run("after-confirm", func(b *testing.B) {
		w := newWorld(b, "")
		benchSweeps(b, w, func(i int) {
			_, link := w.refer(b, fmt.Sprintf("p%d@example.org", i))
			st, loc := w.Form(link, url.Values{"action": {"confirm"}, "mode": {"introduce"}, "groups": {"mission-a", "mission-b"}})
			if st != http.StatusSeeOther {
				b.Fatalf("confirm: %d %s", st, loc)
			}
		})
	})
}

// benchSweeps runs prepare(i) untimed, then times the sweeps that run every
// event it left due, and reports per event.
func benchSweeps(b *testing.B, w *world, prepare func(i int)) {
	b.Helper()
	// The sweeps here stand in for the stream, which delivers each event
	// once; read one due-index shard, as the local stack does, so that the
	// embedded server's stale index entries (it keeps an event's entry after
	// the event is rewritten without it) are not read eight times a sweep.
	w.App.Referrals.DueShards = 1
	ctx := w.SweepContext()
	var events int
	var calls, items int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		prepare(i)
		w.DB.Counter.Reset()
		b.StartTimer()
		for {
			st, err := w.Dispatcher.Sweep(ctx)
			if err != nil || st.Failed > 0 {
				b.Fatalf("sweep: %+v %v", st, err)
			}
			if st.Ran == 0 {
				break
			}
			events += st.Ran
		}
		b.StopTimer()
		c, n := w.DB.Counter.Totals()
		calls, items = calls+c, items+n
		b.StartTimer()
	}
	if events == 0 {
		b.Fatal("no event ran")
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(float64(calls)/float64(events), "ddb-calls/event")
	b.ReportMetric(float64(items)/float64(events), "ddb-items-read/event")
}
