package smartlaunch

import (
	"errors"
	"net/http"
)

// Code names why a launch failed.
type Code string

// The codes of Error.
const (
	// BadRequest: the launch or callback lacks what it needs (no launch
	// parameter, no code).
	BadRequest Code = "bad-request"
	// BadState: the callback's state is missing, unknown, expired, already
	// used, or was not started in this browser.
	BadState Code = "bad-state"
	// Denied: the EHR refused (an error in the callback, or the token
	// endpoint refused the code).
	Denied Code = "denied"
	// NoPatient: the token response names no patient.
	NoPatient Code = "no-patient"
	// ScopeTooWide: the EHR granted more than handoff asked for.
	ScopeTooWide Code = "scope-too-wide"
	// BadIDToken: no id_token, or one that does not verify (issuer, aud,
	// signature, expiry), or without fhirUser.
	BadIDToken Code = "bad-id-token"
	// Unreachable: the EHR did not answer in time, or could not be reached.
	Unreachable Code = "ehr-unreachable"
	// BadEHR: the EHR answered, but not as SMART or FHIR promise (a broken
	// configuration, a refused or malformed FHIR read), or names a URL
	// handoff may not call.
	BadEHR Code = "ehr-answer"
)

// Error is a launch that could not go on. Its Code is what the error page
// explains (shared/pages.RenderLaunchError); Error() adds the cause, which
// names no patient, token or code and may be logged.
type Error struct {
	Code  Code
	cause string
}

func (e *Error) Error() string {
	if e.cause == "" {
		return "smart launch: " + string(e.Code)
	}
	return "smart launch: " + string(e.Code) + ": " + e.cause
}

// Status is the HTTP status of the error page: 400 for a launch or callback
// that is wrong in itself, 403 when the EHR refused or answered with what
// handoff may not accept, and 424 (a failed dependency) when the EHR could
// not be reached or answered out of spec — never a 5xx: the EHR's trouble is
// not handoff's failure.
func (e *Error) Status() int {
	switch e.Code {
	case BadRequest, BadState:
		return http.StatusBadRequest
	case Denied, NoPatient, ScopeTooWide, BadIDToken:
		return http.StatusForbidden
	}
	return http.StatusFailedDependency
}

// CodeOf returns the Code of a launch error, or "" for another error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func fail(code Code, cause string) *Error {
	return &Error{Code: code, cause: cause}
}
