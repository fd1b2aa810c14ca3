package ehrapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/smart"
)

// The FHIR R4 API under /fhir: application/fhir+json in and out, errors as
// OperationOutcome.

const fhirJSON = "application/fhir+json"

func (s *Server) routeFHIR(mux *http.ServeMux) {
	methods := s.fhirMethods // a method a FHIR route does not take is an OperationOutcome too
	mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		s.fhirFail(w, r, problem.Errorf(problem.NotFound, "handoff serves Task and Subscription (and metadata) under /fhir; %s is not one of them", r.URL.Path))
	})
	mux.HandleFunc("/fhir/metadata", methods(map[string]http.HandlerFunc{http.MethodGet: s.fhirMetadata}))
	mux.HandleFunc("/fhir", methods(map[string]http.HandlerFunc{http.MethodPost: s.fhirWith(smart.Task, smart.Create, s.fhirTransaction)}))
	mux.HandleFunc("/fhir/Task", methods(map[string]http.HandlerFunc{
		http.MethodPost: s.fhirWith(smart.Task, smart.Create, s.fhirCreateTask), http.MethodGet: s.fhirWith(smart.Task, smart.Search, s.fhirSearchTasks),
	}))
	mux.HandleFunc("/fhir/Task/{id}", methods(map[string]http.HandlerFunc{
		http.MethodGet: s.fhirWith(smart.Task, smart.Read, s.fhirReadTask), http.MethodPut: s.fhirWith(smart.Task, smart.Update, s.fhirCancelTask),
	}))
	mux.HandleFunc("/fhir/Subscription", methods(map[string]http.HandlerFunc{http.MethodPost: s.fhirWith(smart.Subscription, smart.Create, s.fhirCreateSubscription)}))
	mux.HandleFunc("/fhir/Subscription/{id}", methods(map[string]http.HandlerFunc{
		http.MethodGet: s.fhirWith(smart.Subscription, smart.Read, s.fhirReadSubscription), http.MethodPut: s.fhirWith(smart.Subscription, smart.Update, s.fhirUpdateSubscription),
	}))
	mux.HandleFunc("/fhir/Subscription/{id}/{op}", methods(map[string]http.HandlerFunc{
		http.MethodGet: s.fhirWith(smart.Subscription, smart.Read, s.fhirSubscriptionStatus), http.MethodPost: s.fhirWith(smart.Subscription, smart.Read, s.fhirSubscriptionStatus),
	}))
}

// fhirMethods is methods for a FHIR route: a method it does not take is a
// 405 OperationOutcome.
func (s *Server) fhirMethods(m map[string]http.HandlerFunc) http.HandlerFunc {
	return httpapi.MethodsWith(m, s.fhirFail)
}

// fhirHandler is a FHIR handler given the request's checked grant.
type fhirHandler func(w http.ResponseWriter, r *http.Request, g smart.Grant)

// fhirWith checks the access token for a permission on a resource before h
// runs: 401 without a valid token, 403 without a scope for it.
func (s *Server) fhirWith(resource string, permission rune, h fhirHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g, err := s.Access.Check(r.Context(), httpapi.Bearer(r))
		if err == nil && !g.Allows(resource, permission) {
			err = problem.Errorf(problem.Forbidden, "the access token's scopes do not allow this: it needs the %q permission on %s (%s)",
				string(permission), resource, strings.Join(smart.ScopesFor(resource, permission), " or "))
		}
		if err != nil {
			s.fhirFail(w, r, err)
			return
		}
		h(w, r, g)
	}
}

// fhirAnswer writes a resource with 200, or the error as an OperationOutcome.
func (s *Server) fhirAnswer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	writeFHIR(w, http.StatusOK, v)
}

func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", fhirJSON+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fhirFail answers an error as an OperationOutcome with the problem's status.
func (s *Server) fhirFail(w http.ResponseWriter, r *http.Request, err error) {
	err = s.http.Failure(w, r, err, "FHIR request failed")
	code := problem.CodeOf(err)
	// RFC 6750 §3: no error code when the request had no token at all.
	switch {
	case code == problem.Unauthorized && httpapi.Bearer(r) == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="handoff"`)
	case code == problem.Unauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="handoff", error="invalid_token"`)
	case code == problem.Forbidden && httpapi.Bearer(r) != "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="handoff", error="insufficient_scope"`)
	}
	writeFHIR(w, problem.Status(code), fhir.OutcomeOf(err))
}

func (s *Server) fhirMetadata(w http.ResponseWriter, _ *http.Request) {
	writeFHIR(w, http.StatusOK, s.EHR.Capabilities())
}

// fhirBody reads a FHIR JSON body.
func (s *Server) fhirBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	if ct != fhirJSON && ct != "application/json" {
		return nil, problem.Errorf(problem.UnsupportedMedia, "send application/fhir+json")
	}
	return httpapi.ReadBody(w, r, intake.MaxBody)
}

// fhirCreate reads a Task create once (a Task, or a transaction Bundle on
// the base) and hands the use case what it read.
func (s *Server) fhirCreate(w http.ResponseWriter, r *http.Request, g smart.Grant, transaction bool) {
	body, err := s.fhirBody(w, r)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	tc, err := intake.ReadTask(body, r.Header.Get("If-None-Exist"), transaction)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	created, err := s.EHR.CreateTask(r.Context(), g.ClinicID, tc)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created.Created {
		status = http.StatusOK // the conditional create found it
	}
	if transaction {
		writeFHIR(w, http.StatusOK, fhir.TransactionResponse(s.EHR.Base(), tc.Entries, created.Task, created.Created))
		return
	}
	w.Header().Set("Location", s.EHR.Base()+"/Task/"+created.Task.ID)
	writeFHIR(w, status, created.Task)
}

func (s *Server) fhirCreateTask(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	s.fhirCreate(w, r, g, false)
}

func (s *Server) fhirTransaction(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	s.fhirCreate(w, r, g, true)
}

func (s *Server) fhirReadTask(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	t, err := s.EHR.ReadTask(r.Context(), g.ClinicID, r.PathValue("id"))
	if err == nil {
		// The version as an ETag, and its time as Last-Modified (FHIR's read).
		w.Header().Set("ETag", `W/"`+t.Meta.VersionID+`"`)
		if at, perr := time.Parse(time.RFC3339Nano, t.Meta.LastUpdated); perr == nil {
			w.Header().Set("Last-Modified", at.UTC().Format(http.TimeFormat))
		}
	}
	s.fhirAnswer(w, r, t, err)
}

func (s *Server) fhirCancelTask(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	body, err := s.fhirBody(w, r)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	if err := fhir.TaskCancel(body, r.PathValue("id")); err != nil {
		s.fhirFail(w, r, err)
		return
	}
	t, err := s.EHR.CancelTask(r.Context(), g.ClinicID, r.PathValue("id"))
	s.fhirAnswer(w, r, t, err)
}

// subscriptionBody reads a Subscription a client sends.
func (s *Server) subscriptionBody(w http.ResponseWriter, r *http.Request) (fhir.SubscriptionRequest, error) {
	body, err := s.fhirBody(w, r)
	if err != nil {
		return fhir.SubscriptionRequest{}, err
	}
	return fhir.ReadSubscription(body)
}

func (s *Server) fhirCreateSubscription(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	req, err := s.subscriptionBody(w, r)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	sub, err := s.EHR.CreateSubscription(r.Context(), g.ClinicID, g.Allows(smart.Task, smart.Read), req)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	w.Header().Set("Location", s.EHR.Base()+"/Subscription/"+sub.ID)
	writeFHIR(w, http.StatusCreated, sub)
}

func (s *Server) fhirReadSubscription(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	sub, err := s.EHR.ReadSubscription(r.Context(), g.ClinicID, r.PathValue("id"))
	s.fhirAnswer(w, r, sub, err)
}

func (s *Server) fhirUpdateSubscription(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	req, err := s.subscriptionBody(w, r)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	sub, err := s.EHR.UpdateSubscription(r.Context(), g.ClinicID, g.Allows(smart.Task, smart.Read), r.PathValue("id"), req)
	s.fhirAnswer(w, r, sub, err)
}

func (s *Server) fhirSubscriptionStatus(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	if r.PathValue("op") != "$status" {
		s.fhirFail(w, r, problem.Errorf(problem.NotFound, "no such operation"))
		return
	}
	b, err := s.EHR.SubscriptionStatus(r.Context(), g.ClinicID, r.PathValue("id"))
	s.fhirAnswer(w, r, b, err)
}
