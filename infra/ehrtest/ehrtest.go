// Package ehrtest starts an EHR for a test: real software, not a fake written
// for the test. panva's oidc-provider (npm, pinned in infra/ses) is the EHR's
// authorization server, set up for the SMART App Launch 2.2 EHR launch (the
// launch and aud parameters, PKCE S256 required, the SMART scopes, fhirUser in
// the id_token, patient in the token response, its own sign-in and consent
// pages); beside it the EHR's FHIR API serves a Patient and its Conditions
// from the fixtures in fhir/ (see fhir/SOURCES.md) and publishes
// {iss}/.well-known/smart-configuration. ehr.mjs is the EHR; this package
// writes its configuration, starts it on a free port and stops it when the
// test ends.
//
// Each test configures its own EHR: the client it knows, the launches it
// started and the charts they open, and which part to break (a token response
// without patient, a wider scope, an id_token for another audience or under
// a key the EHR does not publish, a part that never answers).
//
// Without Node.js or the npm packages the test skips, saying how to get them;
// under CI=true it fails instead (testenv.RequireTool).
package ehrtest

import (
	"bufio"
	"bytes"
	"context"
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
// the patient id the chart is filed under) and Condition fixtures.
type Chart struct {
	Patient    string   `json:"patient"`
	Conditions []string `json:"conditions"`
}

// Break names the parts of the EHR a test breaks.
type Break struct {
	NoPatient  bool   `json:"no_patient,omitempty"`   // the token response leaves out patient
	WiderScope string `json:"wider_scope,omitempty"`  // added to the token response's scope
	IDTokenAud string `json:"id_token_aud,omitempty"` // the id_token is signed, with the EHR's key, for this audience
	IDTokenKey bool   `json:"id_token_key,omitempty"` // the id_token is signed with a key the EHR does not publish
	Hang       string `json:"hang,omitempty"`         // "discovery", "token" or "fhir": that part never answers
}

// Config is one EHR's set-up.
type Config struct {
	ClientID    string            `json:"client_id"`
	RedirectURI string            `json:"redirect_uri"`
	Launches    map[string]string `json:"launches"` // launch id → patient id
	Charts      map[string]Chart  `json:"charts"`   // patient id → chart
	Break       Break             `json:"break"`
}

// The defaults of Standard.
const (
	ClientID = "handoff-test-client"
	Launch   = "launch-1"
	Patient  = "pat-53234"
)

// Standard is an EHR that knows the client ClientID with redirectURI, and
// started the launch Launch for the patient Patient, whose chart holds an
// active alcohol use disorder, food insecurity and asthma, and a resolved
// depression.
func Standard(redirectURI string) Config {
	return Config{
		ClientID:    ClientID,
		RedirectURI: redirectURI,
		Launches:    map[string]string{Launch: Patient},
		Charts: map[string]Chart{Patient: {
			Patient:    PatientColin,
			Conditions: []string{AlcoholUse, FoodInsecurity, Asthma, DepressionResolve},
		}},
	}
}

// EHR is a running EHR.
type EHR struct {
	// Issuer is the authorization server's OpenID Connect issuer.
	Issuer string `json:"issuer"`
	// FHIR is the FHIR base URL: the iss of a SMART launch.
	FHIR string `json:"fhir"`

	cfg  Config
	cmd  *exec.Cmd
	once sync.Once
	log  *lockedBuffer
}

// LaunchURL is the URL an EHR opens to launch an app at launchURL (its
// registered launch URL): iss and launch added.
func (e *EHR) LaunchURL(launchURL, launch string) string {
	return launchURL + "?" + url.Values{"iss": {e.FHIR}, "launch": {launch}}.Encode()
}

// Stop ends the EHR: from now on it does not answer at all.
func (e *EHR) Stop() {
	e.once.Do(func() {
		_ = e.cmd.Process.Kill()
		_ = e.cmd.Wait()
	})
}

// Log is what the EHR wrote on its standard error (oidc-provider's warnings).
func (e *EHR) Log() string { return e.log.String() }

// AccessToken plays a whole EHR launch as the EHR's own client would (the
// client and redirect URI of the EHR's Config, the clinician "dr-rivera")
// and returns the access token for the launch's patient: the token an EHR
// hands a CDS service in fhirAuthorization.
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
	oc := oauth2.Config{ClientID: e.cfg.ClientID, RedirectURL: e.cfg.RedirectURI,
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

// Start starts an EHR set up as cfg, and stops it when the test ends.
func Start(t testing.TB, cfg Config) *EHR {
	t.Helper()
	node, modules := Require(t)
	root := testenv.RepoRoot(t)
	full := struct {
		Config
		Fixtures    string `json:"fixtures_dir"`
		NodeModules string `json:"node_modules"`
	}{cfg, filepath.Join(root, "infra", "ehrtest", "fhir"), modules}
	raw, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ehr.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	e := &EHR{cfg: cfg, log: &lockedBuffer{}}
	e.cmd = exec.Command(node, "--no-deprecation", filepath.Join(root, "infra", "ehrtest", "ehr.mjs"), path)
	e.cmd.Stderr = e.log
	out, err := e.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("start the EHR: %v", err)
	}
	t.Cleanup(e.Stop)
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, e)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("the EHR did not start: %v\n%s", err, e.Log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the EHR did not start within 60s\n%s", e.Log())
	}
	return e
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
