package ehrapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/handoff-health/handoff/shared/ehr"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/smart"
	"github.com/handoff-health/handoff/shared/smartlaunch"
)

var errNoRoute = problem.Errorf(problem.NotFound, "no such endpoint; see the API documentation")

// token is the SMART Backend Services token endpoint: a form in, an access
// token or an RFC 6749 error out.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	oauth := func(e *smart.OAuthError) {
		if e.Code == "invalid_client" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="handoff", error="invalid_client"`)
		}
		httpapi.WriteJSON(w, e.Status(), map[string]string{"error": e.Code, "error_description": e.Description})
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		oauth(&smart.OAuthError{Code: "invalid_request", Description: "send the request as application/x-www-form-urlencoded"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		oauth(&smart.OAuthError{Code: "invalid_request", Description: "the form cannot be read"})
		return
	}
	f := r.PostForm
	for _, k := range []string{"grant_type", "client_assertion_type", "client_assertion", "scope"} {
		if len(f[k]) > 1 {
			oauth(&smart.OAuthError{Code: "invalid_request", Description: k + " is repeated"})
			return
		}
	}
	ans, err := s.Token.Issue(r.Context(), smart.TokenRequest{
		GrantType: f.Get("grant_type"), AssertionType: f.Get("client_assertion_type"),
		Assertion: f.Get("client_assertion"), Scope: f.Get("scope"),
	})
	var oe *smart.OAuthError
	if errors.As(err, &oe) {
		s.Log.InfoContext(r.Context(), "token refused", "error", oe.Code, "why", oe.Description)
		oauth(oe)
		return
	}
	if err != nil {
		s.http.Fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, ans)
}

func (s *Server) smartConfiguration(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK)
	_ = jsonEncoder(w).Encode(s.Token.Configuration())
}

func (s *Server) putFHIRClient(w http.ResponseWriter, r *http.Request) {
	var in ehr.FHIRClient
	if err := httpapi.DecodeJSON(w, r, &in); err != nil {
		s.http.Fail(w, r, err)
		return
	}
	id, err := s.EHR.RegisterClient(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.http.Fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"client_id": id})
}

func jsonEncoder(w http.ResponseWriter) *json.Encoder { return json.NewEncoder(w) }

// smartAppAnswer is PUT …/smart-app's answer: the registration, and what
// the EHR's integration team enters on their side.
type smartAppAnswer struct {
	ClinicID      string `json:"clinic_id"`
	ISS           string `json:"iss"`
	ClientID      string `json:"client_id"`
	LaunchURL     string `json:"launch_url"`
	RedirectURI   string `json:"redirect_uri"`
	Scope         string `json:"scope"`
	CDSServiceURL string `json:"cds_service_url"`
	// FrameOrigins: the origins that may frame the launch (none: omitted).
	FrameOrigins []string `json:"frame_origins,omitempty"`
}

func (s *Server) putSMARTApp(w http.ResponseWriter, r *http.Request) {
	var in ehr.SMARTApp
	if err := httpapi.DecodeJSON(w, r, &in); err != nil {
		s.http.Fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	in, err := s.EHR.RegisterSMARTApp(r.Context(), id, in)
	if err != nil {
		s.http.Fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, smartAppAnswer{
		ClinicID: id, ISS: in.ISS, ClientID: in.ClientID,
		LaunchURL: s.Launch.PublicURL + LaunchPath, RedirectURI: s.Launch.RedirectURI(), Scope: smartlaunch.Scope,
		CDSServiceURL: s.Hooks.ServiceURL, FrameOrigins: in.FrameOrigins,
	})
}
