// Package ehrtest starts an EHR for a test: real software, not a fake written
// for the test. panva's oidc-provider (npm, pinned in infra/ses) is the EHR's
// authorization server, set up for the SMART App Launch 2.2 EHR launch (the
// launch and aud parameters, PKCE S256 required, the SMART scopes, fhirUser in
// the id_token, patient in the token response, its own sign-in and consent
// pages, its own dynamic client registration); beside it the EHR's FHIR API
// serves a Patient and its Conditions from the fixtures in fhir/ (see
// fhir/SOURCES.md) and publishes {iss}/.well-known/smart-configuration.
// ehr.mjs is the EHR.
//
// One EHR process serves every test of a test binary: it starts with the
// first test that asks for one and ends with the binary (it exits when its
// standard input closes). Each test gets a tenant of its own (Start): a
// client registered at the EHR's registration endpoint, a FHIR base of its
// own (the iss of its launches), the launches it started and the charts they
// open, and which part to break (a token response without patient, a wider
// scope, an id_token for another audience or under a key the EHR does not
// publish, a part that never answers, or the whole EHR gone). Breaks change
// per tenant while the test runs (SetBreak, Stop).
//
// Without Node.js or the npm packages the test skips, saying how to get them;
// under CI=true it fails instead (testenv.RequireTool).
package ehrtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/handoff-health/handoff/shared/testenv"
)

// The fixtures in fhir/, by name.
const (
	PatientColin      = "Patient-pat-53234"                               // Gravity SDOHCC's patient (Colin Abbas)
	AlcoholUse        = "Condition-alcohol-use-disorder"                  // F10.20 / SNOMED 66590003: maps to alcohol
	FoodInsecurity    = "Condition-SDOHCC-ConditionFoodInsecurityExample" // Z59.4 / SNOMED 733423003: no topic
	Asthma            = "Condition-asthma"                                // J45.909 / SNOMED 195967001: no topic
	DepressionResolve = "Condition-depression-resolved"                   // F32.9: a topic, but resolved
)

// Chart is what the EHR holds on one patient: a Patient fixture (served under
// the patient id the chart is filed under) and Condition fixtures, or
// resources of the test's own (a test planting markers).
type Chart struct {
	Patient    string   `json:"patient,omitempty"`
	Conditions []string `json:"conditions,omitempty"`
	// PatientResource, when set, is the Patient instead of the fixture;
	// ConditionResources are Conditions besides the fixtures'.
	PatientResource    map[string]any   `json:"patient_resource,omitempty"`
	ConditionResources []map[string]any `json:"condition_resources,omitempty"`
}

// Break names the parts of the EHR a test breaks.
type Break struct {
	NoPatient  bool   `json:"no_patient,omitempty"`   // the token response leaves out patient
	WiderScope string `json:"wider_scope,omitempty"`  // added to the token response's scope
	IDTokenAud string `json:"id_token_aud,omitempty"` // the id_token is signed, with the EHR's key, for this audience
	IDTokenKey bool   `json:"id_token_key,omitempty"` // the id_token is signed with a key the EHR does not publish
	// Hang is "discovery", "auth", "token" or "fhir": that part never answers.
	Hang string `json:"hang,omitempty"`
	// Down: every part cuts the connection, as an EHR whose server is gone.
	Down bool `json:"down,omitempty"`
}

// Config is one tenant's set-up.
type Config struct {
	RedirectURI string            `json:"-"`        // the client's, registered at the EHR
	Launches    map[string]string `json:"launches"` // launch id → patient id
	Charts      map[string]Chart  `json:"charts"`   // patient id → chart
	Break       Break             `json:"break"`
}

// The defaults of Standard.
const (
	Launch  = "launch-1"
	Patient = "pat-53234"
)

// Standard is a tenant whose client has redirectURI, and whose EHR started
// the launch Launch for the patient Patient, whose chart holds an active
// alcohol use disorder, food insecurity and asthma, and a resolved
// depression.
func Standard(redirectURI string) Config {
	return Config{
		RedirectURI: redirectURI,
		Launches:    map[string]string{Launch: Patient},
		Charts: map[string]Chart{Patient: {
			Patient:    PatientColin,
			Conditions: []string{AlcoholUse, FoodInsecurity, Asthma, DepressionResolve},
		}},
	}
}

// EHR is one test's tenant of the running EHR.
type EHR struct {
	// Issuer is the authorization server's OpenID Connect issuer.
	Issuer string
	// FHIR is the tenant's FHIR base URL: the iss of its SMART launches.
	FHIR string
	// ClientID is the client the EHR registered for the test's app.
	ClientID string

	cfg Config
	id  string
	p   *process
}

// LaunchURL is the URL an EHR opens to launch an app at launchURL (its
// registered launch URL): iss and launch added.
func (e *EHR) LaunchURL(launchURL, launch string) string {
	return launchURL + "?" + url.Values{"iss": {e.FHIR}, "launch": {launch}}.Encode()
}

// ChartURL is the EHR's chart page that opens launchURL (an app's
// registered launch URL) inside a frame with iss and launch added, as an
// EHR that embeds SMART apps in its own page. The page is on the EHR's
// origin, Issuer: the origin an app lets frame its pages.
func (e *EHR) ChartURL(launchURL, launch string) string {
	return e.Issuer + "/t/" + e.id + "/chart?" + url.Values{"app": {launchURL}, "launch": {launch}}.Encode()
}

// SetBreak changes what is broken for this tenant, from the next request on.
func (e *EHR) SetBreak(b Break) error {
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	res, err := e.p.admin(http.MethodPut, "/_test/tenants/"+e.id+"/break", raw)
	if err != nil {
		return err
	}
	if res != nil && res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("set the break: the EHR answered %d", res.StatusCode)
	}
	return nil
}

// Stop makes the tenant's EHR answer nothing from now on: every connection
// to it is cut, as when the EHR's server is gone. Errors: SetBreak's.
func (e *EHR) Stop() error { return e.SetBreak(Break{Down: true}) }

// Log is what the EHR process wrote on its standard error (oidc-provider's
// warnings), for every tenant.
func (e *EHR) Log() string { return e.p.log.String() }

// AccessToken plays a whole EHR launch as the EHR's own client would (the
// tenant's client and redirect URI, the clinician "dr-rivera") and returns
// the access token for the launch's patient: the token an EHR hands a CDS
// service in fhirAuthorization.
func (e *EHR) AccessToken(ctx context.Context, launch string) (string, error) {
	var conf struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.FHIR+"/.well-known/smart-configuration", nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	err = json.NewDecoder(res.Body).Decode(&conf)
	res.Body.Close()
	if err != nil {
		return "", err
	}
	oc := oauth2.Config{ClientID: e.ClientID, RedirectURL: e.cfg.RedirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: conf.AuthorizationEndpoint, TokenURL: conf.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"launch", "openid", "fhirUser", "patient/Patient.r", "patient/Condition.rs"}}
	verifier := oauth2.GenerateVerifier()
	cb, err := SignIn(ctx, oc.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("launch", launch), oauth2.SetAuthURLParam("aud", e.FHIR)), e.cfg.RedirectURI, "dr-rivera", nil)
	if err != nil {
		return "", err
	}
	tok, err := oc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// Require returns the node binary and infra/ses/node_modules, or skips the
// test saying how to get them (fails under CI=true).
func Require(t testing.TB) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	testenv.RequireTool(t, err == nil, "Node.js", "install Node 20 or newer (apt-get install nodejs)")
	modules = filepath.Join(testenv.RepoRoot(t), "infra", "ses", "node_modules")
	_, err = os.Stat(filepath.Join(modules, "oidc-provider", "package.json"))
	testenv.RequireTool(t, err == nil, "oidc-provider (npm)", "run `make node_modules` (npm ci in infra/ses)")
	return node, modules
}

// Start gives the test a tenant of the EHR set up as cfg, starting the EHR
// process on first use: its client is registered at the EHR's registration
// endpoint with cfg.RedirectURI.
func Start(t testing.TB, cfg Config) *EHR {
	t.Helper()
	node, modules := Require(t)
	root := testenv.RepoRoot(t)
	running.once.Do(func() { running.p, running.err = start(node, modules, root) })
	if running.err != nil {
		t.Fatalf("the EHR did not start: %v", running.err)
	}
	p := running.p
	e, err := p.tenant(cfg)
	if err != nil {
		t.Fatalf("add the test's tenant to the EHR: %v\n%s", err, p.log.String())
	}
	return e
}

// running is the test binary's one EHR process.
var running struct {
	once sync.Once
	p    *process
	err  error
}

// process is a running ehr.mjs.
type process struct {
	issuer string
	token  string // the bearer of its /_test/ door
	cmd    *exec.Cmd
	stdin  io.WriteCloser // held open: the EHR ends when it closes
	log    *lockedBuffer
}

func start(node, modules, root string) (*process, error) {
	p := &process{token: rand.Text(), log: &lockedBuffer{}}
	raw, err := json.Marshal(map[string]string{
		"fixtures_dir": filepath.Join(root, "infra", "ehrtest", "fhir"), "node_modules": modules, "admin_token": p.token,
	})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "handoff-ehr-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ehr.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(node, "--no-deprecation", filepath.Join(root, "infra", "ehrtest", "ehr.mjs"), path)
	p.cmd.Stderr = p.log
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadBytes('\n')
		var hello struct {
			Issuer string `json:"issuer"`
		}
		if err == nil {
			err = json.Unmarshal(line, &hello)
		}
		p.issuer = hello.Issuer
		_ = os.RemoveAll(dir) // read by now
		ready <- err
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = p.cmd.Process.Kill()
			return nil, fmt.Errorf("%w\n%s", err, p.log.String())
		}
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		return nil, fmt.Errorf("no answer within 60s\n%s", p.log.String())
	}
	return p, nil
}

// admin calls the EHR's test door.
func (p *process) admin(method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, p.issuer+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	return res, nil
}

// tenant registers a client at the EHR (RFC 7591, as an EHR's app
// registration does) and adds the tenant that client belongs to.
func (p *process) tenant(cfg Config) (*EHR, error) {
	reg, err := json.Marshal(map[string]any{
		"redirect_uris": []string{cfg.RedirectURI}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
	})
	if err != nil {
		return nil, err
	}
	var client struct {
		ClientID string `json:"client_id"`
	}
	if err := postJSON(p.issuer+"/reg", "", reg, http.StatusCreated, &client); err != nil {
		return nil, fmt.Errorf("register the client: %w", err)
	}
	spec, err := json.Marshal(struct {
		ClientID string `json:"client_id"`
		Config
	}{client.ClientID, cfg})
	if err != nil {
		return nil, err
	}
	var added struct {
		ID   string `json:"id"`
		FHIR string `json:"fhir"`
	}
	if err := postJSON(p.issuer+"/_test/tenants", p.token, spec, http.StatusOK, &added); err != nil {
		return nil, fmt.Errorf("add the tenant: %w", err)
	}
	return &EHR{Issuer: p.issuer, FHIR: added.FHIR, ClientID: client.ClientID, cfg: cfg, id: added.ID, p: p}, nil
}

func postJSON(u, token string, body []byte, want int, v any) error {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != want {
		return fmt.Errorf("%s answered %d: %.300s", u, res.StatusCode, raw)
	}
	return json.Unmarshal(raw, v)
}

// SignIn plays the clinician at the EHR's own pages: it opens authURL (an
// authorization request), signs in as user on oidc-provider's sign-in page,
// approves on its consent page, and returns the redirect to the app (the
// callback URL with code and state, or with error), without following it.
// The browser's cookies live in jar (nil: a new jar).
func SignIn(ctx context.Context, authURL, redirectURI, user string, jar http.CookieJar) (*url.URL, error) {
	if jar == nil {
		jar, _ = cookiejar.New(nil)
	}
	var callback *url.URL
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURI) {
				callback = req.URL
				return http.ErrUseLastResponse
			}
			return nil
		}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	for step := 0; step < 6; step++ {
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if callback != nil {
			return callback, nil
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("the EHR answered %d at %s: %.300s", res.StatusCode, res.Request.URL, body)
		}
		action, fields, err := form(body)
		if err != nil {
			return nil, fmt.Errorf("the EHR's page at %s: %w", res.Request.URL, err)
		}
		if fields.Has("login") {
			fields.Set("login", user)
			fields.Set("password", "any password will do")
		}
		target, err := res.Request.URL.Parse(action)
		if err != nil {
			return nil, err
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(fields.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return nil, errors.New("the EHR's pages never sent the browser back to the app")
}

// form reads the first form of a page: its action and its fields' values.
func form(page []byte) (string, url.Values, error) {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return "", nil, err
	}
	f := find(doc, "form")
	if f == nil {
		return "", nil, fmt.Errorf("no form on the page: %.300s", page)
	}
	fields := url.Values{}
	var inputs func(*html.Node)
	inputs = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			fields.Set(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			inputs(c)
		}
	}
	inputs(f)
	return attr(f, "action"), fields, nil
}

// find returns the first element named tag under n, depth first.
func find(n *html.Node, tag string) *html.Node {
	if n.Type == html.ElementNode && n.Data == tag {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, tag); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// lockedBuffer is a bytes.Buffer safe for the process writing it and a test
// reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
