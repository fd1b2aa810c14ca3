package apptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/directory"
)

// meetingGuideFeed is a Meeting Guide feed of n groups, one meeting each,
// spread over a few hundred metres of Atlanta; prefix makes their ids.
func meetingGuideFeed(tb testing.TB, prefix string, n int) []byte {
	tb.Helper()
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{
			"slug": fmt.Sprintf("%s-%d", prefix, i), "name": fmt.Sprintf("Meeting %s %d", prefix, i),
			"group_id": fmt.Sprintf("%s-%d", prefix, i), "group": fmt.Sprintf("Group %s %d", prefix, i),
			"day": i % 7, "time": "19:00", "end_time": "20:00", "types": []string{"O"},
			"location":          "Hall " + fmt.Sprint(i),
			"formatted_address": "5881 Old Bascomb Rd, Acworth, GA 30102, USA",
			"latitude":          33.75 + float64(i%100)/10000, "longitude": -84.39 - float64(i/100)/10000,
		}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkImport imports a Meeting Guide feed of n new groups (new), then
// one of n groups imported before (again), through App.ImportGroups against
// the embedded DynamoDB, and reports the DynamoDB calls per group. 1,000
// groups is opt-in (make bench-import): the embedded server slows as its
// table grows, and the run takes minutes.
func BenchmarkImport(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			if n == 1000 && os.Getenv("HANDOFF_BENCH_IMPORT_1K") == "" {
				b.Skip("set HANDOFF_BENCH_IMPORT_1K=1 (with -benchtime 1x; a few minutes) to import 1,000 groups")
			}
			benchImport(b, n)
		})
	}
}

func benchImport(b *testing.B, n int) {
	opt := directory.ImportOptions{Topic: "alcohol", Fellowship: "aa", ContactEmail: "intergroup@aa.example", Source: "bench"}
	h := apptest.New(b)
	ctx := context.Background()
	run := func(b *testing.B, feed func(i int) []byte, wantNew bool) {
		var calls int
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			body := feed(i)
			h.DB.Counter.Reset()
			b.StartTimer()
			r, err := h.App.ImportGroups(ctx, "meeting-guide", body, opt)
			c, _ := h.DB.Counter.Totals()
			calls += c
			if err != nil || len(r.Skipped) != 0 || (wantNew && r.Imported != n) || (!wantNew && r.Updated != n) {
				b.Fatalf("import: %+v %v", r, err)
			}
		}
		b.ReportMetric(float64(calls)/float64(b.N*n), "ddb-calls/group")
	}
	b.Run("new", func(b *testing.B) {
		run(b, func(i int) []byte { return meetingGuideFeed(b, fmt.Sprintf("n%d", i), n) }, true)
	})
	again := meetingGuideFeed(b, "again", n)
	if _, err := h.App.ImportGroups(ctx, "meeting-guide", again, opt); err != nil {
		b.Fatal(err)
	}
	b.Run("again", func(b *testing.B) {
		run(b, func(int) []byte { return again }, false)
	})
}
