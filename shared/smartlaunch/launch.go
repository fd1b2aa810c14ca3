// Package smartlaunch is handoff's side of a SMART App Launch 2.2 EHR launch:
// the EHR opens handoff with iss and launch, handoff sends the browser to the
// EHR's authorization endpoint and gets it back with a code, trades the code
// for a token, checks who signed in and which patient is open, and reads
// the little the referral form needs (shared/chart).
//
// It is an adapter with no HTTP handlers of its own: Begin returns where to
// send the browser and the cookie to set; Finish takes the callback's query
// and the browser's cookies and returns the prefill and who the clinician is,
// or an *Error whose Message a plain page can show.
//
// The OAuth 2.0 flow is golang.org/x/oauth2 (PKCE S256), the id_token is
// verified by github.com/coreos/go-oidc/v3 against the keys the EHR publishes;
// nothing here is a hand-written flow.
//
// state and the PKCE verifier are bound to the browser: the verifier, the
// EHR's endpoints and the clinic are kept server-side (States, one record per
// launch, keyed by the SHA-256 of state, taken — read and deleted — at the
// callback, so a state works once and for 10 minutes); the browser gets a
// short-lived HttpOnly cookie whose name carries the start of that hash and
// whose value is an HMAC of the whole hash and the expiry. A callback whose
// state is not the one this browser started, or was used before, is refused.
package smartlaunch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/handoff-health/handoff/shared/chart"
	"github.com/handoff-health/handoff/shared/fhir"
)

// Limits and lifetimes.
const (
	// StateTTL is how long a launch may take from Begin to its callback.
	StateTTL = 10 * time.Minute
	// discoveryTTL is how long an EHR's smart-configuration is reused.
	discoveryTTL     = 5 * time.Minute
	maxDiscoveryBody = 64 << 10
	maxLaunchLen     = 2048
	cookiePrefix     = "handoff_launch_"
	// CallbackPath is where the EHR sends the browser back (the redirect_uri
	// is the public URL followed by it).
	CallbackPath = "/launch/callback"
)

// States keeps pending launches between Begin and Finish. A record must be
// taken at most once: TakeLaunchState reads and deletes it in one step and
// fails (any error) for a hash it does not hold or past its expiry.
// shared/dynamo.Referrals implements it with a conditional delete.
type States interface {
	PutLaunchState(ctx context.Context, stateHash string, record []byte, exp time.Time) error
	TakeLaunchState(ctx context.Context, stateHash string, now time.Time) ([]byte, error)
}

// StateFuncs is States made of two functions (a store's method values):
// a store behind the interface itself would keep every method of it, and
// of the client it holds, in the binary.
type StateFuncs struct {
	Put  func(ctx context.Context, stateHash string, record []byte, exp time.Time) error
	Take func(ctx context.Context, stateHash string, now time.Time) ([]byte, error)
}

// PutLaunchState calls f.Put.
func (f StateFuncs) PutLaunchState(ctx context.Context, stateHash string, record []byte, exp time.Time) error {
	return f.Put(ctx, stateHash, record, exp)
}

// TakeLaunchState calls f.Take.
func (f StateFuncs) TakeLaunchState(ctx context.Context, stateHash string, now time.Time) ([]byte, error) {
	return f.Take(ctx, stateHash, now)
}

// Client runs EHR launches. Build it once; it is safe for concurrent use and
// keeps the EHRs' configurations (5 minutes) and key sets (until they rotate).
type Client struct {
	// PublicURL is HANDOFF_PUBLIC_URL: the redirect_uri is PublicURL +
	// CallbackPath, and the cookie is Secure when it is https.
	PublicURL string
	// States keeps pending launches.
	States States
	// Key returns the key that signs the browser's cookie (an HMAC key; the
	// deployment's link key will do: the cookie's MAC has its own prefix).
	Key func(context.Context) ([]byte, error)
	// HTTP makes every call to an EHR; nil is chart.DefaultClient(). The
	// deployment gives one with its outbound address guard.
	HTTP *http.Client
	// AllowLoopbackHTTP lets an EHR on loopback be reached over plain http
	// (the deployment's own public URL is loopback, as under make run).
	AllowLoopbackHTTP bool
	// Timeout bounds each call to the EHR (chart.DefaultTimeout when zero).
	Timeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu         sync.Mutex
	discovered map[string]ehrConfig
	keySets    map[string]*oidc.RemoteKeySet
}

// Registration is what a clinic registered for its EHR.
type Registration struct {
	ClinicID string
	ISS      string // the EHR's FHIR base URL
	ClientID string // the client id the EHR gave handoff
}

// Redirect is where Begin sends the browser: a 302 to URL, setting Cookie.
type Redirect struct {
	URL    string
	Cookie *http.Cookie
}

// Result is a finished launch.
type Result struct {
	ClinicID string
	ISS      string
	// PatientID is the EHR's id of the open patient, for the keyed hash that
	// tells whether the clinic has an open referral for them. It is the
	// EHR's identifier: never store or log it as it is.
	PatientID string
	// FHIRUser and Subject say who signed in at the EHR (the id_token's
	// fhirUser and sub claims).
	FHIRUser string
	Subject  string
	// Prefill is what the referral form is filled in with.
	Prefill chart.Prefill
	// Embedded: the launch began in a frame of the EHR's page
	// (BeginEmbedded).
	Embedded bool
}

// pending is what a launch keeps between Begin and Finish. It holds no
// patient data: the patient is known only after the token exchange.
type pending struct {
	ClinicID string `json:"c"`
	ISS      string `json:"i"`
	ClientID string `json:"k"`
	Verifier string `json:"v"`
	TokenURL string `json:"t"`
	Issuer   string `json:"o"`
	JWKSURI  string `json:"j"`
	Embedded bool   `json:"f,omitempty"`
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return chart.DefaultClient()
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return chart.DefaultTimeout
}

// RedirectURI is the callback the EHR must have registered for handoff.
func (c *Client) RedirectURI() string { return strings.TrimSuffix(c.PublicURL, "/") + CallbackPath }

// Begin starts an EHR launch for a registered clinic: it reads the EHR's
// SMART configuration, keeps the launch's state and PKCE verifier, and
// returns the authorization URL (response_type=code, client_id,
// redirect_uri, launch, state, aud=iss, code_challenge_method=S256,
// code_challenge, scope=Scope) with the cookie that binds the launch to the
// browser. Errors: *Error (BadRequest, Unreachable, BadEHR), or the store's.
func (c *Client) Begin(ctx context.Context, reg Registration, launch string) (Redirect, error) {
	return c.begin(ctx, reg, launch, false)
}

// BeginEmbedded is Begin for a launch the EHR opens inside a frame of its
// own page: the cookie is partitioned (see the package comment), and the
// launch's Result says Embedded. Errors: as Begin's.
func (c *Client) BeginEmbedded(ctx context.Context, reg Registration, launch string) (Redirect, error) {
	return c.begin(ctx, reg, launch, true)
}

func (c *Client) begin(ctx context.Context, reg Registration, launch string, embedded bool) (Redirect, error) {
	if launch == "" || len(launch) > maxLaunchLen {
		return Redirect{}, fail(BadRequest, "the launch parameter is missing or too long")
	}
	if err := chart.CheckURL(reg.ISS, c.AllowLoopbackHTTP); err != nil {
		return Redirect{}, fail(BadEHR, "iss: "+err.Error())
	}
	conf, err := c.discover(ctx, reg.ISS)
	if err != nil {
		return Redirect{}, err
	}
	state, err := random()
	if err != nil {
		return Redirect{}, err
	}
	verifier := oauth2.GenerateVerifier()
	rec, err := json.Marshal(pending{ClinicID: reg.ClinicID, ISS: reg.ISS, ClientID: reg.ClientID, Verifier: verifier,
		TokenURL: conf.TokenEndpoint, Issuer: conf.Issuer, JWKSURI: conf.JWKSURI, Embedded: embedded})
	if err != nil {
		return Redirect{}, err
	}
	hash := stateHash(state)
	exp := c.now().Add(StateTTL)
	if err := c.States.PutLaunchState(ctx, hash, rec, exp); err != nil {
		return Redirect{}, fmt.Errorf("keep the launch state: %w", err)
	}
	cookie, err := c.cookie(ctx, hash, exp, embedded)
	if err != nil {
		return Redirect{}, err
	}
	oc := c.oauth(reg.ClientID, conf.AuthorizationEndpoint, conf.TokenEndpoint)
	u := oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("launch", launch), oauth2.SetAuthURLParam("aud", reg.ISS))
	return Redirect{URL: u, Cookie: cookie}, nil
}

// Finish completes a launch from its callback's query (code and state, or
// error) and the browser's cookies: the state must be this browser's and
// unused; the code is exchanged (with the PKCE verifier); the token response
// must name a patient and grant no scope beyond Scope; the id_token must
// verify (issuer, aud = client_id, signature against the EHR's published
// keys, expiry) and carry fhirUser; then the Patient and its active
// Conditions are read, and their codes mapped to a topic and dropped.
// Errors: *Error, or the store's; an error after the launch's state was
// read comes with a Result naming only its clinic, iss and whether it was
// embedded (for the error page's frame policy).
func (c *Client) Finish(ctx context.Context, query url.Values, cookies []*http.Cookie) (Result, error) {
	state := query.Get("state")
	if state == "" || len(state) > 512 {
		return Result{}, fail(BadState, "the callback has no state")
	}
	hash := stateHash(state)
	if err := c.checkCookie(ctx, hash, cookies); err != nil {
		return Result{}, err
	}
	raw, err := c.States.TakeLaunchState(ctx, hash, c.now())
	if err != nil {
		return Result{}, fail(BadState, "the state is unknown, expired or used")
	}
	var p pending
	if err := json.Unmarshal(raw, &p); err != nil {
		return Result{}, fmt.Errorf("read the launch state: %w", err)
	}
	known := Result{ClinicID: p.ClinicID, ISS: p.ISS, Embedded: p.Embedded}
	if e := query.Get("error"); e != "" {
		return known, fail(Denied, "the EHR answered error="+code(e))
	}
	authCode := query.Get("code")
	if authCode == "" {
		return known, fail(BadRequest, "the callback has no code")
	}

	tok, err := c.exchange(ctx, p, authCode)
	if err != nil {
		return known, err
	}
	patient, _ := tok.Extra("patient").(string)
	if patient == "" {
		return known, fail(NoPatient, "the token response has no patient")
	}
	if !chart.ValidID(patient) {
		return known, fail(NoPatient, "the token response's patient is not a FHIR id")
	}
	if granted, ok := tok.Extra("scope").(string); ok && granted != "" {
		if extra := beyond(Scope, granted); len(extra) > 0 {
			return known, fail(ScopeTooWide, "granted beyond what was asked: "+strings.Join(extra, " "))
		}
	}
	who, err := c.verifyIDToken(ctx, p, tok)
	if err != nil {
		return known, err
	}

	reader := chart.Reader{HTTP: c.httpClient(), AllowLoopbackHTTP: c.AllowLoopbackHTTP, Timeout: c.timeout()}
	var (
		pt     fhir.Patient
		conds  []fhir.Condition
		ptErr  error
		cndErr error
		wg     sync.WaitGroup
	)
	wg.Add(2)
	go func() { defer wg.Done(); pt, ptErr = reader.Patient(ctx, p.ISS, tok.AccessToken, patient) }()
	go func() { defer wg.Done(); conds, cndErr = reader.ActiveConditions(ctx, p.ISS, tok.AccessToken, patient) }()
	wg.Wait()
	for _, err := range []error{ptErr, cndErr} {
		if err != nil {
			return known, fromChart(err)
		}
	}
	return Result{ClinicID: p.ClinicID, ISS: p.ISS, PatientID: patient, FHIRUser: who.FHIRUser, Subject: who.Subject,
		Prefill: chart.PrefillFrom(pt, conds), Embedded: p.Embedded}, nil
}

// ClearCookie is the cookie that ends the browser's binding for the state
// in a callback's query (set it on the callback's answer, whatever it is):
// the partitioned one of an embedded launch when embedded (the callback
// arrived in a frame). nil when the query has no state.
func (c *Client) ClearCookie(query url.Values, embedded bool) *http.Cookie {
	state := query.Get("state")
	if state == "" || len(state) > 512 {
		return nil
	}
	ck := c.baseCookie(stateHash(state), embedded)
	ck.MaxAge = -1
	return ck
}

func (c *Client) oauth(clientID, authURL, tokenURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    clientID,
		RedirectURL: c.RedirectURI(),
		Scopes:      strings.Fields(Scope),
		Endpoint:    oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// exchange trades the code at the token endpoint.
func (c *Client) exchange(ctx context.Context, p pending, authCode string) (*oauth2.Token, error) {
	if err := chart.CheckURL(p.TokenURL, c.AllowLoopbackHTTP); err != nil {
		return nil, fail(BadEHR, "token_endpoint: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, c.httpClient()), c.timeout())
	defer cancel()
	tok, err := c.oauth(p.ClientID, "", p.TokenURL).Exchange(ctx, authCode, oauth2.VerifierOption(p.Verifier))
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 500:
		return nil, fail(BadEHR, "the token endpoint answered "+strconv.Itoa(re.Response.StatusCode))
	case errors.As(err, &re):
		return nil, fail(Denied, "the token endpoint refused the code: "+code(re.ErrorCode))
	case ctx.Err() != nil || isNetwork(err):
		return nil, fail(Unreachable, "the token endpoint: "+chart.Why(err))
	}
	// oauth2 could not read the answer (not JSON, no access_token).
	return nil, fail(BadEHR, "the token endpoint's answer is not a token response")
}

type identity struct {
	FHIRUser string
	Subject  string
}

// verifyIDToken checks the token response's id_token with go-oidc against
// the issuer and keys the EHR's configuration named at Begin.
func (c *Client) verifyIDToken(ctx context.Context, p pending, tok *oauth2.Token) (identity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return identity{}, fail(BadIDToken, "the token response has no id_token")
	}
	keys, err := c.keySet(p.JWKSURI)
	if err != nil {
		return identity{}, err
	}
	v := oidc.NewVerifier(p.Issuer, keys, &oidc.Config{
		ClientID: p.ClientID, Now: c.now,
		SupportedSigningAlgs: []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384},
	})
	vctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	idt, err := v.Verify(vctx, raw)
	if err != nil {
		if vctx.Err() != nil {
			return identity{}, fail(Unreachable, "the EHR's keys: "+chart.Why(vctx.Err()))
		}
		return identity{}, fail(BadIDToken, idTokenWhy(err))
	}
	var claims struct {
		FHIRUser string `json:"fhirUser"`
		AZP      string `json:"azp"`
	}
	if err := idt.Claims(&claims); err != nil {
		return identity{}, fail(BadIDToken, "the id_token's claims cannot be read")
	}
	if len(idt.Audience) > 1 && claims.AZP != p.ClientID {
		return identity{}, fail(BadIDToken, "the id_token names several audiences and another authorized party")
	}
	if claims.FHIRUser == "" {
		return identity{}, fail(BadIDToken, "the id_token has no fhirUser")
	}
	return identity{FHIRUser: claims.FHIRUser, Subject: idt.Subject}, nil
}

// idTokenWhy names what failed in an id_token, in words without values.
func idTokenWhy(err error) string {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return "the id_token has expired"
	case strings.Contains(msg, "expected audience"):
		return "the id_token is for another audience"
	case strings.Contains(msg, "issued by a different provider"):
		return "the id_token is from another issuer"
	case strings.Contains(msg, "signature"), strings.Contains(msg, "fetching keys"):
		return "the id_token's signature does not verify against the EHR's keys"
	case strings.Contains(msg, "malformed"), strings.Contains(msg, "unsupported signing algorithm"):
		return "the id_token is not a signed JWT handoff accepts"
	}
	return "the id_token does not verify"
}

// keySet returns the EHR's published keys, one long-lived set per JWKS URL
// (go-oidc fetches it again when a token names a key it lacks).
func (c *Client) keySet(jwksURL string) (*oidc.RemoteKeySet, error) {
	if err := chart.CheckURL(jwksURL, c.AllowLoopbackHTTP); err != nil {
		return nil, fail(BadEHR, "jwks_uri: "+err.Error())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ks, ok := c.keySets[jwksURL]; ok {
		return ks, nil
	}
	if c.keySets == nil {
		c.keySets = map[string]*oidc.RemoteKeySet{}
	}
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), c.httpClient()), jwksURL)
	c.keySets[jwksURL] = ks
	return ks, nil
}

// code keeps an OAuth error code printable and short (it is the EHR's word).
func code(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r == '_' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '?'
	}, s)
}

func isNetwork(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// fromChart turns a failed FHIR read into a launch error.
func fromChart(err error) error {
	var ce *chart.Error
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Kind == chart.Unreachable {
		return fail(Unreachable, ce.Error())
	}
	return fail(BadEHR, ce.Error())
}
