package httpapi

import (
	"mime"
	"net/http"
	"strings"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/problem"
)

// Intake returns the clinic API's handler.
func (s *Server) Intake() http.Handler {
	mux := http.NewServeMux()
	s.routeIntake(mux)
	mux.HandleFunc("/", notFound)
	return mux
}

func (s *Server) routeIntake(mux *http.ServeMux) {
	mux.HandleFunc("/v1/clinics/{clinic}/referrals", methods(map[string]http.HandlerFunc{http.MethodPost: s.postReferral}))
	mux.HandleFunc("/v1/clinics/{clinic}/referrals/{id}", methods(map[string]http.HandlerFunc{
		http.MethodGet: s.getReferral, http.MethodDelete: s.deleteReferral,
	}))
	mux.HandleFunc("/v1/clinics/{clinic}/outcomes", methods(map[string]http.HandlerFunc{http.MethodGet: s.clinicOutcomes}))
}

func (s *Server) postReferral(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, intake.MaxBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	answer, err := s.App.SubmitReferral(r.Context(), app.Delivery{
		ClinicID: r.PathValue("clinic"), Header: r.Header, ContentType: r.Header.Get("Content-Type"), Body: body,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(answer)
}

func (s *Server) getReferral(w http.ResponseWriter, r *http.Request) {
	clinic := r.PathValue("clinic")
	if err := s.App.CheckClinicKey(r.Context(), clinic, bearer(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	rec, err := s.App.ClinicReferral(r.Context(), clinic, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if wantsFHIR(r) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Header().Set("Cache-Control", "no-store")
		writeJSONBody(w, fhir.TaskOf(rec.Referral, rec.Routes, rec.Events))
		return
	}
	writeJSON(w, http.StatusOK, app.StatusViewOf(rec))
}

// deleteReferral is the clinic API's cancel: the one cancel of the core,
// and a referral cancelled before is a 409, as any closed one (the FHIR
// API answers that one as an update to the state it has).
func (s *Server) deleteReferral(w http.ResponseWriter, r *http.Request) {
	clinic := r.PathValue("clinic")
	if err := s.App.CheckClinicKey(r.Context(), clinic, bearer(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	rec, already, err := s.App.CancelReferral(r.Context(), clinic, r.PathValue("id"))
	if err == nil && already {
		err = problem.Errorf(problem.Conflict, "the referral is %s and can no longer be cancelled", rec.Referral.Status)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, app.StatusViewOf(rec))
}

// wantsFHIR reports whether the client asked for application/fhir+json.
func wantsFHIR(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/fhir+json" {
			return true
		}
	}
	return false
}

func writeJSONBody(w http.ResponseWriter, v any) {
	w.WriteHeader(http.StatusOK)
	_ = jsonEncoder(w).Encode(v)
}
