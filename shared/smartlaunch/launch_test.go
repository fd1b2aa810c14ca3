package smartlaunch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/chart"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/smartlaunch"
)

const publicURL = "http://127.0.0.1:3000"

var redirectURI = publicURL + smartlaunch.CallbackPath

// hangTimeout bounds each call to an EHR that does not answer: long enough
// for the calls before the broken one to succeed on a loaded machine.
const hangTimeout = 3 * time.Second

// counter counts the calls handoff makes to the EHR, by path.
type counter struct {
	mu     sync.Mutex
	calls  map[string]int
	bearer string // the last access token handoff presented
	next   http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[r.URL.Path]++
	if a := r.Header.Get("Authorization"); a != "" {
		c.bearer = strings.TrimPrefix(a, "Bearer ")
	}
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

type rig struct {
	ehr    *ehrtest.EHR
	client *smartlaunch.Client
	db     *dynamotest.DB
	calls  *counter
	reg    smartlaunch.Registration
	now    time.Time
}

func newRig(t *testing.T, brk ehrtest.Break) *rig {
	t.Helper()
	cfg := ehrtest.Standard(redirectURI)
	cfg.Break = brk
	r := &rig{ehr: ehrtest.Start(t, cfg), db: dynamotest.New(t), calls: &counter{next: http.DefaultTransport}}
	r.now = time.Now()
	hc := chart.DefaultClient()
	hc.Transport = r.calls
	r.client = &smartlaunch.Client{
		PublicURL:         publicURL,
		States:            &dynamo.Referrals{DB: r.db.Client, Table: r.db.Tables.Referrals},
		Key:               func(context.Context) ([]byte, error) { return []byte("0123456789abcdef0123456789abcdef"), nil },
		HTTP:              hc,
		AllowLoopbackHTTP: true,
		// Generous: a loaded machine must not turn a slow answer into a
		// refusal. The tests of an EHR that does not answer shorten it.
		Timeout: 30 * time.Second,
		Now:     func() time.Time { return r.now },
	}
	r.reg = smartlaunch.Registration{ClinicID: "clinic-1", ISS: r.ehr.FHIR, ClientID: r.ehr.ClientID}
	return r
}

// launch plays a launch up to the callback: Begin, then the clinician at the
// EHR's sign-in and consent pages. It returns the callback's query and the
// browser's cookies for the callback URL.
func (r *rig) launch(t *testing.T) (smartlaunch.Redirect, url.Values, []*http.Cookie) {
	t.Helper()
	ctx := context.Background()
	red, err := r.client.Begin(ctx, r.reg, ehrtest.Launch)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	cb, _ := url.Parse(redirectURI)
	jar.SetCookies(cb, []*http.Cookie{red.Cookie})
	back, err := ehrtest.SignIn(ctx, red.URL, redirectURI, "dr-rivera", jar)
	if err != nil {
		t.Fatalf("at the EHR: %v\n%s", err, r.ehr.Log())
	}
	return red, back.Query(), jar.Cookies(back)
}

// The whole EHR launch against oidc-provider: the authorization request is
// exactly what SMART App Launch 2.2 asks for, the callback yields the chart's
// prefill and who signed in, and it costs the round trips measured here.
func TestLaunch(t *testing.T) {
	r := newRig(t, ehrtest.Break{})
	ctx := context.Background()

	start := time.Now()
	red, q, cookies := r.launch(t)
	beginCalls := r.calls.take()
	u, err := url.Parse(red.URL)
	if err != nil {
		t.Fatal(err)
	}
	got := u.Query()
	var names []string
	for k := range got {
		names = append(names, k)
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "aud client_id code_challenge code_challenge_method launch redirect_uri response_type scope state" {
		t.Errorf("authorization request parameters: %v", names)
	}
	for k, want := range map[string]string{
		"response_type": "code", "client_id": r.ehr.ClientID, "redirect_uri": redirectURI, "launch": ehrtest.Launch,
		"aud": r.ehr.FHIR, "code_challenge_method": "S256", "scope": "launch openid fhirUser patient/Patient.r patient/Condition.rs",
	} {
		if got.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want)
		}
	}
	if len(got.Get("state")) < 43 || len(got.Get("code_challenge")) != 43 {
		t.Errorf("state %q, code_challenge %q: want 256-bit random values", got.Get("state"), got.Get("code_challenge"))
	}
	ck := red.Cookie
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != smartlaunch.CallbackPath || ck.MaxAge != 600 || ck.Secure ||
		strings.Contains(ck.Value, got.Get("state")) {
		t.Errorf("launch cookie %+v: want HttpOnly, SameSite=Lax, Path=/launch/callback, 10 minutes, no state in it", ck)
	}

	r.db.Counter.Reset()
	finishStart := time.Now()
	res, err := r.client.Finish(ctx, q, cookies)
	finished := time.Since(finishStart)
	if err != nil {
		t.Fatalf("Finish: %v\n%s", err, r.ehr.Log())
	}
	total := time.Since(start)
	want := smartlaunch.Result{ClinicID: "clinic-1", ISS: r.ehr.FHIR, PatientID: ehrtest.Patient,
		FHIRUser: r.ehr.FHIR + "/Practitioner/dr-rivera", Subject: "dr-rivera",
		Prefill: chart.Prefill{GivenName: "Colin", PostalCode: "74048", Topic: "alcohol"}}
	if res != want {
		t.Errorf("Finish = %+v\nwant     %+v", res, want)
	}
	finishCalls := r.calls.take()
	if db := r.db.Counter.String(); db != "DeleteItem=1/0" {
		t.Errorf("the callback's DynamoDB calls: %s, want one DeleteItem", db)
	}

	// A second launch in the same process: discovery and the EHR's keys are
	// reused.
	r.db.Counter.Reset()
	secondStart := time.Now()
	_, q2, cookies2 := r.launch(t)
	if _, err := r.client.Finish(ctx, q2, cookies2); err != nil {
		t.Fatal(err)
	}
	second := time.Since(secondStart)
	secondCalls := r.calls.take()

	t.Logf("first launch: Begin → EHR pages → Finish %v (Finish alone %v); handoff's calls to the EHR: Begin %v, Finish %v",
		total.Round(time.Millisecond), finished.Round(time.Millisecond), beginCalls, finishCalls)
	t.Logf("second launch: %v; handoff's calls to the EHR %v; DynamoDB %s", second.Round(time.Millisecond), secondCalls, r.db.Counter)
	fhirPath := strings.TrimPrefix(r.ehr.FHIR, r.ehr.Issuer) // the tenant's /t/{id}/fhir
	if beginCalls[fhirPath+"/.well-known/smart-configuration"] != 1 || len(beginCalls) != 1 {
		t.Errorf("Begin called the EHR %v, want smart-configuration once", beginCalls)
	}
	if finishCalls["/token"] != 1 || finishCalls["/jwks"] != 1 || finishCalls[fhirPath+"/Patient/"+ehrtest.Patient] != 1 || finishCalls[fhirPath+"/Condition"] != 1 || len(finishCalls) != 4 {
		t.Errorf("Finish called the EHR %v, want token, jwks, Patient and Condition once each", finishCalls)
	}
	if len(secondCalls) != 3 || secondCalls["/jwks"] != 0 || secondCalls[fhirPath+"/.well-known/smart-configuration"] != 0 {
		t.Errorf("a second launch called the EHR %v, want token, Patient and Condition (configuration and keys reused)", secondCalls)
	}
}

// Every refusal is a typed *smartlaunch.Error with a message for a plain page,
// a 4xx status, and a cause that names no patient, token or code.
func TestLaunchRefusals(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, err error, want smartlaunch.Code) {
		t.Helper()
		e, ok := err.(*smartlaunch.Error)
		if !ok {
			t.Fatalf("err = %v (%T), want *smartlaunch.Error %s", err, err, want)
		}
		if e.Code != want {
			t.Fatalf("code %s (%v), want %s", e.Code, e, want)
		}
		if !slices.Contains(pages.LaunchReasons, string(e.Code)) || e.Status() < 400 || e.Status() >= 500 {
			t.Errorf("code %s, status %d: want a reason the error page explains and a 4xx", e.Code, e.Status())
		}
		if strings.Contains(e.Error(), ehrtest.Patient) {
			t.Errorf("the error %q names the patient", e.Error())
		}
	}

	// One unbroken EHR serves the cases that do not break it.
	std := newRig(t, ehrtest.Break{})

	t.Run("state", func(t *testing.T) {
		r := std
		_, q, cookies := r.launch(t)

		other := url.Values{"code": {q.Get("code")}, "state": {"not-the-state"}}
		_, err := r.client.Finish(ctx, other, cookies)
		check(t, err, smartlaunch.BadState)

		_, err = r.client.Finish(ctx, url.Values{"code": {q.Get("code")}}, cookies)
		check(t, err, smartlaunch.BadState)

		// Another browser (no cookie, or a forged one) cannot finish it, and
		// does not use it up for the browser that started it.
		_, err = r.client.Finish(ctx, q, nil)
		check(t, err, smartlaunch.BadState)
		forged := []*http.Cookie{{Name: cookies[0].Name, Value: strings.Split(cookies[0].Value, ".")[0] + ".AAAA"}}
		_, err = r.client.Finish(ctx, q, forged)
		check(t, err, smartlaunch.BadState)

		if _, err := r.client.Finish(ctx, q, cookies); err != nil {
			t.Fatalf("the browser that started the launch: %v", err)
		}
		_, err = r.client.Finish(ctx, q, cookies)
		check(t, err, smartlaunch.BadState) // reused

		clear := r.client.ClearCookie(q, false)
		if clear == nil || clear.Name != cookies[0].Name || clear.MaxAge >= 0 {
			t.Errorf("ClearCookie = %+v", clear)
		}
	})

	t.Run("state expired", func(t *testing.T) {
		r := std
		_, q, cookies := r.launch(t)
		r.now = r.now.Add(smartlaunch.StateTTL + time.Second)
		defer func() { r.now = time.Now() }()
		_, err := r.client.Finish(ctx, q, cookies)
		check(t, err, smartlaunch.BadState)
	})

	t.Run("the EHR denied", func(t *testing.T) {
		r := std
		_, q, cookies := r.launch(t)
		_, err := r.client.Finish(ctx, url.Values{"state": {q.Get("state")}, "error": {"access_denied"}}, cookies)
		check(t, err, smartlaunch.Denied)
	})

	t.Run("no launch", func(t *testing.T) {
		r := std
		_, err := r.client.Begin(ctx, r.reg, "")
		check(t, err, smartlaunch.BadRequest)
	})

	for _, c := range []struct {
		name string
		brk  ehrtest.Break
		want smartlaunch.Code
	}{
		{"token response without patient", ehrtest.Break{NoPatient: true}, smartlaunch.NoPatient},
		{"a scope wider than asked", ehrtest.Break{WiderScope: "patient/Observation.rs"}, smartlaunch.ScopeTooWide},
		{"a wildcard scope", ehrtest.Break{WiderScope: "patient/*.rs"}, smartlaunch.ScopeTooWide},
		{"id_token for another aud", ehrtest.Break{IDTokenAud: "some-other-app"}, smartlaunch.BadIDToken},
		{"id_token under an unpublished key", ehrtest.Break{IDTokenKey: true}, smartlaunch.BadIDToken},
		{"token endpoint does not answer", ehrtest.Break{Hang: "token"}, smartlaunch.Unreachable},
		{"FHIR API does not answer", ehrtest.Break{Hang: "fhir"}, smartlaunch.Unreachable},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // the EHRs that never answer wait out their timeouts together
			r := newRig(t, c.brk)
			_, q, cookies := r.launch(t)
			if c.brk.Hang != "" {
				r.client.Timeout = hangTimeout
			}
			// An EHR that never answers ends in Unreachable once the
			// per-call timeout passes (without one, the test would hang).
			_, err := r.client.Finish(ctx, q, cookies)
			check(t, err, c.want)
		})
	}

	t.Run("discovery does not answer", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, ehrtest.Break{Hang: "discovery"})
		r.client.Timeout = hangTimeout
		_, err := r.client.Begin(ctx, r.reg, ehrtest.Launch)
		check(t, err, smartlaunch.Unreachable)
	})

	t.Run("the EHR stops between sign-in and callback", func(t *testing.T) {
		r := newRig(t, ehrtest.Break{})
		_, q, cookies := r.launch(t)
		if err := r.ehr.Stop(); err != nil {
			t.Fatal(err)
		}
		_, err := r.client.Finish(ctx, q, cookies)
		check(t, err, smartlaunch.Unreachable)
		_, err = r.client.Begin(ctx, smartlaunch.Registration{ClinicID: "c", ISS: "http://127.0.0.1:1/fhir", ClientID: "x"}, "l")
		check(t, err, smartlaunch.Unreachable)
	})

	t.Run("plain http outside a local deployment", func(t *testing.T) {
		r := std
		r.client.AllowLoopbackHTTP = false
		defer func() { r.client.AllowLoopbackHTTP = true }()
		_, err := r.client.Begin(ctx, r.reg, ehrtest.Launch)
		check(t, err, smartlaunch.BadEHR)
	})
}

// After launches that succeed and launches that are refused, nothing from
// the chart — names, contact, postal codes, the EHR's patient id, a
// Condition's codes, text or note — nor the access token or the code is in
// any stored item, the authorization URL, the cookie, or an error's text.
// (The adapter writes no log of its own.)
func TestNothingClinicalIsKept(t *testing.T) {
	t.Parallel() // its EHR that never answers waits beside the refusals' ones
	ctx := context.Background()
	var texts []string
	r := newRig(t, ehrtest.Break{})
	red, q, cookies := r.launch(t)
	texts = append(texts, red.URL, red.Cookie.String())
	if _, err := r.client.Finish(ctx, q, cookies); err != nil {
		t.Fatal(err)
	}
	secrets := []string{q.Get("code"), r.calls.bearer}
	if r.calls.bearer == "" {
		t.Fatal("no access token seen")
	}
	_, err := r.client.Finish(ctx, q, cookies) // reused
	texts = append(texts, err.Error())
	for _, brk := range []ehrtest.Break{{NoPatient: true}, {WiderScope: "patient/*.rs"}, {IDTokenKey: true}, {Hang: "fhir"}} {
		r2 := newRig(t, brk)
		_, q2, cookies2 := r2.launch(t)
		if brk.Hang != "" {
			r2.client.Timeout = hangTimeout
		}
		_, err := r2.client.Finish(ctx, q2, cookies2)
		texts = append(texts, err.Error())
		secrets = append(secrets, q2.Get("code"))
		texts = append(texts, items(t, r2.db)...)
	}
	// One launch left pending: its record is in the table while the
	// clinician is at the EHR.
	if _, err := r.client.Begin(ctx, r.reg, ehrtest.Launch); err != nil {
		t.Fatal(err)
	}
	stored := items(t, r.db)
	if !strings.Contains(strings.Join(stored, " "), "LAUNCH#") {
		t.Fatalf("the pending launch is not in the table: %v", stored)
	}
	texts = append(texts, stored...)

	needles := append([]string{
		"COLIN", "ABBAS", "BAXTER", "74047", "74048", "Meadow", "Mountain View", "555-555-5555", "1032702", ehrtest.Patient,
		"F10.20", "F1020", "66590003", "Alcohol dependence", "Alcohol use disorder", "Drinks most evenings",
		"Z59.4", "733423003", "J45.909", "195967001", "Asthma", "F32.9", "35489007", "Depress",
	}, secrets...)
	for _, text := range texts {
		for _, n := range needles {
			if n != "" && strings.Contains(strings.ToLower(text), strings.ToLower(n)) {
				t.Errorf("%q found in %.200s", n, text)
			}
		}
	}
}

// items renders every item of both tables as text.
func items(t *testing.T, db *dynamotest.DB) []string {
	t.Helper()
	var out []string
	for _, table := range []string{db.Tables.Referrals, db.Tables.Directory} {
		for _, it := range dynamotest.Scan(t, db, table) {
			var b strings.Builder
			for name, v := range it {
				switch v := v.(type) {
				case *types.AttributeValueMemberS:
					fmt.Fprintf(&b, "%s=%s ", name, v.Value)
				case *types.AttributeValueMemberN:
					fmt.Fprintf(&b, "%s=%s ", name, v.Value)
				case *types.AttributeValueMemberB:
					fmt.Fprintf(&b, "%s=%s ", name, v.Value)
				default:
					fmt.Fprintf(&b, "%s=%#v ", name, v)
				}
			}
			out = append(out, b.String())
		}
	}
	return out
}
