package apptest_test

import (
	"bytes"
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

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/testenv"
)

// hookWorld is a launch world whose clinic also registered its EHR's keys
// as its FHIR client: the keys that sign the EHR's CDS Hooks JWTs.
type hookWorld struct {
	*launchWorld
	keys    *ehr
	service string // the service's URL: the JWTs' aud
}

func newHookWorld(t *testing.T) *hookWorld {
	t.Helper()
	hw := &hookWorld{launchWorld: newLaunchWorld(t, ehrtest.Break{}), keys: newEHR(t)}
	if st, b := hw.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/fhir-client", map[string]any{"jwks": json.RawMessage(hw.keys.jwks())}); st != http.StatusOK {
		t.Fatalf("register the EHR's keys: %d %s", st, b)
	}
	hw.service = hw.Server.URL + "/cds-services/handoff-peer-support"
	return hw
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

// patientView is a patient-view call as the CDS Hooks 2.0 specification's
// example builds it, with the prefetch handoff's discovery asks for (the
// Patient, and the active Conditions as a searchset Bundle of the named
// fixtures); no prefetch when conditions is nil.
func (hw *hookWorld) patientView(t testing.TB, patient string, conditions []string) []byte {
	t.Helper()
	req := map[string]any{
		"hookInstance": newUUID(), "fhirServer": hw.ehr.FHIR, "hook": "patient-view",
		"context": map[string]any{"userId": "Practitioner/dr-rivera", "patientId": patient},
	}
	if conditions != nil {
		entries := []any{}
		for _, n := range conditions {
			entries = append(entries, map[string]any{"fullUrl": hw.ehr.FHIR + "/Condition/" + n, "resource": fixture(t, n, patient)})
		}
		req["prefetch"] = map[string]any{
			"patient":    fixture(t, ehrtest.PatientColin, patient),
			"conditions": map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries},
		}
	}
	b, _ := json.Marshal(req)
	return b
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
	return hw.keys.assertion(t.(*testing.T), jose.RS384, kid, c, nil)
}

// call posts a CDS Hooks request with a bearer JWT.
func (hw *hookWorld) call(t testing.TB, token string, body []byte) (int, map[string]any) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	st, _, b := hw.Do(http.MethodPost, "/cds-services/handoff-peer-support", body, h)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return st, out
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

// TestCDSHooksOverHTTP: the CDS service through its routes. Discovery lists
// the service with its prefetch; a chart with an active alcohol use
// disorder and no open referral gets one card whose SMART link launches
// handoff (followed here to the filled form); once the patient has an open
// referral (made from that launch), no card; a chart whose Conditions map
// to no topic, no card; without a prefetch the Conditions are read with
// the hook's fhirAuthorization; and every bad JWT is a 401.
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

	// Not prefetched: the Conditions are read from the EHR with the hook's
	// fhirAuthorization (a token of the EHR's).
	token, err := hw.ehr.AccessToken(context.Background(), ehrtest.Launch)
	if err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	_ = json.Unmarshal(hw.patientView(t, ehrtest.Patient, nil), &req)
	req["fhirAuthorization"] = map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 300,
		"scope": "patient/Patient.r patient/Condition.rs", "subject": "handoff", "patient": ehrtest.Patient}
	body, _ := json.Marshal(req)
	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), body); st != http.StatusOK || len(cards(t, out)) != 1 {
		t.Errorf("read with fhirAuthorization: %d %v, want one card", st, out)
	}

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
