package ehrapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
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

// fhirCodes maps handoff's problem codes to OperationOutcome issue codes.
var fhirCodes = map[problem.Code]string{
	problem.Malformed: "structure", problem.Unauthorized: "login", problem.Forbidden: "forbidden",
	problem.NotFound: "not-found", problem.MethodNotAllowed: "not-supported", problem.Conflict: "conflict",
	problem.TooLarge: "too-costly", problem.UnsupportedMedia: "not-supported", problem.Invalid: "invalid",
	problem.Unavailable: "transient", problem.Internal: "exception", problem.PreconditionFailed: "multiple-matches",
}

// fhirFail answers an error as an OperationOutcome with the problem's status.
func (s *Server) fhirFail(w http.ResponseWriter, r *http.Request, err error) {
	err = s.http.Failure(w, r, err, "FHIR request failed")
	code := problem.CodeOf(err)
	body := problem.BodyOf(err)
	issueCode, ok := fhirCodes[code]
	if !ok {
		issueCode = "processing" // an OperationOutcome issue always has a code
	}
	issues := []map[string]any{}
	for _, f := range body.Errors {
		issues = append(issues, map[string]any{"severity": "error", "code": issueCode, "diagnostics": f.Detail, "expression": []string{f.Field}})
	}
	if len(issues) == 0 {
		issues = append(issues, map[string]any{"severity": "error", "code": issueCode, "diagnostics": body.Detail})
	}
	// RFC 6750 §3: no error code when the request had no token at all.
	switch {
	case code == problem.Unauthorized && httpapi.Bearer(r) == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="handoff"`)
	case code == problem.Unauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="handoff", error="invalid_token"`)
	case code == problem.Forbidden && httpapi.Bearer(r) != "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="handoff", error="insufficient_scope"`)
	}
	writeFHIR(w, problem.Status(code), map[string]any{"resourceType": "OperationOutcome", "issue": issues})
}

func (s *Server) fhirMetadata(w http.ResponseWriter, r *http.Request) {
	writeFHIR(w, http.StatusOK, s.App.CapabilityStatement())
}

// fhirBody reads a FHIR JSON body.
func (s *Server) fhirBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	if ct != fhirJSON && ct != "application/json" {
		return nil, problem.Errorf(problem.UnsupportedMedia, "send application/fhir+json")
	}
	return httpapi.ReadBody(w, r, intake.MaxBody)
}

func (s *Server) fhirCreate(w http.ResponseWriter, r *http.Request, g smart.Grant, transaction bool) {
	body, err := s.fhirBody(w, r)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	var head struct{ ResourceType string }
	if json.Unmarshal(body, &head) == nil && (head.ResourceType == "Bundle") != transaction {
		s.fhirFail(w, r, problem.Invalidf([]problem.FieldError{{Field: "resourceType",
			Detail: "post a Task to /fhir/Task, a transaction Bundle to /fhir"}}, "The resource is not one this endpoint takes."))
		return
	}
	created, err := s.App.CreateTask(r.Context(), g.ClinicID, body, r.Header.Get("If-None-Exist"))
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created.Created {
		status = http.StatusOK // the conditional create found it
	}
	if transaction {
		writeFHIR(w, http.StatusOK, s.transactionResponse(created, status))
		return
	}
	w.Header().Set("Location", s.App.Config.PublicURL+"/fhir/Task/"+created.ID)
	writeFHIR(w, status, created.Task)
}

// resourceType is what a FHIR resource type looks like (a transaction's
// other entries are named in its answer only when they do).
var resourceType = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

// transactionResponse answers each request entry in order: the Task's with
// its status, location and the Task; the others with 200 and an outcome
// saying that handoff keeps no such resource (intake took from it what the
// referral needs).
func (s *Server) transactionResponse(created app.TaskCreated, status int) map[string]any {
	entries := []any{}
	for _, kind := range created.Entries {
		if kind == "Task" {
			meta, _ := created.Task["meta"].(map[string]any)
			entries = append(entries, map[string]any{
				"fullUrl": s.App.Config.PublicURL + "/fhir/Task/" + created.ID, "resource": created.Task,
				"response": map[string]any{
					"status": map[int]string{201: "201 Created", 200: "200 OK"}[status], "location": "Task/" + created.ID,
					"etag": `W/"` + fmt.Sprint(meta["versionId"]) + `"`, "lastModified": meta["lastUpdated"],
				},
			})
			continue
		}
		what := "the entry's resource"
		if resourceType.MatchString(kind) {
			what = "the " + kind
		}
		entries = append(entries, map[string]any{"response": map[string]any{
			"status": "200 OK",
			"outcome": map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{
				"severity": "information", "code": "informational",
				"diagnostics": "handoff does not keep " + what + " as a resource: the referral of Task/" + created.ID +
					" holds only what it needs of it (codes become topics and are dropped; notes are ignored)",
			}}},
		}})
	}
	return map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
}

func (s *Server) fhirCreateTask(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	s.fhirCreate(w, r, g, false)
}

func (s *Server) fhirTransaction(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	s.fhirCreate(w, r, g, true)
}

func (s *Server) fhirReadTask(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	t, err := s.App.ReadTask(r.Context(), g.ClinicID, r.PathValue("id"))
	if meta, ok := t["meta"].(map[string]any); ok && err == nil {
		// The version as an ETag, and its time as Last-Modified (FHIR's read).
		w.Header().Set("ETag", `W/"`+fmt.Sprint(meta["versionId"])+`"`)
		if at, perr := time.Parse(time.RFC3339Nano, fmt.Sprint(meta["lastUpdated"])); perr == nil {
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
	t, err := s.App.CancelTask(r.Context(), g.ClinicID, r.PathValue("id"), body)
	s.fhirAnswer(w, r, t, err)
}

func (s *Server) fhirCreateSubscription(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	body, err := s.fhirBody(w, r)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	sub, err := s.App.CreateSubscription(r.Context(), g.ClinicID, g.Allows(smart.Task, smart.Read), body)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	w.Header().Set("Location", s.App.Config.PublicURL+"/fhir/Subscription/"+sub["id"].(string))
	writeFHIR(w, http.StatusCreated, sub)
}

func (s *Server) fhirReadSubscription(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	sub, err := s.App.ReadSubscription(r.Context(), g.ClinicID, r.PathValue("id"))
	s.fhirAnswer(w, r, sub, err)
}

func (s *Server) fhirUpdateSubscription(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	body, err := s.fhirBody(w, r)
	if err != nil {
		s.fhirFail(w, r, err)
		return
	}
	sub, err := s.App.UpdateSubscription(r.Context(), g.ClinicID, g.Allows(smart.Task, smart.Read), r.PathValue("id"), body)
	s.fhirAnswer(w, r, sub, err)
}

func (s *Server) fhirSubscriptionStatus(w http.ResponseWriter, r *http.Request, g smart.Grant) {
	if r.PathValue("op") != "$status" {
		s.fhirFail(w, r, problem.Errorf(problem.NotFound, "no such operation"))
		return
	}
	b, err := s.App.SubscriptionStatus(r.Context(), g.ClinicID, r.PathValue("id"))
	s.fhirAnswer(w, r, b, err)
}
