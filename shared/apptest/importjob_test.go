package apptest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/imports"
)

// jobView is what GET /v1/admin/imports/{id} answers.
type jobView struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Parts         int    `json:"parts"`
	PartsReceived int    `json:"parts_received"`
	GroupsTotal   int    `json:"groups_total"`
	GroupsDone    int    `json:"groups_done"`
	Imported      int    `json:"imported"`
	Updated       int    `json:"updated"`
	SkippedCount  int    `json:"skipped_count"`
	Skipped       []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"skipped"`
	WithdrawnCount   int      `json:"withdrawn_count"`
	Withdrawn        []string `json:"withdrawn"`
	InferredTimezone *struct {
		Timezone string `json:"timezone"`
		Rows     []int  `json:"rows"`
	} `json:"inferred_timezone"`
	Error string `json:"error"`
}

// adminRaw sends an admin request with a raw body.
func adminRaw(h *apptest.Harness, method, path string, body []byte) (int, []byte) {
	h.T.Helper()
	st, _, b := h.Do(method, path, body, http.Header{"Authorization": {"Bearer " + apptest.AdminToken}, "Content-Type": {"application/json"}})
	return st, b
}

func readJob(t testing.TB, h *apptest.Harness, st int, b []byte, want int) jobView {
	t.Helper()
	if st != want {
		t.Fatalf("status %d, want %d: %s", st, want, b)
	}
	var v jobView
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// sendFeed starts an import of feed in parts of at most size bytes and
// sends every part; it returns the job as the last part left it.
func sendFeed(t testing.TB, h *apptest.Harness, query string, feed []byte, size int) jobView {
	t.Helper()
	var parts [][]byte
	for len(feed) > size {
		parts, feed = append(parts, feed[:size]), feed[size:]
	}
	parts = append(parts, feed)
	st, b := adminRaw(h, http.MethodPost, fmt.Sprintf("/v1/admin/imports?%s&parts=%d", query, len(parts)), parts[0])
	v := readJob(t, h, st, b, http.StatusAccepted)
	for i := len(parts) - 1; i >= 1; i-- { // any order
		st, b := adminRaw(h, http.MethodPut, fmt.Sprintf("/v1/admin/imports/%s/parts/%d", v.ID, i), parts[i])
		v = readJob(t, h, st, b, http.StatusAccepted)
	}
	return v
}

// runJob sweeps until job id is done or failed, and returns the groups done
// after each sweep.
func runJob(t testing.TB, h *apptest.Harness, id string) (jobView, []int) {
	t.Helper()
	var progress []int
	for range 10000 {
		if _, err := h.Dispatcher.Sweep(h.SweepContext()); err != nil {
			t.Fatalf("sweep: %v", err)
		}
		st, b := h.Admin(http.MethodGet, "/v1/admin/imports/"+id, nil)
		v := readJob(t, h, st, b, http.StatusOK)
		progress = append(progress, v.GroupsDone)
		if v.Status == "done" || v.Status == "failed" {
			return v, progress
		}
	}
	t.Fatal("the import never finished")
	return jobView{}, nil
}

// TestImportJob: a feed sent in parts, in any order, becomes a job: the
// last part's request reads it into chunks, and the dispatcher stores them
// chunk by chunk, the progress readable after each; it stores what the synchronous import stores; a named feed sent
// again withdraws what it dropped; the feed and its chunks are deleted once
// used; a zone given to meetings that named none is reported; bad requests get their 4xx, an unreadable feed fails the job with
// the reason.
func TestImportJob(t *testing.T) {
	h := apptest.New(t)
	// Chunks of a few groups, so that one import is several chunk events.
	h.Imports.ChunkBytes = 2 << 10
	const query = "format=meeting-guide&topic=alcohol&fellowship=aa&contact_email=intergroup%40aa.example&source=job-aa"
	feed := meetingGuideFeed(t, "job", 30)

	v := sendFeed(t, h, query, feed, len(feed)/3+1)
	if v.Status != "running" || v.Parts != 3 || v.PartsReceived != 3 || v.GroupsTotal != 30 || v.GroupsDone != 0 {
		t.Fatalf("after every part: %+v", v)
	}
	if st, b := adminRaw(h, http.MethodPut, "/v1/admin/imports/"+v.ID+"/parts/1", []byte("a part again")); st != http.StatusAccepted ||
		readJob(t, h, st, b, http.StatusAccepted).Status != "running" {
		t.Fatalf("a part sent again: %d %s", st, b)
	}
	done, progress := runJob(t, h, v.ID)
	if done.Status != "done" || done.GroupsTotal != 30 || done.GroupsDone != 30 || done.Imported != 30 || done.Updated != 0 || done.SkippedCount != 0 {
		t.Fatalf("done: %+v", done)
	}
	steps := 0
	for i := 1; i < len(progress); i++ {
		if progress[i] < progress[i-1] {
			t.Fatalf("progress went back: %v", progress)
		}
		if progress[i] > progress[i-1] && progress[i] < 30 {
			steps++
		}
	}
	if steps < 2 {
		t.Errorf("progress %v: want the groups stored over several chunks", progress)
	}
	// The groups are those the synchronous import reads from the feed.
	want, err := directory.Import("meeting-guide", bytes.NewReader(feed), directory.ImportOptions{
		Topic: "alcohol", Fellowship: "aa", ContactEmail: "intergroup@aa.example", Source: "job-aa"})
	if err != nil || len(want.Groups) != 30 {
		t.Fatalf("read the feed: %d groups, %v", len(want.Groups), err)
	}
	for _, g := range want.Groups {
		if st, b := h.Admin(http.MethodGet, "/v1/admin/groups/"+g.ID, nil); st != http.StatusOK || !strings.Contains(string(b), `"source":"job-aa"`) {
			t.Fatalf("imported group %s: %d %s", g.ID, st, b)
		}
	}

	// The same feed, without its last ten groups: twenty updated, ten
	// withdrawn.
	var rows []json.RawMessage
	if err := json.Unmarshal(feed, &rows); err != nil {
		t.Fatal(err)
	}
	fewer, _ := json.Marshal(rows[:20])
	v = sendFeed(t, h, query, fewer, 1<<20)
	again, _ := runJob(t, h, v.ID)
	if again.Status != "done" || again.Updated != 20 || again.Imported != 0 || again.WithdrawnCount != 10 || len(again.Withdrawn) != 10 {
		t.Fatalf("again: %+v", again)
	}
	for _, item := range dynamotest.Scan(t, h.DB, h.DB.Tables.Referrals) {
		if sk := fmt.Sprint(item["SK"]); strings.Contains(sk, "RAW#") || strings.Contains(sk, "CHUNK#") {
			t.Fatalf("an import's data is left in the table: %s", sk)
		}
	}

	// An unreadable feed fails its job when its last part comes, saying
	// where, not what.
	failed := sendFeed(t, h, query, []byte(`[{"name": "x"`), 8)
	if failed.Status != "failed" || failed.Error == "" || strings.Contains(failed.Error, `"name"`) {
		t.Fatalf("unreadable feed: %+v", failed)
	}

	// A meeting whose row names no zone takes the one the located
	// meetings keep, and the job says so, as the synchronous import does.
	zoned := sendFeed(t, h, "format=meeting-guide&topic=alcohol&contact_email=intergroup%40aa.example&source=job-zone", []byte(`[
	 {"name": "Zone Group", "slug": "zone-hall", "day": 2, "time": "19:00", "address": "1 Valencia St", "state": "CA",
	  "postal_code": "94103", "latitude": 37.77, "longitude": -122.42},
	 {"name": "Zone Online", "slug": "zone-online", "day": 3, "time": "19:00", "conference_url": "https://meet.example/z"}]`), 1<<20)
	zoned, _ = runJob(t, h, zoned.ID)
	if z := zoned.InferredTimezone; zoned.Imported != 2 || z == nil || z.Timezone != "America/Los_Angeles" || len(z.Rows) != 1 || z.Rows[0] != 1 {
		t.Errorf("inferred zone: %+v (%+v)", zoned, z)
	}
	if v.InferredTimezone != nil {
		t.Errorf("a feed whose rows all name a place: inferred %+v", v.InferredTimezone)
	}

	for _, tc := range []struct {
		name, method, path string
		body               []byte
		want               int
	}{
		{"unknown topic", http.MethodPost, "/v1/admin/imports?format=meeting-guide&topic=nope", []byte("[]"), http.StatusUnprocessableEntity},
		{"unknown format", http.MethodPost, "/v1/admin/imports?format=csv&topic=alcohol", []byte("[]"), http.StatusUnprocessableEntity},
		{"too many parts", http.MethodPost, "/v1/admin/imports?" + query + "&parts=99", []byte("[]"), http.StatusUnprocessableEntity},
		{"withdraw without a source", http.MethodPost, "/v1/admin/imports?format=meeting-guide&topic=alcohol&withdraw_missing=true", []byte("[]"), http.StatusUnprocessableEntity},
		{"a part over 5 MiB", http.MethodPost, "/v1/admin/imports?" + query + "&parts=2", bytes.Repeat([]byte(" "), imports.MaxPartBytes+1), http.StatusRequestEntityTooLarge},
		{"a part of a done import", http.MethodPut, "/v1/admin/imports/" + done.ID + "/parts/0", []byte("[]"), http.StatusAccepted},
		{"no such part", http.MethodPut, "/v1/admin/imports/" + done.ID + "/parts/3", []byte("[]"), http.StatusUnprocessableEntity},
		{"a part that is not a number", http.MethodPut, "/v1/admin/imports/" + done.ID + "/parts/x", []byte("[]"), http.StatusNotFound},
		{"unknown import", http.MethodGet, "/v1/admin/imports/01jzzzzzzzzzzzzzzzzzzzzzzz", nil, http.StatusNotFound},
		{"not an import id", http.MethodGet, "/v1/admin/imports/..%2Fclinics", nil, http.StatusNotFound},
	} {
		st, b := adminRaw(h, tc.method, tc.path, tc.body)
		if st != tc.want {
			t.Errorf("%s: %d, want %d: %.200s", tc.name, st, tc.want, b)
		}
	}
	if st, _, _ := h.Do(http.MethodGet, "/v1/admin/imports/"+done.ID, nil, nil); st != http.StatusUnauthorized {
		t.Errorf("without the admin token: %d", st)
	}
}

// BenchmarkImportJob imports a Meeting Guide feed of n new groups as an
// asynchronous job, through the HTTP API (parts of 4 MiB, as `handoff
// import` sends them) and the dispatcher's sweeps, against the embedded
// DynamoDB, and reports the time and the DynamoDB calls per group and by
// operation. 10,000 groups is opt-in (make bench-import-10k): the embedded
// server slows as its table grows.
func BenchmarkImportJob(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			if n == 10000 && os.Getenv("HANDOFF_BENCH_IMPORT_10K") == "" {
				b.Skip("set HANDOFF_BENCH_IMPORT_10K=1 (with -benchtime 1x; many minutes) to import 10,000 groups")
			}
			h := apptest.New(b)
			// The embedded server keeps stale due-index entries; one shard
			// keeps the sweeps' reads small (as BenchmarkDispatch does).
			h.App.Referrals.DueShards = 1
			feed := meetingGuideFeed(b, "bench", n)
			const query = "format=meeting-guide&topic=alcohol&fellowship=aa&contact_email=intergroup%40aa.example&source=bench"
			for i := 0; b.Loop(); i++ {
				h.DB.Counter.Reset()
				start := time.Now()
				v := sendFeed(b, h, query, feed, 4<<20)
				sent := time.Since(start)
				sendCalls, _ := h.DB.Counter.Totals()
				done, progress := runJob(b, h, v.ID)
				if done.Status != "done" || done.Imported+done.Updated != n {
					b.Fatalf("import: %+v", done)
				}
				calls, items := h.DB.Counter.Totals()
				b.ReportMetric(float64(calls)/float64(n), "ddb-calls/group")
				b.ReportMetric(float64(items)/float64(n), "items-read/group")
				b.Logf("%d groups (%d bytes, %d parts): sent in %v (%d calls), stored in %v over %d sweeps; DynamoDB %s",
					n, len(feed), v.Parts, sent.Round(time.Millisecond), sendCalls, time.Since(start).Round(time.Millisecond), len(progress), h.DB.Counter)
			}
		})
	}
}
