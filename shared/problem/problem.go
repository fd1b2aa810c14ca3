// Package problem is handoff's one error vocabulary and its one mapping to HTTP.
//
// Code anywhere in handoff returns a *Error with a Code and a message that is
// safe to show to the caller; Write turns any error into an RFC 9457
// application/problem+json response. Errors that are not a *Error are internal:
// they are logged (by the caller) and answered with a generic 500 whose body never
// carries their text.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code names a kind of failure a caller can act on.
type Code string

// The codes handoff answers with, and the HTTP status of each.
const (
	Malformed          Code = "malformed"           // 400: the body could not be parsed
	Unauthorized       Code = "unauthorized"        // 401: bad or missing credentials or signature
	Forbidden          Code = "forbidden"           // 403: refused (e.g. a cross-site form post)
	NotFound           Code = "not-found"           // 404
	MethodNotAllowed   Code = "method-not-allowed"  // 405
	Conflict           Code = "conflict"            // 409: the request clashes with stored state
	Gone               Code = "gone"                // 410: expired
	PreconditionFailed Code = "precondition-failed" // 412: a conditional request's condition does not hold
	TooLarge           Code = "too-large"           // 413
	UnsupportedMedia   Code = "unsupported-media"   // 415
	Invalid            Code = "invalid"             // 422: well-formed but fails validation
	TooManyRequests    Code = "too-many-requests"   // 429
	Internal           Code = "internal"            // 500: never shows its cause
	NotImplemented     Code = "not-implemented"     // 501
	Unavailable        Code = "unavailable"         // 503: a dependency failed; safe to retry
)

var statuses = map[Code]int{
	Malformed:          http.StatusBadRequest,
	Unauthorized:       http.StatusUnauthorized,
	Forbidden:          http.StatusForbidden,
	NotFound:           http.StatusNotFound,
	MethodNotAllowed:   http.StatusMethodNotAllowed,
	Conflict:           http.StatusConflict,
	Gone:               http.StatusGone,
	PreconditionFailed: http.StatusPreconditionFailed,
	TooLarge:           http.StatusRequestEntityTooLarge,
	UnsupportedMedia:   http.StatusUnsupportedMediaType,
	Invalid:            http.StatusUnprocessableEntity,
	TooManyRequests:    http.StatusTooManyRequests,
	Internal:           http.StatusInternalServerError,
	NotImplemented:     http.StatusNotImplemented,
	Unavailable:        http.StatusServiceUnavailable,
}

var titles = map[Code]string{
	Malformed:          "Malformed request",
	Unauthorized:       "Unauthorized",
	Forbidden:          "Forbidden",
	NotFound:           "Not found",
	MethodNotAllowed:   "Method not allowed",
	Conflict:           "Conflict",
	Gone:               "Gone",
	PreconditionFailed: "Precondition failed",
	TooLarge:           "Request too large",
	UnsupportedMedia:   "Unsupported media type",
	Invalid:            "Invalid request",
	TooManyRequests:    "Too many requests",
	Internal:           "Internal error",
	NotImplemented:     "Not implemented",
	Unavailable:        "Service unavailable",
}

// FieldError names one failing field of a request and says how to fix it.
// Field is a dotted JSON path such as "patient.email"; Detail never repeats the
// field's value, which may be personal data.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error is a failure with a code and a message safe to show to the caller.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("%s: %s (%d fields)", e.Code, e.Message, len(e.Fields))
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
// The message is shown to callers: never put personal data or internal error
// text in it.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf returns an Invalid error listing the failing fields.
func Invalidf(fields []FieldError, format string, args ...any) *Error {
	return &Error{Code: Invalid, Message: fmt.Sprintf(format, args...), Fields: fields}
}

// CodeOf returns the code of err: the code of the first *Error in its chain, or
// Internal for any other non-nil error, or "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return CodeOf(err) == code }

// Status returns the HTTP status for a code (500 for an unknown one).
func Status(code Code) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Body is the RFC 9457 problem document handoff answers with.
type Body struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

// TypeURI is the problem type for a code.
func TypeURI(code Code) string { return "urn:handoff:problem:" + string(code) }

// BodyOf builds the problem document for err. An internal error gets a generic
// detail: its own text is never shown.
func BodyOf(err error) Body {
	code := CodeOf(err)
	b := Body{Type: TypeURI(code), Title: titles[code], Status: Status(code)}
	if b.Title == "" {
		b.Title = titles[Internal]
	}
	var e *Error
	if errors.As(err, &e) && code != Internal {
		b.Detail = e.Message
		b.Errors = e.Fields
	} else {
		b.Detail = "The request could not be completed. It is safe to retry."
	}
	return b
}

// Write answers err as application/problem+json.
func Write(w http.ResponseWriter, err error) {
	b := BodyOf(err)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(b.Status)
	_ = json.NewEncoder(w).Encode(b)
}
