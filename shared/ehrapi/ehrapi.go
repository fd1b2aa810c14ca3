// Package ehrapi is the HTTP surface a clinic's EHR speaks to, beside the
// clinic API of shared/httpapi: the SMART Backend Services token endpoint
// (/oauth/token) and its configuration (/.well-known/smart-configuration),
// the FHIR R4 API under /fhir, the SMART App Launch that opens the clinic's
// referral form from a chart (/launch, /launch/callback) and the CDS Hooks
// service whose card offers it (/cds-services), and the operator's
// registration of an EHR's keys and of the EHR that launches handoff. The ehr function serves it in AWS; the local stack serves it on
// the same port as everything else (Mount). Handlers translate requests
// into calls on shared/ehr and shared/smart and map the answers back; they
// decide nothing.
package ehrapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/cdshooks"
	"github.com/handoff-health/handoff/shared/chart"
	"github.com/handoff-health/handoff/shared/ehr"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/outbound"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/smart"
	"github.com/handoff-health/handoff/shared/smartlaunch"
)

// Server holds what the handlers need. Build it once per process (New):
// its registry keeps the key sets it fetched, its launch client the EHRs'
// configurations and keys.
type Server struct {
	App    *app.App
	EHR    *ehr.Service
	Token  *smart.TokenEndpoint
	Access *smart.AccessTokens
	// Launch runs SMART launches; Room signs their clinicians in to the
	// clinic's pages.
	Launch *smartlaunch.Client
	Room   *room.Room
	// Hooks checks the EHR's CDS Hooks JWTs, Decider makes the card
	// decision.
	Hooks   *cdshooks.Verifier
	Decider *cdshooks.Decider
	Log     *slog.Logger
	http    *httpapi.Server // the shared failure answers and admin check
}

// keysTimeout bounds a key set fetch, connection included; ehrTimeout a
// call to an EHR's authorization server or FHIR API.
const (
	keysTimeout = 5 * time.Second
	ehrTimeout  = 8 * time.Second
)

// New builds the EHR's HTTP surface over the core: the SMART registry
// reads clinics through the core's cache, records assertions' jti in the
// referrals table, and fetches JWKS URLs through the outbound guard, as
// every call to an EHR goes. A launch's URLs (its launch URL, the
// redirect_uri, the card's link) are on the clinic's pages' origin
// (room.Origin: the public URL, by name on a loopback stack).
func New(a *app.App, log *slog.Logger) *Server {
	tokens := &smart.AccessTokens{Key: a.LinkKey, Now: a.Clock}
	loopback := a.Config.LoopbackPublicURL()
	reg := &smart.Registry{
		Clients: smart.ClientFunc(clinicClient(a)), Replays: smart.ReplayFunc(a.Referrals.SeenAssertion),
		HTTP: outbound.Client(loopback, keysTimeout), Now: a.Clock, Log: log,
	}
	pagesURL := room.Origin(a.Config.PublicURL)
	toEHR := outbound.Client(loopback, ehrTimeout)
	return &Server{
		App: a, EHR: &ehr.Service{App: a, CheckKeys: smart.ParseJWKS},
		Access: tokens, Log: log,
		Token: &smart.TokenEndpoint{URL: a.Config.PublicURL + "/oauth/token", Registry: reg, Tokens: tokens, Log: log},
		Launch: &smartlaunch.Client{
			PublicURL: pagesURL, States: smartlaunch.StateFuncs{Put: a.Referrals.PutLaunchState, Take: a.Referrals.TakeLaunchState},
			Key: a.LinkKey, HTTP: toEHR,
			AllowLoopbackHTTP: loopback, Timeout: ehrTimeout, Now: a.Clock,
		},
		Room: room.New(a, nil, nil),
		Hooks: &cdshooks.Verifier{
			ServiceURL: cdshooks.ServiceURL(a.Config.PublicURL), Keys: hookKeys{reg}, JTIs: cdshooks.JTIFunc(a.Referrals.SeenHookJTI), Now: a.Clock,
		},
		Decider: &cdshooks.Decider{
			LaunchURL: pagesURL + LaunchPath, Key: a.LinkKey, Referrals: cdshooks.OpenReferralsFunc(a.Referrals.HasOpenReferral),
			Reader: chart.Reader{HTTP: toEHR, AllowLoopbackHTTP: loopback, Timeout: ehrTimeout},
		},
		http: &httpapi.Server{App: a, Log: log},
	}
}

// Handler serves the EHR's routes (the ehr function's): /oauth/token,
// /.well-known/smart-configuration, /fhir, /launch and /cds-services.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.route(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.http.Fail(w, r, errNoRoute) })
	return mux
}

// Admin serves the operator's routes of this surface (the admin function
// serves them): PUT /v1/admin/clinics/{id}/fhir-client and …/smart-app.
func (s *Server) Admin() http.Handler {
	mux := http.NewServeMux()
	s.routeAdmin(mux)
	return mux
}

// Mount adds the EHR's routes (Handler's) to a mux that serves others: its
// patterns are more specific than "/".
func (s *Server) Mount(mux *http.ServeMux) { s.route(mux) }

// With serves every route of this surface (the EHR's and the operator's)
// and rest for all others: the local stack's one port.
func (s *Server) With(rest http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", rest)
	s.route(mux)
	s.routeAdmin(mux)
	return mux
}

// MountAdmin adds the operator's route (Admin's) to a mux that serves others.
func (s *Server) MountAdmin(mux *http.ServeMux) { s.routeAdmin(mux) }

func (s *Server) route(mux *http.ServeMux) {
	s.routeLaunch(mux)
	mux.HandleFunc("/oauth/token", httpapi.Methods(map[string]http.HandlerFunc{http.MethodPost: s.token}))
	mux.HandleFunc("/.well-known/smart-configuration", httpapi.Methods(map[string]http.HandlerFunc{http.MethodGet: s.smartConfiguration}))
	s.routeFHIR(mux)
}

func (s *Server) routeAdmin(mux *http.ServeMux) {
	mux.HandleFunc("/v1/admin/clinics/{id}/fhir-client", s.http.RequireAdmin(httpapi.Methods(map[string]http.HandlerFunc{http.MethodPut: s.putFHIRClient})))
	mux.HandleFunc("/v1/admin/clinics/{id}/smart-app", s.http.RequireAdmin(httpapi.Methods(map[string]http.HandlerFunc{http.MethodPut: s.putSMARTApp})))
}

// clinicClient finds a clinic as a SMART client: its registered keys, read
// through the core's clinic cache (problem.NotFound for no such clinic). A
// function, not a type holding the core: the core behind an interface
// would keep every method of its stores in the binary.
func clinicClient(a *app.App) func(context.Context, string) (smart.Client, error) {
	return func(ctx context.Context, id string) (smart.Client, error) {
		if !app.ValidClinicID(id) {
			return smart.Client{}, problem.Errorf(problem.NotFound, "no such client")
		}
		cl, err := a.Clinic(ctx, id)
		if err != nil {
			return smart.Client{}, err
		}
		return smart.Client{ID: cl.ID, JWKS: cl.JWKS, JWKSURL: cl.JWKSURL}, nil
	}
}
