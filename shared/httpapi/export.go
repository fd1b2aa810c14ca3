package httpapi

import "net/http"

// What HTTP adapters beside this one (shared/ehrapi) share with it, so that
// every route reads bodies, checks methods and answers failures alike.

// Methods routes one path by method, answering 405 problem+json otherwise.
func Methods(m map[string]http.HandlerFunc) http.HandlerFunc { return methods(m) }

// MethodsWith is Methods answering a method it does not take with refuse.
func MethodsWith(m map[string]http.HandlerFunc, refuse func(http.ResponseWriter, *http.Request, error)) http.HandlerFunc {
	return methodsWith(m, refuse)
}

// ReadBody reads a request body of at most limit bytes. Errors:
// problem.TooLarge, problem.Malformed.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return readBody(w, r, limit)
}

// DecodeJSON decodes a strict application/json body (64 KiB at most, no
// unknown fields) into v. Errors: problem.UnsupportedMedia,
// problem.TooLarge, problem.Malformed, problem.Invalid.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error { return decodeJSON(w, r, v) }

// Bearer returns the token of an "Authorization: Bearer" header.
func Bearer(r *http.Request) string { return bearer(r) }

// WriteJSON answers v as application/json, not to be stored.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// Fail answers err as problem+json, logging internal errors by id only.
func (s *Server) Fail(w http.ResponseWriter, r *http.Request, err error) { s.fail(w, r, err) }

// Failure logs an internal or unavailable error and gives the error to
// answer instead (a dependency's failure becomes a 503, with Retry-After
// set); any other error is returned as it is. msg names what failed, in
// the log.
func (s *Server) Failure(w http.ResponseWriter, r *http.Request, err error, msg string) error {
	return s.ourFailure(w, r, err, msg)
}

// RequireAdmin runs next only for a request with the operator's bearer
// token, answering 401 problem+json otherwise.
func (s *Server) RequireAdmin(next http.HandlerFunc) http.HandlerFunc { return s.admin(next) }

// ClinicCookie is the name of the clinic's pages' session cookie (Path
// /clinic): a SMART launch's callback signs a clinician in with it.
const ClinicCookie = clinicCookie

// PageError answers err as a plain page, logging internal errors by id
// only (see the clinic's pages).
func (s *Server) PageError(w http.ResponseWriter, r *http.Request, err error) { s.pageError(w, r, err) }

// SecureCookies reports whether cookies are Secure: the stack is served
// over https.
func (s *Server) SecureCookies() bool { return s.secureCookies() }
