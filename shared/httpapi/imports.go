package httpapi

import (
	"net/http"
	"strconv"

	"github.com/handoff-health/handoff/shared/imports"
	"github.com/handoff-health/handoff/shared/problem"
)

// routeImports adds the asynchronous imports: a feed sent in parts becomes
// a job whose progress is read back (see shared/imports).
func (s *Server) routeImports(mux *http.ServeMux) {
	mux.HandleFunc("/v1/admin/imports", s.admin(methods(map[string]http.HandlerFunc{http.MethodPost: s.startImport})))
	mux.HandleFunc("/v1/admin/imports/{id}", s.admin(methods(map[string]http.HandlerFunc{http.MethodGet: s.getImport})))
	mux.HandleFunc("/v1/admin/imports/{id}/parts/{n}", s.admin(methods(map[string]http.HandlerFunc{http.MethodPut: s.addImportPart})))
}

func (s *Server) imports() *imports.Service {
	if s.Imports != nil {
		return s.Imports
	}
	return imports.New(s.App, imports.Options{})
}

// answerImport answers a job's view; a new or changed job with 202.
func answerImport(w http.ResponseWriter, status int, v imports.View) {
	w.Header().Set("Location", v.Links["self"])
	writeJSON(w, status, v)
}

func (s *Server) startImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	parts := 1
	if p := q.Get("parts"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			s.fail(w, r, problem.Invalidf([]problem.FieldError{{Field: "parts", Detail: "must be a whole number"}}, "bad parts"))
			return
		}
		parts = n
	}
	opt, err := importOptions(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readBody(w, r, imports.MaxPartBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	j, err := s.imports().Start(r.Context(), q.Get("format"), opt, parts, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	answerImport(w, http.StatusAccepted, imports.ViewOf(j))
}

func (s *Server) addImportPart(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		s.fail(w, r, problem.Errorf(problem.NotFound, "no such part: parts are numbered from 0"))
		return
	}
	body, err := readBody(w, r, imports.MaxPartBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	j, err := s.imports().AddPart(r.Context(), r.PathValue("id"), n, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	answerImport(w, http.StatusAccepted, imports.ViewOf(j))
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request) {
	j, err := s.imports().Job(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, imports.ViewOf(j))
}
