package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/handoff-health/handoff/shared/app"
)

// token is the SMART Backend Services token endpoint: a form in, an access
// token or an RFC 6749 error out.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	oauth := func(e *app.OAuthError) {
		if e.Code == "invalid_client" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="handoff", error="invalid_client"`)
		}
		writeJSON(w, e.Status(), map[string]string{"error": e.Code, "error_description": e.Description})
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		oauth(&app.OAuthError{Code: "invalid_request", Description: "send the request as application/x-www-form-urlencoded"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		oauth(&app.OAuthError{Code: "invalid_request", Description: "the form cannot be read"})
		return
	}
	f := r.PostForm
	for _, k := range []string{"grant_type", "client_assertion_type", "client_assertion", "scope"} {
		if len(f[k]) > 1 {
			oauth(&app.OAuthError{Code: "invalid_request", Description: k + " is repeated"})
			return
		}
	}
	ans, err := s.App.IssueToken(r.Context(), f.Get("grant_type"), f.Get("client_assertion_type"), f.Get("client_assertion"), f.Get("scope"))
	var oe *app.OAuthError
	if errors.As(err, &oe) {
		s.Log.InfoContext(r.Context(), "token refused", "error", oe.Code, "why", oe.Description)
		oauth(oe)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) smartConfiguration(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSONBody(w, s.App.SmartConfiguration())
}

func (s *Server) putFHIRClient(w http.ResponseWriter, r *http.Request) {
	var in app.FHIRClient
	if err := decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.App.RegisterFHIRClient(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"client_id": id})
}
