// Package httpapi is handoff's HTTP surface as plain net/http handlers: the
// clinic API, the admin API, and the patient and group pages. Each Lambda
// serves its part through shared/apigw; the local stack serves them all.
// Handlers translate requests into calls on shared/app and the use-case
// packages beside it (shared/listing, shared/outcomes, shared/meeting,
// shared/room) and map results and errors back; they decide nothing.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/smithy-go"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/imports"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/room"
)

// maxAPIBody bounds JSON request bodies other than imports.
const maxAPIBody = 64 << 10

// Server holds what the handlers need.
type Server struct {
	App *app.App
	Log *slog.Logger
	// Imports are the asynchronous imports (nil: over App, with the
	// default options).
	Imports *imports.Service
	// Room is the clinic's pages' use cases: staff (the admin API and the
	// operator's page), sessions, and the pages themselves (Clinic). Nil in
	// a function that serves none of them.
	Room *room.Room
}

// methods routes one path by method, answering 405 problem+json otherwise.
func methods(m map[string]http.HandlerFunc) http.HandlerFunc {
	return methodsWith(m, func(w http.ResponseWriter, _ *http.Request, err error) { problem.Write(w, err) })
}

// methodsWith is methods answering a method it does not take with refuse.
func methodsWith(m map[string]http.HandlerFunc, refuse func(http.ResponseWriter, *http.Request, error)) http.HandlerFunc {
	allowed := make([]string, 0, len(m))
	for k := range m {
		allowed = append(allowed, k)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if h, ok := m[r.Method]; ok {
			h(w, r)
			return
		}
		if r.Method == http.MethodHead {
			if h, ok := m[http.MethodGet]; ok {
				h(w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		refuse(w, r, problem.Errorf(problem.MethodNotAllowed, "%s is not allowed here", r.Method))
	}
}

// fail answers err as problem+json, logging internal errors by id only.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	problem.Write(w, s.ourFailure(w, r, err, "request failed"))
}

// ourFailure logs an internal or unavailable error (by id only) and gives
// the error to answer instead, with Retry-After when it is worth retrying;
// any other error is returned as it is.
func (s *Server) ourFailure(w http.ResponseWriter, r *http.Request, err error, msg string) error {
	if code := problem.CodeOf(err); code == problem.Internal || code == problem.Unavailable {
		s.logFailure(r, msg, err)
		err = classify(err)
		if problem.Is(err, problem.Unavailable) {
			w.Header().Set("Retry-After", "1")
		}
	}
	return err
}

// errDependency answers a failure of a service handoff depends on.
var errDependency = problem.Errorf(problem.Unavailable,
	"a service handoff depends on did not answer; nothing was changed and it is safe to retry")

// classify turns a failure of an outside service (an AWS call that failed
// after the SDK's retries, a network error, a timeout) into Unavailable: the
// request did nothing and may be sent again as it is (a referral with the same
// webhook-id is not duplicated).
func classify(err error) error {
	if problem.CodeOf(err) != problem.Internal {
		return err
	}
	var op *smithy.OperationError
	var ne net.Error
	if errors.As(err, &op) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return errDependency
	}
	return err
}

// routeOf is the request's route pattern, never its path (paths carry tokens).
func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, problem.Errorf(problem.TooLarge, "the body is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, problem.Errorf(problem.Malformed, "the body could not be read")
	}
	return b, nil
}

// decodeJSON decodes a strict JSON body into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return problem.Errorf(problem.UnsupportedMedia, "send application/json")
	}
	b, err := readBody(w, r, maxAPIBody)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return problem.Errorf(problem.Malformed, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute):
			return problem.Invalidf([]problem.FieldError{{Field: ute.Field, Detail: "has the wrong type"}}, "the body does not match the expected shape")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return problem.Invalidf([]problem.FieldError{{Field: f, Detail: "is not a known field"}}, "the body has an unknown field")
		}
		return problem.Errorf(problem.Malformed, "the body is not valid JSON")
	}
	if dec.More() {
		return problem.Errorf(problem.Malformed, "the body has data after the JSON value")
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// notFound answers unknown API paths.
func notFound(w http.ResponseWriter, _ *http.Request) {
	problem.Write(w, problem.Errorf(problem.NotFound, "no such endpoint; see the API documentation"))
}

func jsonEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }

// logFailure logs a failed request: at ERROR, unless the client went away
// first (its context was cancelled), which is not a fault of handoff's.
func (s *Server) logFailure(r *http.Request, msg string, err error) {
	if r.Context().Err() != nil {
		s.Log.InfoContext(context.WithoutCancel(r.Context()), "client went away", "route", routeOf(r))
		return
	}
	s.Log.ErrorContext(r.Context(), msg, "route", routeOf(r), "error", err.Error())
}
