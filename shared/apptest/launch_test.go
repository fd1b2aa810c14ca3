package apptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/cdshooks"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/smartlaunch"
)

// launchWorld is a world whose clinic registered a tenant of the test EHR
// (panva's oidc-provider, infra/ehrtest) as the EHR that launches handoff,
// with the same admin call docs/EHR.md gives.
type launchWorld struct {
	*world
	ehr      *ehrtest.EHR
	origin   string // the clinic's pages' origin: the launch's URLs are on it
	redirect string
}

func newLaunchWorld(t testing.TB, brk ehrtest.Break) *launchWorld {
	t.Helper()
	lw := launchWorldOf(newWorld(t, ""))
	w := lw.world
	cfg := ehrtest.Standard(lw.redirect)
	cfg.Break = brk
	lw.ehr = ehrtest.Start(t, cfg)
	st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/smart-app", map[string]string{"iss": lw.ehr.FHIR, "client_id": lw.ehr.ClientID})
	if st != http.StatusOK {
		t.Fatalf("register the SMART app: %d %s", st, b)
	}
	var reg map[string]string
	_ = json.Unmarshal(b, &reg)
	if reg["launch_url"] != lw.origin+"/launch" || reg["redirect_uri"] != lw.redirect || reg["scope"] != smartlaunch.Scope ||
		reg["cds_service_url"] != w.Server.URL+"/cds-services/handoff-peer-support" {
		t.Fatalf("the registration's answer: %s", b)
	}
	return lw
}

// launchWorldOf is w ready for an EHR (the EHR is the caller's to start).
// The launch checks the EHR's tokens by the real clock: the test EHR
// (oidc-provider) issues them by the real clock, as an EHR does, while the
// harness's own clock starts at a set hour of the day.
func launchWorldOf(w *world) *launchWorld {
	w.EHR.Launch.Now = time.Now
	return &launchWorld{world: w, origin: w.Room.Origin, redirect: w.Room.Origin + smartlaunch.CallbackPath}
}

// browser is a Go HTTP client keeping cookies like a browser's, following
// no redirect, counting its round trips.
type browser struct {
	t     *testing.T
	jar   http.CookieJar
	c     *http.Client
	mu    sync.Mutex
	trips int
	// framed: the browser loads handoff's pages into a frame of the EHR's
	// page (it sends Sec-Fetch-Dest: iframe, as Chromium does there).
	framed bool
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, jar: jar}
	b.c = &http.Client{Jar: jar, Timeout: time.Minute, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		b.mu.Lock()
		b.trips++
		b.mu.Unlock()
		if b.framed {
			r = r.Clone(r.Context())
			r.Header.Set("Sec-Fetch-Dest", "iframe")
		}
		return http.DefaultTransport.RoundTrip(r)
	}), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// get fetches u and returns its status, headers and body.
func (b *browser) get(u string) (int, http.Header, string) {
	b.t.Helper()
	res, err := b.c.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// launch opens the EHR's launch URL (launch) and returns where handoff
// sent the browser.
func (lw *launchWorld) launch(b *browser, launch string) (int, string, string) {
	st, h, body := b.get(lw.ehr.LaunchURL(lw.origin+"/launch", launch))
	return st, h.Get("Location"), body
}

// atEHR plays the launch up to the callback: the launch URL, then the
// clinician at the EHR's own sign-in and consent pages. It returns the
// callback URL the EHR sends the browser to.
func (lw *launchWorld) atEHR(t *testing.T, b *browser) *url.URL {
	t.Helper()
	st, loc, body := lw.launch(b, ehrtest.Launch)
	if st != http.StatusFound {
		t.Fatalf("GET /launch: %d %s", st, body)
	}
	cb, err := ehrtest.SignIn(context.Background(), loc, lw.redirect, "dr-rivera", b.jar)
	if err != nil {
		t.Fatalf("at the EHR: %v\n%s", err, lw.ehr.Log())
	}
	b.mu.Lock()
	b.trips += 4 // the EHR's authorization request, sign-in page, consent page, and the redirect back
	b.mu.Unlock()
	return cb
}

var valueRE = regexp.MustCompile(`id="([a-z_-]+)"[^>]*value="([^"]*)"`)

// formValues are the referral form's text inputs by id, and its selected
// topic and language.
func formValues(page string) map[string]string {
	out := map[string]string{}
	for _, m := range valueRE.FindAllStringSubmatch(page, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	if m := regexp.MustCompile(`<option value="([a-z-]+)" selected>`).FindStringSubmatch(page); m != nil {
		out["topic"] = m[1]
	}
	if m := regexp.MustCompile(`name="language" value="([a-z]+)"[^>]* checked`).FindStringSubmatch(page); m != nil {
		out["language"] = m[1]
	}
	return out
}

// TestLaunchOverHTTP: the EHR launch end to end through handoff's routes,
// a Go client playing the browser: /launch → the EHR's own pages →
// /launch/callback → signed in to /clinic on the form filled in from the
// chart → the referral, which carries the patient's key (and nothing of
// the EHR's id) until it closes.
func TestLaunchOverHTTP(t *testing.T) {
	lw := newLaunchWorld(t, ehrtest.Break{})
	b := newBrowser(t)
	start := time.Now()
	cb := lw.atEHR(t, b)
	st, h, body := b.get(cb.String())
	if st != http.StatusSeeOther || h.Get("Location") != "/clinic/new" {
		t.Fatalf("callback: %d %s %s\n%s", st, h.Get("Location"), body, lw.Logs)
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "handoff_clinic" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/clinic" || session.MaxAge > 12*3600 {
		t.Fatalf("the session cookie: %+v", session)
	}
	if strings.Contains(h.Get("Location"), "Colin") || h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("callback headers %v", h)
	}
	// The landing cookie alone (what a browser sends at the end of the
	// EHR's redirect chain) opens the form once, and is dropped there.
	landing, err := http.NewRequest(http.MethodGet, lw.origin+"/clinic/new", nil)
	if err != nil {
		t.Fatal(err)
	}
	landing.AddCookie(&http.Cookie{Name: "handoff_clinic_landing", Value: session.Value})
	landed, err := http.DefaultClient.Do(landing)
	if err != nil {
		t.Fatal(err)
	}
	landed.Body.Close()
	var dropped bool
	for _, c := range landed.Cookies() {
		dropped = dropped || c.Name == "handoff_clinic_landing" && c.MaxAge < 0 && c.Path == "/clinic/new"
	}
	if landed.StatusCode != http.StatusOK || !dropped {
		t.Errorf("/clinic/new with the landing cookie: %d, cookies %v", landed.StatusCode, landed.Header.Values("Set-Cookie"))
	}
	st, _, page := b.get(lw.origin + "/clinic/new")
	filled := time.Since(start)
	if st != http.StatusOK {
		t.Fatalf("/clinic/new: %d", st)
	}
	got := formValues(page)
	for k, want := range map[string]string{"given_name": "Colin", "postal_code": "74048", "topic": "alcohol", "patient-email": "", "phone": ""} {
		if got[k] != want {
			t.Errorf("form %s = %q, want %q (%v)", k, got[k], want, got)
		}
	}
	if !strings.Contains(page, "Filled in from the patient") || !strings.Contains(page, "Practitioner/dr-rivera") {
		t.Errorf("the form does not say it is filled in from the chart, or whom it signed in")
	}
	t.Logf("launch: %d round trips of the browser and %v to the filled form", b.trips, filled.Round(time.Millisecond))

	// Submit through the one intake path.
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]
	key := regexp.MustCompile(`name="form_key" value="([^"]+)"`).FindStringSubmatch(page)[1]
	form := url.Values{"csrf": {csrf}, "form_key": {key}, "given_name": {got["given_name"]}, "postal_code": {"94110"},
		"topic": {got["topic"]}, "language": {"en"}}
	res, err := b.c.PostForm(lw.origin+"/clinic/referrals", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	id := strings.TrimPrefix(res.Header.Get("Location"), "/clinic/referrals/")
	if res.StatusCode != http.StatusSeeOther || len(id) != 26 {
		t.Fatalf("submit: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	rec, err := lw.App.Referrals.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := rec.Referral
	if r.PatientKey == "" || r.Clinician.Name != "Practitioner/dr-rivera" || r.Clinician.Email != "desk@clinic.example" || r.Source != "clinic-pages" {
		t.Errorf("the referral: key %q, clinician %+v, source %q", r.PatientKey, r.Clinician, r.Source)
	}
	linkKey, _ := lw.App.LinkKey(context.Background())
	if want := cdshooks.PatientKey(linkKey, "lakeside", ehrtest.Patient); r.PatientKey != want {
		t.Errorf("patient key %q, want the CDS service's %q", r.PatientKey, want)
	}
	if open, err := lw.App.Referrals.HasOpenReferral(context.Background(), "lakeside", r.PatientKey); err != nil || !open {
		t.Errorf("HasOpenReferral = %v, %v", open, err)
	}
	// The prefill is used: the next form is empty.
	_, _, page = b.get(lw.origin + "/clinic/new")
	if v := formValues(page); v["given_name"] != "" || strings.Contains(page, "Filled in from the patient") {
		t.Errorf("a second form is still filled in: %v\n%s", v, lw.Logs)
	}
	// Nothing stored names the EHR's patient id.
	for _, table := range []string{lw.DB.Tables.Referrals, lw.DB.Tables.Directory} {
		for _, it := range dynamotest.Scan(t, lw.DB, table) {
			if s := fmt.Sprint(it); strings.Contains(s, ehrtest.Patient) {
				t.Errorf("a stored item names the EHR's patient id: %.300s", s)
			}
		}
	}
	// Cancelled by the clinic: closed, the key's index item goes with it.
	if st, _, b := lw.Do(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+id, nil,
		http.Header{"Authorization": {"Bearer " + lw.clinic.APIKey}}); st != http.StatusOK && st != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", st, b)
	}
	if open, err := lw.App.Referrals.HasOpenReferral(context.Background(), "lakeside", r.PatientKey); err != nil || open {
		t.Errorf("after the referral closed, HasOpenReferral = %v, %v", open, err)
	}
}

// TestLaunchRefusals: every way a launch is refused is a plain page with a
// 4xx saying why, never a 5xx, signs no one in, and names nothing of the
// chart: an iss no clinic registered, a wrong or reused state, a token
// response without patient, a scope wider than asked, an id_token for
// another audience or under a key the EHR does not publish, and an EHR
// that does not answer (gone, or hanging).
// logTimes matches the time of a JSON log line.
var logTimes = regexp.MustCompile(`"time":"[^"]*"`)

func TestLaunchRefusals(t *testing.T) {
	type result struct {
		status int
		header http.Header
		body   string
	}
	refused := func(t *testing.T, lw *launchWorld, r result, status int, says string) {
		t.Helper()
		if r.status != status || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, says) {
			t.Errorf("got %d %s, want %d and a page saying %q:\n%.600s", r.status, r.header.Get("Content-Type"), status, says, r.body)
		}
		for _, c := range (&http.Response{Header: r.header}).Cookies() {
			if (c.Name == "handoff_clinic" || c.Name == "handoff_clinic_landing") && c.MaxAge >= 0 {
				t.Errorf("a refused launch set %s", c.Name)
			}
		}
		// A log line's time has up to nine digits of nanoseconds: it may
		// spell "74048" by chance.
		logs := logTimes.ReplaceAllString(lw.Logs.String(), `"time":"…"`)
		for _, leak := range []string{ehrtest.Patient, "Colin", "COLIN", "74048", "F10.20", "66590003"} {
			if strings.Contains(r.body, leak) || strings.Contains(logs, leak) {
				t.Errorf("%q in the page or the log", leak)
			}
		}
	}
	callback := func(t *testing.T, lw *launchWorld, b *browser, cb *url.URL) result {
		t.Helper()
		st, h, body := b.get(cb.String())
		return result{st, h, body}
	}

	t.Run("an iss no clinic registered", func(t *testing.T) {
		t.Parallel()
		lw := newLaunchWorld(t, ehrtest.Break{})
		b := newBrowser(t)
		st, h, body := b.get(lw.origin + "/launch?" + url.Values{"iss": {"https://ehr.elsewhere.example/fhir"}, "launch": {"x"}}.Encode())
		refused(t, lw, result{st, h, body}, http.StatusBadRequest, "does not know the EHR")
		st, h, body = b.get(lw.origin + "/launch?launch=x")
		refused(t, lw, result{st, h, body}, http.StatusBadRequest, "opens from a patient")
	})

	t.Run("a wrong or reused state", func(t *testing.T) {
		t.Parallel()
		lw := newLaunchWorld(t, ehrtest.Break{})
		b := newBrowser(t)
		cb := lw.atEHR(t, b)
		wrong := *cb
		q := wrong.Query()
		q.Set("state", q.Get("state")+"x")
		wrong.RawQuery = q.Encode()
		refused(t, lw, callback(t, lw, b, &wrong), http.StatusBadRequest, "has expired, was already used")
		// Another browser, without the launch's cookie, cannot use it.
		refused(t, lw, callback(t, lw, newBrowser(t), cb), http.StatusBadRequest, "started in another browser")
		if r := callback(t, lw, b, cb); r.status != http.StatusSeeOther {
			t.Fatalf("the browser that started it: %d %.300s", r.status, r.body)
		}
		refused(t, lw, callback(t, lw, b, cb), http.StatusBadRequest, "was already used")
	})

	for _, c := range []struct {
		name   string
		brk    ehrtest.Break
		status int
		says   string
	}{
		{"a token response without patient", ehrtest.Break{NoPatient: true}, http.StatusForbidden, "did not say which patient"},
		{"a scope wider than asked", ehrtest.Break{WiderScope: "patient/Observation.rs"}, http.StatusForbidden, "more access than it asks for"},
		{"an id_token for another audience", ehrtest.Break{IDTokenAud: "another-app"}, http.StatusForbidden, "could not confirm who you are"},
		{"an id_token under a key the EHR does not publish", ehrtest.Break{IDTokenKey: true}, http.StatusForbidden, "could not confirm who you are"},
		{"a token endpoint that never answers", ehrtest.Break{Hang: "token"}, http.StatusFailedDependency, "did not answer in time"},
		{"a FHIR API that never answers", ehrtest.Break{Hang: "fhir"}, http.StatusFailedDependency, "did not answer in time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			lw := newLaunchWorld(t, c.brk)
			if c.brk.Hang != "" {
				// An EHR that never answers: a page within seconds. (Only
				// there: an EHR that answers slowly on a busy machine must
				// not be cut off.)
				lw.EHR.Launch.Timeout = 3 * time.Second
			}
			b := newBrowser(t)
			refused(t, lw, callback(t, lw, b, lw.atEHR(t, b)), c.status, c.says)
		})
	}

	t.Run("an EHR that is gone", func(t *testing.T) {
		t.Parallel()
		lw := newLaunchWorld(t, ehrtest.Break{})
		b := newBrowser(t)
		cb := lw.atEHR(t, b)
		if err := lw.ehr.Stop(); err != nil { // between its sign-in pages and the callback
			t.Fatal(err)
		}
		refused(t, lw, callback(t, lw, b, cb), http.StatusFailedDependency, "did not answer in time")
	})

	// Inside a frame of the EHR's page, a refusal is a page the EHR may
	// frame, once the clinic is known: the clinician reads why there,
	// rather than the browser's refusal to show it. Before, no one may.
	t.Run("a refusal inside the EHR's frame", func(t *testing.T) {
		t.Parallel()
		framedBy := func(t *testing.T, r result, origin string) {
			t.Helper()
			csp, xfo := r.header.Get("Content-Security-Policy"), r.header.Get("X-Frame-Options")
			if want := map[bool]string{true: "DENY"}[origin == "'none'"]; !strings.Contains(csp, "frame-ancestors "+origin+";") || xfo != want {
				t.Errorf("the page's frame policy: %q, X-Frame-Options %q; want frame-ancestors %s, X-Frame-Options %q", csp, xfo, origin, want)
			}
		}
		frameable := func(t *testing.T, lw *launchWorld) string {
			t.Helper()
			if st, body := lw.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/smart-app", map[string]any{
				"iss": lw.ehr.FHIR, "client_id": lw.ehr.ClientID, "frame_origins": []string{lw.ehr.Issuer},
			}); st != http.StatusOK {
				t.Fatalf("register the EHR's origin: %d %s", st, body)
			}
			return lw.ehr.Issuer
		}
		lw := newLaunchWorld(t, ehrtest.Break{NoPatient: true})
		origin := frameable(t, lw)
		b := newBrowser(t)
		b.framed = true
		cb := lw.atEHR(t, b)
		r := callback(t, lw, b, cb)
		refused(t, lw, r, http.StatusForbidden, "did not say which patient")
		framedBy(t, r, origin)
		// The state is used now: nothing says which clinic it was.
		r = callback(t, lw, b, cb)
		refused(t, lw, r, http.StatusBadRequest, "was already used")
		framedBy(t, r, "'none'")
		// An iss no clinic registered: no one may frame its page.
		st, h, body := b.get(lw.origin + "/launch?" + url.Values{"iss": {"https://ehr.elsewhere.example/fhir"}, "launch": {"x"}}.Encode())
		refused(t, lw, result{st, h, body}, http.StatusBadRequest, "does not know the EHR")
		framedBy(t, result{st, h, body}, "'none'")
		// An EHR gone before the launch: the clinic is known.
		down := newLaunchWorld(t, ehrtest.Break{Down: true})
		origin = frameable(t, down)
		st, h, body = b.get(down.ehr.LaunchURL(down.origin+"/launch", ehrtest.Launch))
		refused(t, down, result{st, h, body}, http.StatusFailedDependency, "did not answer in time")
		framedBy(t, result{st, h, body}, origin)
		// Not in a frame: the same page may be framed by no one.
		b.framed = false
		st, h, body = b.get(down.ehr.LaunchURL(down.origin+"/launch", ehrtest.Launch))
		refused(t, down, result{st, h, body}, http.StatusFailedDependency, "did not answer in time")
		framedBy(t, result{st, h, body}, "'none'")
	})

	t.Run("an EHR gone before the launch", func(t *testing.T) {
		t.Parallel()
		lw := newLaunchWorld(t, ehrtest.Break{Down: true}) // its smart-configuration cannot be read
		st, h, body := newBrowser(t).get(lw.ehr.LaunchURL(lw.origin+"/launch", ehrtest.Launch))
		refused(t, lw, result{st, h, body}, http.StatusFailedDependency, "did not answer in time")
	})
}
