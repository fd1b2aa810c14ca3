package ehrapi

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

// TestLastUpdatedRange: each prefix against the value's precision; no
// prefix is eq; a space in an offset is the + it was.
func TestLastUpdatedRange(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var none time.Time
	for _, c := range []struct {
		in           string
		from, before time.Time
	}{
		{"2026-12-01", at("2026-12-01T00:00:00Z"), at("2026-12-02T00:00:00Z")},
		{"eq2026-12", at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z")},
		{"ge2026", at("2026-01-01T00:00:00Z"), none},
		{"gt2026-12-01", at("2026-12-02T00:00:00Z"), none},
		{"lt2026-12-01T10:00:00Z", none, at("2026-12-01T10:00:00Z")},
		{"le2026-12-01T10:00:00Z", none, at("2026-12-01T10:00:01Z")},
		{"2026-12-01T10:00:00.5Z", at("2026-12-01T10:00:00.5Z"), at("2026-12-01T10:00:00.6Z")},
		{"ge2026-12-01T10:00:00 01:00", at("2026-12-01T09:00:00Z"), none},
		{"ge2026-12-01T10:00:00-05:00", at("2026-12-01T15:00:00Z"), none},
		{"gt2026-12-01T10:00Z", at("2026-12-01T10:01:00Z"), none},
	} {
		from, before, why := lastUpdatedRange(c.in)
		if why != "" || !from.Equal(c.from) || !before.Equal(c.before) {
			t.Errorf("%s: [%v, %v) %q, want [%v, %v)", c.in, from, before, why, c.from, c.before)
		}
	}
	for _, bad := range []string{"ne2026-12-01", "sa2026-12-01", "2026-13-01", "2026-02-30", "2026-12-01T25:00:00Z", "yesterday", "ge", "2026-12-01T10:00:00+15:00"} {
		if _, _, why := lastUpdatedRange(bad); why == "" {
			t.Errorf("%s was taken", bad)
		}
	}
}

// TestTaskSearchOf: repeats are AND, commas OR; every Task status code is
// taken; _count=0 is 1; _format JSON; unknown parameters are named.
func TestTaskSearchOf(t *testing.T) {
	q, _ := url.ParseQuery("_lastUpdated=ge2026-12-01&_lastUpdated=lt2026-12-03&status=received,completed&status=completed,failed&_count=0&_format=application/fhir+json")
	s, fields := taskSearchOf(q)
	if len(fields) > 0 {
		t.Fatalf("refused: %v", fields)
	}
	if !s.From.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || !s.Before.Equal(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("range [%v, %v)", s.From, s.Before)
	}
	if !slices.Equal(s.Statuses, []string{"completed"}) || s.Count != 1 {
		t.Errorf("statuses %v, count %d", s.Statuses, s.Count)
	}
	q, _ = url.ParseQuery("status=completed&status=failed&_id=a,b&_id=b")
	if s, _ := taskSearchOf(q); s.Statuses == nil || len(s.Statuses) != 0 || !slices.Equal(s.IDs, []string{"b"}) {
		t.Errorf("status AND: %v, ids %v", s.Statuses, s.IDs)
	}
	q, _ = url.ParseQuery("status=http://hl7.org/fhir/task-status|on-hold")
	if s, f := taskSearchOf(q); len(f) > 0 || !slices.Equal(s.Statuses, []string{"on-hold"}) {
		t.Errorf("a status with its system: %v %v", s.Statuses, f)
	}
	for _, bad := range []string{"status=done", "_count=101", "_count=-1", "_format=xml", "subject=Patient/1", "status:not=completed", "_lastUpdated=ap2026-12-01"} {
		q, _ := url.ParseQuery(bad)
		if _, f := taskSearchOf(q); len(f) == 0 {
			t.Errorf("%s was taken", bad)
		}
	}
	q, _ = url.ParseQuery("subject=Patient/1&_sort=date")
	if _, f := taskSearchOf(q); len(f) != 2 {
		t.Errorf("unknown parameters: %v, want each named", f)
	}
}
