package ehrapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/handoff-health/handoff/shared/cdshooks"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/session"
	"github.com/handoff-health/handoff/shared/smart"
	"github.com/handoff-health/handoff/shared/smartlaunch"
)

// The EHR's routes into the clinic's pages: a SMART App Launch 2.2 EHR
// launch (GET /launch, GET /launch/callback) that ends signed in on the
// clinic's referral form filled in from the chart, and the CDS Hooks 2.0
// service whose card offers that launch (GET /cds-services, POST
// /cds-services/handoff-peer-support).

// LaunchPath is the SMART launch URL's path: an EHR opens
// {pages origin}/launch?iss=…&launch=….
const LaunchPath = "/launch"

func (s *Server) routeLaunch(mux *http.ServeMux) {
	mux.HandleFunc(LaunchPath, httpapi.Methods(map[string]http.HandlerFunc{http.MethodGet: s.launch}))
	mux.HandleFunc(smartlaunch.CallbackPath, httpapi.Methods(map[string]http.HandlerFunc{http.MethodGet: s.launchCallback}))
	mux.HandleFunc(cdshooks.ServicesPath, httpapi.Methods(map[string]http.HandlerFunc{http.MethodGet: s.cdsDiscovery}))
	mux.HandleFunc(cdshooks.ServicesPath+"/"+cdshooks.ServiceID, httpapi.Methods(map[string]http.HandlerFunc{http.MethodPost: s.cdsService}))
}

// launch starts an EHR launch: the iss must be an EHR a clinic registered.
func (s *Server) launch(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	q := r.URL.Query()
	iss := q.Get("iss")
	if iss == "" || len(iss) > 2048 {
		s.launchRefused(w, r, http.StatusBadRequest, string(smartlaunch.BadRequest), "no iss")
		return
	}
	app, err := s.App.Clinics.SMARTAppByISS(r.Context(), iss)
	if problem.Is(err, problem.NotFound) {
		s.launchRefused(w, r, http.StatusBadRequest, "unregistered", "no clinic registered this iss")
		return
	}
	if err != nil {
		s.launchFail(w, r, err)
		return
	}
	reg := smartlaunch.Registration{ClinicID: app.ClinicID, ISS: iss, ClientID: app.ClientID}
	begin := s.Launch.Begin
	var frame []string // who may frame an error page: the EHR, once known
	if framed(r) {
		// The iss's lookup item holds the origins, written with the
		// clinic's in one transaction: no read of the clinic.
		if len(app.FrameOrigins) == 0 {
			// Its pages could not be shown in the frame: say so in the log,
			// where the operator looks (the page is not shown either).
			s.launchRefused(w, r, http.StatusForbidden, "unregistered", "the EHR opened the launch in a frame, and the clinic registered no origin that may frame it")
			return
		}
		begin, frame = s.Launch.BeginEmbedded, app.FrameOrigins
	}
	red, err := begin(r.Context(), reg, q.Get("launch"))
	if err != nil {
		s.launchFail(w, r, err, frame...)
		return
	}
	http.SetCookie(w, red.Cookie)
	http.Redirect(w, r, red.URL, http.StatusFound)
}

// launchCallback finishes a launch and signs the clinician in to the
// clinic's pages, on the referral form filled in from the chart (the
// prefill stays with the session, never in a URL). A launch begun in a
// frame of the EHR's page opens an embedded session, whose one cookie is
// partitioned (httpapi.EmbeddedCookie); any other the usual session.
func (s *Server) launchCallback(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	q := r.URL.Query()
	if ck := s.Launch.ClearCookie(q, framed(r)); ck != nil {
		http.SetCookie(w, ck)
	}
	res, err := s.Launch.Finish(r.Context(), q, r.Cookies())
	if err != nil {
		s.launchFail(w, r, err, s.frameOrigins(r, res)...)
		return
	}
	key, err := s.App.LinkKey(r.Context())
	if err != nil {
		s.launchFail(w, r, err)
		return
	}
	l := room.Launch{Prefill: res.Prefill, PatientKey: cdshooks.PatientKey(key, res.ClinicID, res.PatientID)}
	value, exp, err := s.Room.SignInFromEHR(r.Context(), res.ClinicID, res.ISS, res.FHIRUser, l, res.Embedded)
	if problem.Is(err, problem.Forbidden) || problem.Is(err, problem.NotFound) {
		s.launchRefused(w, r, http.StatusForbidden, "unregistered", "the clinic's SMART app changed during the launch", s.frameOrigins(r, res)...)
		return
	}
	if err != nil {
		s.launchFail(w, r, err)
		return
	}
	if res.Embedded {
		http.SetCookie(w, httpapi.EmbeddedCookie(value, exp))
	} else {
		secure := s.http.SecureCookies()
		http.SetCookie(w, session.Cookie(httpapi.ClinicCookie, "/clinic", value, exp, secure))
		http.SetCookie(w, httpapi.LandingCookie(value, secure))
	}
	http.Redirect(w, r, "/clinic/new", http.StatusSeeOther)
}

// framed reports whether the browser is loading the request into a frame
// (Fetch Metadata: Sec-Fetch-Dest iframe or frame), as an EHR that embeds
// the launch in its page does. A browser that sends no Fetch Metadata
// gets the top-level launch.
func framed(r *http.Request) bool {
	d := r.Header.Get("Sec-Fetch-Dest")
	return d == "iframe" || d == "frame"
}

// noStore keeps a launch's answers out of caches and its URL (which holds a
// code and a state) out of the next page's Referer.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// launchFail answers a failed launch: a plain page saying why for a
// launch error (a 4xx, never a 5xx: the EHR's trouble is not handoff's
// failure), else handoff's own failure page.
func (s *Server) launchFail(w http.ResponseWriter, r *http.Request, err error, framedBy ...string) {
	var le *smartlaunch.Error
	if errors.As(err, &le) {
		s.launchRefused(w, r, le.Status(), string(le.Code), le.Error(), framedBy...)
		return
	}
	s.http.PageError(w, r, err)
}

// launchRefused logs why (words without values: a launch error's cause
// names no patient, token or code) and answers the plain page, which
// framedBy may frame (an embedded launch's EHR: the clinician then reads
// why in the EHR's frame rather than the browser's refusal to show it).
func (s *Server) launchRefused(w http.ResponseWriter, r *http.Request, status int, reason, why string, framedBy ...string) {
	s.Log.InfoContext(r.Context(), "SMART launch refused", "reason", reason, "why", why)
	pages.RenderLaunchError(w, pages.RequestLang(r, ""), status, reason, framedBy...)
}

// frameOrigins are the origins that may frame the page answering the
// callback of res: the registered EHR origins of its clinic when the
// launch began in a frame and arrived in one; none otherwise, or when the
// launch's state could not be read (res names no clinic then).
func (s *Server) frameOrigins(r *http.Request, res smartlaunch.Result) []string {
	if !res.Embedded || res.ClinicID == "" || !framed(r) {
		return nil
	}
	c, err := s.App.Clinic(r.Context(), res.ClinicID)
	if err != nil {
		return nil
	}
	return c.SMARTFrameOrigins
}

func (s *Server) cdsDiscovery(w http.ResponseWriter, _ *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, cdshooks.Discovery())
}

// cdsService answers a CDS Hooks call: the EHR's JWT first (401), then the
// request's shape (400), then the card decision (412 when it cannot be
// made). A clinic with no SMART app registered gets no card: its link
// would lead nowhere.
func (s *Server) cdsService(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, err := s.Hooks.Authenticate(ctx, r.Header.Get("Authorization"))
	var ae *cdshooks.AuthError
	if errors.As(err, &ae) {
		s.Log.InfoContext(ctx, "CDS Hooks call refused", "why", ae.Reason)
		w.Header().Set("WWW-Authenticate", `Bearer realm="handoff", error="invalid_token"`)
		s.http.Fail(w, r, problem.Errorf(problem.Unauthorized, "%s", ae.Reason))
		return
	}
	if err != nil {
		s.http.Fail(w, r, err)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.http.Fail(w, r, problem.Errorf(problem.UnsupportedMedia, "send the CDS Hooks request as application/json"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cdshooks.MaxRequestBytes))
	if err != nil {
		s.http.Fail(w, r, problem.Errorf(problem.TooLarge, "the request is over 2 MiB"))
		return
	}
	req, err := cdshooks.DecodeRequest(body)
	var re *cdshooks.RequestError
	if errors.As(err, &re) {
		// 400, as the specification answers a malformed call.
		s.http.Fail(w, r, problem.Errorf(problem.Malformed, "The CDS Hooks request is not valid: %s %s.", re.Field, re.Detail))
		return
	}
	if err != nil {
		s.http.Fail(w, r, err)
		return
	}
	c, err := s.App.Clinic(ctx, caller.ClientID)
	if err != nil {
		s.http.Fail(w, r, err)
		return
	}
	if c.SMARTISS == "" {
		httpapi.WriteJSON(w, http.StatusOK, cdshooks.NoCards())
		return
	}
	res, err := s.Decider.Answer(ctx, caller, req)
	var pe *cdshooks.PreconditionError
	if errors.As(err, &pe) {
		s.Log.InfoContext(ctx, "CDS Hooks call undecided", "why", pe.Reason)
		s.http.Fail(w, r, problem.Errorf(problem.PreconditionFailed, "%s", pe.Reason))
		return
	}
	if err != nil {
		s.http.Fail(w, r, err)
		return
	}
	s.Log.InfoContext(ctx, "CDS Hooks call answered", "clinic", caller.ClientID, "hook", req.Hook, "cards", len(res.Cards))
	httpapi.WriteJSON(w, http.StatusOK, res)
}

// hookKeys finds a CDS Hooks JWT's key among the keys the clinic
// registered as its FHIR client, through the registry the token endpoint
// uses (one cache of key sets).
type hookKeys struct{ reg *smart.Registry }

func (k hookKeys) HookKey(ctx context.Context, clientID, kid, jku string) (jose.JSONWebKey, error) {
	key, err := k.reg.Key(ctx, clientID, kid, jku)
	var ref *smart.Refusal
	if errors.As(err, &ref) {
		return jose.JSONWebKey{}, fmt.Errorf("%w: %s", cdshooks.ErrUnknownKey, ref.Why)
	}
	return key, err
}
