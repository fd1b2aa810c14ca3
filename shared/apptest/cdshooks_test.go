package apptest_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	jsonschema "github.com/pb33f/jsonschema/v6"

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/cdshooks"
	"github.com/handoff-health/handoff/shared/cdshooks/cdshookstest"
	"github.com/handoff-health/handoff/shared/testenv"
)

// hookWorld is a launch world whose clinic also registered its EHR's keys
// as its FHIR client: the keys that sign the EHR's CDS Hooks JWTs. Every
// call it makes is checked against the CDS Hooks specification's shapes
// (the request before it is sent, the answer after).
type hookWorld struct {
	*launchWorld
	keys    *ehr
	service string // the service's URL: the JWTs' aud
	spec    cdshookstest.Schemas
}

func newHookWorld(t testing.TB) *hookWorld {
	t.Helper()
	hw := &hookWorld{launchWorld: newLaunchWorld(t, ehrtest.Break{}), keys: newEHR(asT(t)), spec: cdshookstest.Load(t)}
	if st, b := hw.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/fhir-client", map[string]any{"jwks": json.RawMessage(hw.keys.jwks())}); st != http.StatusOK {
		t.Fatalf("register the EHR's keys: %d %s", st, b)
	}
	hw.service = hw.Server.URL + "/cds-services/handoff-peer-support"
	return hw
}

// conforms fails the test when doc does not have the schema's shape.
func conforms(t testing.TB, s *jsonschema.Schema, what string, doc []byte) {
	t.Helper()
	if err := cdshookstest.Validate(t, s, doc); err != nil {
		t.Errorf("%s does not have the specification's shape: %v\n%.400s", what, err, doc)
	}
}

// fixture is one of the test EHR's FHIR fixtures, about patient.
func fixture(t testing.TB, name, patient string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "infra", "ehrtest", "fhir", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r["resourceType"] == "Patient" {
		r["id"] = patient
	} else {
		r["subject"] = map[string]any{"reference": "Patient/" + patient}
	}
	return r
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// hookCall is what one CDS Hooks call says.
type hookCall struct {
	hook       string   // patient-view when empty, or order-select
	patient    string   // context.patientId
	conditions []string // the fixtures prefetched as the active Conditions' searchset; nil: no prefetch
	token      string   // an access token of the EHR's, sent as fhirAuthorization; "": none
}

// request builds a call as the specification's example does: its
// request-patient-view.json, with a new hookInstance, the test EHR as
// fhirServer, the hook's context (patient-view's from the example,
// order-select's from the hook library's R4 example), the patient, and
// the prefetch handoff's discovery asks for — the Patient and the active
// Conditions as a searchset Bundle — or none.
func (hw *hookWorld) request(t testing.TB, c hookCall) []byte {
	t.Helper()
	var req map[string]any
	if err := json.Unmarshal(cdshookstest.File(t, "request-patient-view.json"), &req); err != nil {
		t.Fatal(err)
	}
	req["hookInstance"], req["fhirServer"] = newUUID(), hw.ehr.FHIR
	ctx := req["context"].(map[string]any)
	if c.hook == cdshooks.HookOrderSelect {
		req["hook"] = c.hook
		if err := json.Unmarshal(cdshookstest.File(t, "context-order-select-r4.json"), &ctx); err != nil {
			t.Fatal(err)
		}
		req["context"] = ctx
	}
	ctx["userId"], ctx["patientId"] = "Practitioner/dr-rivera", c.patient
	delete(req, "prefetch")
	if c.conditions != nil {
		entries := []any{}
		for _, n := range c.conditions {
			entries = append(entries, map[string]any{"fullUrl": hw.ehr.FHIR + "/Condition/" + n, "resource": fixture(t, n, c.patient)})
		}
		req["prefetch"] = map[string]any{
			cdshooks.PrefetchPatient:    fixture(t, ehrtest.PatientColin, c.patient),
			cdshooks.PrefetchConditions: map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries},
		}
	}
	delete(req, "fhirAuthorization")
	if c.token != "" {
		req["fhirAuthorization"] = map[string]any{"access_token": c.token, "token_type": "Bearer", "expires_in": 300,
			"scope": "patient/Patient.r patient/Condition.rs", "subject": "handoff", "patient": c.patient}
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	conforms(t, hw.spec.Request, "the test's "+cmp.Or(c.hook, cdshooks.HookPatientView)+" request", b)
	return b
}

// patientView is a patient-view call with the named Conditions prefetched.
func (hw *hookWorld) patientView(t testing.TB, patient string, conditions []string) []byte {
	t.Helper()
	return hw.request(t, hookCall{patient: patient, conditions: conditions})
}

// jwt is the EHR's JWT for a call: iss = sub = the clinic's client id, aud
// the service, exp in 4 minutes, a new jti; change adjusts the claims.
func (hw *hookWorld) jwt(t testing.TB, kid string, change func(*jwt.Claims)) string {
	t.Helper()
	c := claimsFor("lakeside", hw.service, hw.Now())
	c.IssuedAt = jwt.NewNumericDate(hw.Now())
	if change != nil {
		change(&c)
	}
	return hw.keys.assertion(asT(t), jose.RS384, kid, c, nil)
}

// call posts a CDS Hooks request with a bearer JWT. A 200's body must have
// the specification's response shape, a refusal's be problem+json.
func (hw *hookWorld) call(t testing.TB, token string, body []byte) (int, map[string]any) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	st, rh, b := hw.Do(http.MethodPost, "/cds-services/handoff-peer-support", body, h)
	if st == http.StatusOK {
		conforms(t, hw.spec.Response, "the service's answer", b)
	} else if ct := rh.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("a %d is %s, want problem+json: %s", st, ct, b)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return st, out
}

// asT is t for the EHR client's helpers, which take a *testing.T; a
// benchmark's is a bare one, as BenchmarkTokenEndpoint's is.
func asT(t testing.TB) *testing.T {
	if tt, ok := t.(*testing.T); ok {
		return tt
	}
	return &testing.T{}
}

func cards(t testing.TB, out map[string]any) []map[string]any {
	t.Helper()
	raw, ok := out["cards"].([]any)
	if !ok {
		t.Fatalf("no cards array: %v", out)
	}
	var cs []map[string]any
	for _, c := range raw {
		cs = append(cs, c.(map[string]any))
	}
	return cs
}

// TestCDSHooksOverHTTP: the CDS service through its routes, every request
// built as the specification's example is and every answer checked
// against its response shape. Discovery lists the service for both hooks
// with its prefetch; a chart with an active alcohol use disorder and no
// open referral gets one card (patient-view and order-select alike) whose
// SMART link launches handoff (followed here to the filled form); the
// prefetch is used when given (the EHR's FHIR API hangs meanwhile, and
// the card comes all the same), and without one the Conditions are read
// with the hook's fhirAuthorization; once the patient has an open referral
// (made from that launch), no card; a chart whose Conditions map to no
// topic, no card; every bad JWT is a 401, and every bad request a 4xx.
func TestCDSHooksOverHTTP(t *testing.T) {
	hw := newHookWorld(t)
	all := []string{ehrtest.AlcoholUse, ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve}

	st, _, disc := hw.Do(http.MethodGet, "/cds-services", nil, nil)
	var d struct {
		Services []struct {
			Hook, ID string
			Prefetch map[string]string
		}
	}
	if err := json.Unmarshal(disc, &d); st != http.StatusOK || err != nil || len(d.Services) != 2 || d.Services[0].ID != "handoff-peer-support" ||
		d.Services[0].Prefetch["patient"] != "Patient/{{context.patientId}}" || d.Services[0].Prefetch["conditions"] == "" {
		t.Fatalf("discovery: %d %s", st, disc)
	}
	conforms(t, hw.spec.Discovery, "the discovery document", disc)

	st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.patientView(t, ehrtest.Patient, all))
	cs := cards(t, out)
	if st != http.StatusOK || len(cs) != 1 {
		t.Fatalf("alcohol use, no open referral: %d %v, want one card", st, out)
	}
	card := cs[0]
	links, _ := card["links"].([]any)
	if card["indicator"] != "info" || card["source"].(map[string]any)["label"] != "handoff" || len(card["summary"].(string)) >= 140 || len(links) != 1 {
		t.Fatalf("the card: %v", card)
	}
	link := links[0].(map[string]any)
	if link["type"] != "smart" || link["url"] != hw.origin+"/launch" {
		t.Fatalf("the card's link: %v", link)
	}
	raw, _ := json.Marshal(out)
	for _, leak := range []string{"alcohol", "Alcohol", "F10", "66590003", ehrtest.Patient, "Colin"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("the card carries %q: %s", leak, raw)
		}
	}

	// order-select, as the hook library's example sends it: the same card.
	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.request(t, hookCall{hook: cdshooks.HookOrderSelect, patient: ehrtest.Patient, conditions: all})); st != http.StatusOK || len(cards(t, out)) != 1 {
		t.Errorf("order-select: %d %v, want one card", st, out)
	}

	// Not prefetched: the Conditions are read from the EHR with the hook's
	// fhirAuthorization (a token of the EHR's, which its FHIR API checks).
	token, err := hw.ehr.AccessToken(context.Background(), ehrtest.Launch)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.request(t, hookCall{patient: ehrtest.Patient, token: token})); st != http.StatusOK || len(cards(t, out)) != 1 {
		t.Errorf("read with fhirAuthorization: %d %v, want one card", st, out)
	}
	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.request(t, hookCall{patient: ehrtest.Patient, token: token + "x"})); st != http.StatusPreconditionFailed {
		t.Errorf("a fhirAuthorization the EHR refuses: %d %v, want 412", st, out)
	}
	// Prefetched: used, not read again. With the EHR's FHIR API hanging, a
	// call that has both a prefetch and a fhirAuthorization is answered at
	// once from the prefetch; one with only the token waits for the read
	// and is a 412.
	if err := hw.ehr.SetBreak(ehrtest.Break{Hang: "fhir"}); err != nil {
		t.Fatal(err)
	}
	readTimeout := hw.EHR.Decider.Reader.Timeout
	hw.EHR.Decider.Reader.Timeout = 2 * time.Second
	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.request(t, hookCall{patient: ehrtest.Patient, conditions: all, token: token})); st != http.StatusOK || len(cards(t, out)) != 1 {
		t.Errorf("prefetched, the EHR's FHIR API hanging: %d %v, want one card", st, out)
	}
	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.request(t, hookCall{patient: ehrtest.Patient, token: token})); st != http.StatusPreconditionFailed {
		t.Errorf("not prefetched, the EHR's FHIR API hanging: %d %v, want 412", st, out)
	}
	if err := hw.ehr.SetBreak(ehrtest.Break{}); err != nil {
		t.Fatal(err)
	}
	// The calls below read an EHR that answers: a busy machine's time again.
	hw.EHR.Decider.Reader.Timeout = readTimeout

	// The smart link launches: the EHR opens it with iss and launch, and the
	// clinician lands on the form filled in from the chart; the referral
	// made from it is open.
	b := newBrowser(t)
	st2, h2, _ := b.get(hw.ehr.LaunchURL(link["url"].(string), ehrtest.Launch))
	if st2 != http.StatusFound {
		t.Fatalf("the card's link: %d", st2)
	}
	cb, err := ehrtest.SignIn(context.Background(), h2.Get("Location"), hw.redirect, "dr-rivera", b.jar)
	if err != nil {
		t.Fatal(err)
	}
	if st, h, _ := b.get(cb.String()); st != http.StatusSeeOther || h.Get("Location") != "/clinic/new" {
		t.Fatalf("the callback: %d", st)
	}
	_, _, page := b.get(hw.origin + "/clinic/new")
	form := formValues(page)
	if form["given_name"] != "Colin" || form["topic"] != "alcohol" {
		t.Fatalf("the form from the card: %v", form)
	}
	res, err := b.c.PostForm(hw.origin+"/clinic/referrals", url.Values{"csrf": {csrfOf(page)}, "form_key": {formKeyOf(page)},
		"given_name": {"Colin"}, "postal_code": {"94110"}, "topic": {"alcohol"}, "language": {"en"}})
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %v %v", res, err)
	}
	res.Body.Close()

	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.patientView(t, ehrtest.Patient, all)); st != http.StatusOK || len(cards(t, out)) != 0 {
		t.Errorf("with an open referral: %d %v, want no card", st, out)
	}
	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.patientView(t, "pat-other", []string{ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve})); st != http.StatusOK || len(cards(t, out)) != 0 {
		t.Errorf("Conditions that map to no topic: %d %v, want no card", st, out)
	}
	// Bad JWTs: 401, whatever the body.
	good := hw.patientView(t, ehrtest.Patient, all)
	replayed := hw.jwt(t, "rsa-1", nil)
	if st, _ := hw.call(t, replayed, good); st != http.StatusOK {
		t.Fatalf("first use of a JWT: %d", st)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"rsa-1"}`))
	claims, _ := json.Marshal(claimsFor("lakeside", hw.service, hw.Now()))
	unsigned := header + "." + base64.RawURLEncoding.EncodeToString(claims) + "."
	for name, token := range map[string]string{
		"alg none":           unsigned,
		"wrong aud":          hw.jwt(t, "rsa-1", func(c *jwt.Claims) { c.Audience = jwt.Audience{hw.Server.URL + "/oauth/token"} }),
		"expired":            hw.jwt(t, "rsa-1", func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(hw.Now().Add(-time.Minute)) }),
		"replayed jti":       replayed,
		"unknown key":        hw.jwt(t, "not-registered", nil),
		"another client":     hw.jwt(t, "rsa-1", func(c *jwt.Claims) { c.Issuer, c.Subject = "nobody", "nobody" }),
		"sub other than iss": hw.jwt(t, "rsa-1", func(c *jwt.Claims) { c.Subject = "Practitioner/dr-rivera" }),
		"no token":           "",
	} {
		st, out := hw.call(t, token, good)
		if st != http.StatusUnauthorized {
			t.Errorf("%s: %d %v, want 401", name, st, out)
		}
	}

	// A clinic whose EHR launches nothing gets no card: its link would lead nowhere.
	hw.NewClinic("nolaunch", "")
	if st, b := hw.Admin(http.MethodPut, "/v1/admin/clinics/nolaunch/fhir-client", map[string]any{"jwks": json.RawMessage(hw.keys.jwks())}); st != http.StatusOK {
		t.Fatalf("register keys: %d %s", st, b)
	}
	tok := hw.jwt(t, "rsa-1", func(c *jwt.Claims) { c.Issuer, c.Subject = "nolaunch", "nolaunch" })
	if st, out := hw.call(t, tok, hw.patientView(t, "pat-x", all)); st != http.StatusOK || len(cards(t, out)) != 0 {
		t.Errorf("a clinic without a SMART app: %d %v, want no card", st, out)
	}

	// Bad requests are 400, 415, 412 — never a 5xx.
	for name, c := range map[string]struct {
		body   []byte
		ctype  string
		status int
	}{
		"not JSON":           {[]byte("{"), "application/json", http.StatusBadRequest},
		"another hook":       {bytes.Replace(good, []byte(`"patient-view"`), []byte(`"encounter-start"`), 1), "application/json", http.StatusBadRequest},
		"a form":             {good, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		"nothing to read":    {hw.patientView(t, ehrtest.Patient, nil), "application/json", http.StatusPreconditionFailed},
		"over 2 MiB of body": {append(bytes.TrimSuffix(good, []byte("}")), []byte(`,"x":"`+strings.Repeat("a", 2<<20)+`"}`)...), "application/json", http.StatusRequestEntityTooLarge},
	} {
		st, _, b := hw.Do(http.MethodPost, "/cds-services/handoff-peer-support", c.body,
			http.Header{"Content-Type": {c.ctype}, "Authorization": {"Bearer " + hw.jwt(t, "rsa-1", nil)}})
		if st != c.status {
			t.Errorf("%s: %d %s, want %d", name, st, b, c.status)
		}
	}
}

func csrfOf(page string) string    { return formField(page, "csrf") }
func formKeyOf(page string) string { return formField(page, "form_key") }

func formField(page, name string) string {
	i := strings.Index(page, `name="`+name+`" value="`)
	if i < 0 {
		return ""
	}
	rest := page[i+len(`name="`+name+`" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}
