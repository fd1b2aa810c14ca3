package ehrapi

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/ehr"
	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/smart"
)

// The Task search's parameters, read per the FHIR R4 search rules: a
// repeated parameter is AND, a comma list within one is OR.

const taskStatusSystem = "http://hl7.org/fhir/task-status"

// taskSearchParams are the parameters a Task search takes (_cursor is the
// next link's own).
var taskSearchParams = []string{"_lastUpdated", "status", "_id", "_count", "_format", "_cursor"}

func (s *Server) fhirSearchTasks(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	q := r.URL.Query()
	search, fields := taskSearchOf(q)
	if len(fields) > 0 {
		s.fhirFail(w, r, problem.Invalidf(fields, "The search is not valid."))
		return
	}
	self := func(cursor string) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "_cursor" {
				v[k] = vs
			}
		}
		if cursor != "" {
			v.Set("_cursor", cursor)
		}
		return s.App.Config.PublicURL + "/fhir/Task?" + v.Encode()
	}
	b, err := s.EHR.SearchTasks(r.Context(), g.ClinicID, search, self)
	s.fhirAnswer(w, r, b, err)
}

// taskSearchOf reads a Task search's query, or says what is wrong with it.
func taskSearchOf(q url.Values) (ehr.TaskSearch, []problem.FieldError) {
	var fields []problem.FieldError
	bad := func(field, detail string) { fields = append(fields, problem.FieldError{Field: field, Detail: detail}) }
	search := ehr.TaskSearch{Count: 20, Cursor: q.Get("_cursor")}
	for _, v := range q["_lastUpdated"] {
		from, before, err := lastUpdatedRange(v)
		if err != "" {
			bad("_lastUpdated", err)
			continue
		}
		if from.After(search.From) {
			search.From = from
		}
		if !before.IsZero() && (search.Before.IsZero() || before.Before(search.Before)) {
			search.Before = before
		}
	}
	for _, v := range q["status"] {
		var anyOf []string // one parameter: any of its codes
		for _, code := range strings.Split(v, ",") {
			if system, c, ok := strings.Cut(code, "|"); ok && (system == "" || system == taskStatusSystem) {
				code = c
			}
			if !slices.Contains(fhir.TaskStatuses, code) {
				bad("status", "must be Task status codes ("+strings.Join(fhir.TaskStatuses, ", ")+"), a comma list for any of them")
				break
			}
			anyOf = append(anyOf, code)
		}
		search.Statuses = intersect(search.Statuses, anyOf)
	}
	for _, v := range q["_id"] {
		search.IDs = intersect(search.IDs, strings.Split(v, ","))
		if len(search.IDs) > 100 {
			bad("_id", "at most 100 ids")
		}
	}
	if vs := q["_count"]; len(vs) > 0 {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 0 || n > 100 || len(vs) > 1 {
			bad("_count", "must be one number, 1 to 100 (0 is taken as 1)")
		}
		search.Count = max(n, 1)
	}
	for _, v := range q["_format"] {
		// An unencoded + arrives as a space.
		if f := strings.ReplaceAll(v, " ", "+"); !slices.Contains([]string{"json", "application/json", fhirJSON}, f) {
			bad("_format", "handoff answers only JSON (json, application/fhir+json)")
		}
	}
	for name := range q {
		if !slices.Contains(taskSearchParams, name) {
			bad(name, "is not a search parameter handoff supports (_lastUpdated, status, _id, _count, _format)")
		}
	}
	return search, fields
}

// intersect is the values in both; the first time (have nil), want.
func intersect(have, want []string) []string {
	if have == nil {
		return append([]string{}, want...)
	}
	out := []string{}
	for _, v := range have {
		if slices.Contains(want, v) {
			out = append(out, v)
		}
	}
	return out
}

// fhirDate is a FHIR date, dateTime or instant: a year, a month, a day, or a
// time to the minute, second or fraction of one, with an offset (UTC when a
// time has none).
var fhirDate = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// lastUpdatedRange reads one _lastUpdated value: a prefix (gt, ge, lt, le,
// eq; none is eq) and a date whose precision makes a range. It returns the
// instants it allows, [from, before) (before zero: no end), or what is wrong.
func lastUpdatedRange(v string) (from, before time.Time, why string) {
	prefix := "eq"
	if len(v) >= 2 && v[0] >= 'a' && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
	}
	if !slices.Contains([]string{"eq", "gt", "ge", "lt", "le"}, prefix) {
		return from, before, "takes the prefixes gt, ge, lt, le and eq (none is eq)"
	}
	lo, hi, ok := dateRange(strings.ReplaceAll(v, " ", "+")) // an unencoded + arrives as a space
	if !ok {
		return from, before, "must be a date (2026-12-01) or an instant (2026-12-01T09:30:00Z, 2026-12-01T09:30:00+01:00), after a prefix"
	}
	switch prefix {
	case "eq":
		return lo, hi, ""
	case "gt":
		return hi, before, ""
	case "ge":
		return lo, before, ""
	case "lt":
		return from, lo, ""
	}
	return from, hi, "" // le
}

// dateRange is the range of instants a FHIR date stands for, [lo, hi).
func dateRange(v string) (lo, hi time.Time, ok bool) {
	m := fhirDate.FindStringSubmatch(v)
	if m == nil {
		return lo, hi, false
	}
	n := func(i, empty int) int {
		if m[i] == "" {
			return empty
		}
		x, _ := strconv.Atoi(m[i])
		return x
	}
	year, month, day, hour, minute, sec := n(1, 0), n(2, 1), n(3, 1), n(4, 0), n(5, 0), n(6, 0)
	loc := time.UTC
	if off := m[8]; off != "" && off != "Z" {
		h, _ := strconv.Atoi(off[1:3])
		mins, _ := strconv.Atoi(off[4:6])
		secs := (h*60 + mins) * 60
		if off[0] == '-' {
			secs = -secs
		}
		if h > 14 || mins > 59 {
			return lo, hi, false
		}
		loc = time.FixedZone(off, secs)
	}
	nanos, unit := 0, time.Duration(0)
	if frac := m[7]; frac != "" {
		nanos, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		unit = time.Duration(1)
		for range 9 - len(frac) {
			unit *= 10
		}
	}
	lo = time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc)
	if lo.Month() != time.Month(month) || lo.Day() != day || lo.Hour() != hour || lo.Minute() != minute || lo.Second() != sec || month < 1 {
		return lo, hi, false // out of range: 2026-02-30, 25:00
	}
	switch {
	case m[2] == "":
		hi = lo.AddDate(1, 0, 0)
	case m[3] == "":
		hi = lo.AddDate(0, 1, 0)
	case m[4] == "":
		hi = lo.AddDate(0, 0, 1)
	case m[6] == "":
		hi = lo.Add(time.Minute)
	case unit == 0:
		hi = lo.Add(time.Second)
	default:
		hi = lo.Add(unit)
	}
	return lo.UTC(), hi.UTC(), true
}
