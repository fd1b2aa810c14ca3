package directory

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/handoff-health/handoff/shared/problem"
)

// seedRows is how many rows of a long feed seed a fuzz target: a large
// seed makes the fuzzer's minimizing of every new input very slow.
const seedRows = 2

// addFeeds seeds a fuzz target with every feed in testdata/<dir> (but
// types.json, a list of type codes) and the feeds more, compacted, long
// arrays cut to their first rows.
func addFeeds(f *testing.F, dir string, add func(feed []byte), more ...string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed feeds in testdata/%s: %v", dir, err)
	}
	paths = append(paths, more...)
	for _, p := range paths {
		if filepath.Base(p) == "types.json" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var rows []json.RawMessage
		if json.Unmarshal(b, &rows) == nil && len(rows) > seedRows {
			if b, err = json.Marshal(rows[:seedRows]); err != nil {
				f.Fatal(err)
			}
		}
		var compact bytes.Buffer
		if json.Compact(&compact, b) == nil {
			b = compact.Bytes()
		}
		add(b)
	}
}

// checkImport holds for any import of any feed: no panic; an error only of
// the documented kinds; every listing valid and normalized; every skip with
// an in-range index and a plain reason; and the same answer every time.
func checkImport(t *testing.T, feed []byte, opt ImportOptions, rows int, run func([]byte, ImportOptions) (Result, error)) Result {
	t.Helper()
	res, err := run(feed, opt)
	if err != nil {
		var pe *problem.Error
		if !asProblem(err, &pe) {
			t.Fatalf("error is not a *problem.Error: %v", err)
		}
		switch pe.Code {
		case problem.Invalid, problem.Malformed, problem.TooLarge:
		default:
			t.Fatalf("unexpected error code %s: %v", pe.Code, err)
		}
		if len(res.Groups) != 0 || len(res.Skipped) != 0 {
			t.Fatalf("an error with a result: %+v", res)
		}
		return res
	}
	for i, g := range res.Groups {
		if g.ID == "" || len(g.ID) > 64 {
			t.Fatalf("group %d has id %q", i, g.ID)
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("group %d (%s) does not validate: %v", i, g.ID, err)
		}
		again := g
		again.Normalize()
		if !reflect.DeepEqual(again, g) {
			t.Fatalf("group %d (%s) is not normalized:\n%+v\n%+v", i, g.ID, g, again)
		}
		if topic := lowerTrim(opt.Topic); topic != "" && !slices.Contains(g.Topics, topic) {
			t.Fatalf("group %d lacks the import's topic %s: %v", i, opt.Topic, g.Topics)
		}
	}
	for _, s := range res.Skipped {
		if s.Index < 0 || s.Index >= rows {
			t.Fatalf("skip index %d out of range (%d rows)", s.Index, rows)
		}
		if s.Reason == "" || !utf8.ValidString(s.Reason) || len(s.Reason) > 300 {
			t.Fatalf("skip reason %q", s.Reason)
		}
	}
	again, err := run(feed, opt)
	if err != nil || !reflect.DeepEqual(again, res) {
		t.Fatalf("a second import of the same feed differs (%v)", err)
	}
	return res
}

func FuzzImportMeetingGuide(f *testing.F) {
	addFeeds(f, "meetings", func(feed []byte) { f.Add(feed, "aa", "") }, sussexFeed, atlantaFeed, edmontonFeed)
	f.Add([]byte(`[{"name":"A","day":1,"time":"19:00","latitude":"39.1","longitude":"-75.5","timezone":"America/New_York","email":"a@b.example"}]`), "", "intergroup@groups.example")
	f.Add([]byte(`[{"name":"A","day":[0,6],"time":"7:00 PM","conference_url":"https://zoom.us/j/1","types":["ONL","S"]}]`), "smart", "x@groups.example")
	f.Add([]byte(`[null, 1, "x", [], {}]`), "", "")
	f.Add([]byte("\xef\xbb\xbf[]"), "na", "")
	f.Fuzz(func(t *testing.T, feed []byte, fellowship, contact string) {
		opt := ImportOptions{Topic: "alcohol", Fellowship: fellowship, ContactEmail: contact}
		var rows []json.RawMessage
		_ = json.Unmarshal(bytes.TrimPrefix(feed, []byte("\xef\xbb\xbf")), &rows)
		res := checkImport(t, feed, opt, len(rows), func(b []byte, o ImportOptions) (Result, error) {
			return ImportMeetingGuide(bytes.NewReader(b), o)
		})
		// A row is skipped at most once, and skips come in row order.
		for i := 1; i < len(res.Skipped); i++ {
			if res.Skipped[i].Index <= res.Skipped[i-1].Index {
				t.Fatalf("skips out of order or repeated: %+v", res.Skipped)
			}
		}
	})
}

func FuzzImportHSDS(f *testing.F) {
	addFeeds(f, "hsds", func(feed []byte) {
		f.Add(feed, "")
		f.Add(feed, "grief")
	})
	f.Add([]byte(`{"contents":[{"id":"s1","name":"Grief group","email":"g@groups.example","service_at_locations":[]}]}`), "grief")
	f.Add([]byte(`[{"service":{"id":"s","name":"N"},"location":{"latitude":1e400}}]`), "")
	f.Add([]byte(`{"name":"Org","services":[{"name":"a"},{"name":"b"}]}`), "cancer")
	f.Add([]byte(`"just a string"`), "")
	f.Fuzz(func(t *testing.T, feed []byte, topic string) {
		opt := ImportOptions{Topic: topic, ContactEmail: "hsds@groups.example"}
		rows, _ := hsdsRows(bytes.TrimPrefix(feed, []byte("\xef\xbb\xbf")))
		checkImport(t, feed, opt, len(rows), func(b []byte, o ImportOptions) (Result, error) {
			return ImportHSDS(bytes.NewReader(b), o)
		})
	})
}
