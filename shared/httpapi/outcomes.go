package httpapi

import (
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/outcomes"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/topics"
)

// outcomeQuery reads from, to (YYYY-MM-DD, UTC; default the last 30 days to
// today), topic and, for the operator, clinic.
func (s *Server) outcomeQuery(r *http.Request, admin bool) (outcomes.Query, error) {
	q := r.URL.Query()
	var fields []problem.FieldError
	today := s.App.Clock().UTC().Truncate(24 * time.Hour)
	out := outcomes.Query{From: today.AddDate(0, 0, -29), To: today}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &out.From}, {"to", &out.To}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		d, err := time.Parse(dynamo.OutcomeDayFormat, v)
		if err != nil {
			fields = append(fields, problem.FieldError{Field: p.name, Detail: "must be a date, YYYY-MM-DD"})
			continue
		}
		*p.dst = d
	}
	if t := q.Get("topic"); t != "" {
		if !topics.Valid(t) {
			fields = append(fields, problem.FieldError{Field: "topic", Detail: "must be a topic code of the published vocabulary"})
		}
		out.Topic = t
	}
	if c := q.Get("clinic"); c != "" {
		if !admin || !app.ValidClinicID(c) {
			fields = append(fields, problem.FieldError{Field: "clinic", Detail: "must be a clinic id (operator only)"})
		}
		out.Clinic = c
	}
	if len(fields) > 0 {
		return out, problem.Invalidf(fields, "The query is not valid.")
	}
	return out, nil
}

func (s *Server) adminOutcomes(w http.ResponseWriter, r *http.Request) {
	q, err := s.outcomeQuery(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := outcomes.New(s.App).Admin(r.Context(), bearer(r), q)
	s.writeOutcomes(w, r, rep, err)
}

func (s *Server) clinicOutcomes(w http.ResponseWriter, r *http.Request) {
	q, err := s.outcomeQuery(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := outcomes.New(s.App).Clinic(r.Context(), r.PathValue("clinic"), bearer(r), q)
	s.writeOutcomes(w, r, rep, err)
}

// writeOutcomes answers JSON, or CSV when the client asks for text/csv.
func (s *Server) writeOutcomes(w http.ResponseWriter, r *http.Request, rep outcomes.Report, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !wantsCSV(r) {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="outcomes-`+rep.From+`-`+rep.To+`.csv"`)
	if err := rep.WriteCSV(w); err != nil {
		s.logFailure(r, "write outcomes CSV", err)
	}
}

// wantsCSV reports whether the client asked for text/csv.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}
