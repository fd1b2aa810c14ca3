package cdshooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/cdshooks"
	"github.com/handoff-health/handoff/shared/cdshooks/cdshookstest"
	"github.com/handoff-health/handoff/shared/chart"
	"github.com/handoff-health/handoff/shared/testenv"
)

const launchURL = "https://handoff.example/launch"

var patientKeyKey = []byte("0123456789abcdef0123456789abcdef")

// openSet is a small OpenReferrals: the wiring asks the referral store,
// which keeps PatientKey values beside the clinic's open referrals.
type openSet struct {
	mu   sync.Mutex
	keys map[string]bool // clinic + "|" + patient key
	asks int
}

func (o *openSet) HasOpenReferral(_ context.Context, clinicID, key string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.asks++
	return o.keys[clinicID+"|"+key], nil
}

func (o *openSet) open(clinicID, patientID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys == nil {
		o.keys = map[string]bool{}
	}
	o.keys[clinicID+"|"+cdshooks.PatientKey(patientKeyKey, clinicID, patientID)] = true
}

func decider(open *openSet) *cdshooks.Decider {
	return &cdshooks.Decider{LaunchURL: launchURL, Referrals: open,
		Key:    func(context.Context) ([]byte, error) { return patientKeyKey, nil },
		Reader: chart.Reader{AllowLoopbackHTTP: true, Timeout: 20 * time.Second}}
}

// conditionsBundle is a searchset Bundle of the fixture Conditions, as an
// EHR would prefetch Condition?patient={{context.patientId}}&clinical-status=active
// (the resolved Condition left in: the service must not count it).
func conditionsBundle(t testing.TB, patient string, names ...string) map[string]any {
	t.Helper()
	var entries []any
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "infra", "ehrtest", "fhir", n+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		c["subject"] = map[string]any{"reference": "Patient/" + patient}
		entries = append(entries, map[string]any{"resource": c})
	}
	return map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries}
}

func patientView(patient string) map[string]any {
	return map[string]any{"userId": "Practitioner/dr-rivera", "patientId": patient}
}

func decode(t testing.TB, raw []byte) cdshooks.Request {
	t.Helper()
	req, err := cdshooks.DecodeRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// The card decision from prefetched Conditions: a chart with an active
// alcohol use disorder and no open referral gets one card whose SMART link
// launches handoff; with an open referral, or with nothing active that maps
// to a topic, or a prefetch of null, no card. Every answer has the spec's
// shape, and the card carries no code or Condition text.
func TestCardDecision(t *testing.T) {
	s := cdshookstest.Load(t)
	caller := cdshooks.Caller{ClientID: "clinic-1"}
	ctx := context.Background()
	open := &openSet{}
	open.open("clinic-1", "pat-with-referral")
	d := decider(open)
	all := []string{ehrtest.AlcoholUse, ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve}

	for _, c := range []struct {
		name, hook, patient string
		prefetch            any
		cards               int
	}{
		{"alcohol use, no open referral", "patient-view", "pat-53234", conditionsBundle(t, "pat-53234", all...), 1},
		{"the same on order-select", "order-select", "pat-53234", conditionsBundle(t, "pat-53234", all...), 1},
		{"alcohol use, an open referral", "patient-view", "pat-with-referral", conditionsBundle(t, "pat-with-referral", all...), 0},
		{"nothing that maps to a topic", "patient-view", "pat-53234", conditionsBundle(t, "pat-53234", ehrtest.FoodInsecurity, ehrtest.Asthma), 0},
		{"a topic, but resolved", "patient-view", "pat-53234", conditionsBundle(t, "pat-53234", ehrtest.DepressionResolve), 0},
		{"alcohol use of another patient", "patient-view", "pat-53234", conditionsBundle(t, "someone-else", ehrtest.AlcoholUse), 0},
		{"prefetch null: no Conditions", "patient-view", "pat-53234", nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctxt := patientView(c.patient)
			if c.hook == "order-select" {
				ctxt = specContext(t, "context-order-select-r4.json")
				ctxt["patientId"] = c.patient
			}
			raw := request(t, c.hook, ctxt, map[string]any{"conditions": c.prefetch})
			if err := cdshookstest.Validate(t, s.Request, raw); err != nil {
				t.Fatalf("the test's request is not of the spec's shape: %v", err)
			}
			res, err := d.Answer(ctx, caller, decode(t, raw))
			if err != nil {
				t.Fatal(err)
			}
			if err := cdshookstest.Validate(t, s.Response, res); err != nil {
				t.Errorf("the response is not of the spec's shape: %v", err)
			}
			if len(res.Cards) != c.cards {
				t.Fatalf("%d cards, want %d", len(res.Cards), c.cards)
			}
			if c.cards == 0 {
				return
			}
			card := res.Cards[0]
			if card.Indicator != "info" || card.Source.Label != "handoff" || len(card.Summary) >= 140 ||
				len(card.Links) != 1 || card.Links[0].Type != "smart" || card.Links[0].URL != launchURL {
				t.Errorf("card %+v", card)
			}
			out, _ := json.Marshal(res)
			// Nothing clinical reaches the chart: no code, text, topic or id.
			for _, leak := range []string{"F10", "66590003", "Alcohol dependence", "Drinks most evenings", "Alcohol use disorder", "pat-53234", "alcohol", "Alcohol"} {
				if strings.Contains(string(out), leak) {
					t.Errorf("the card carries %q: %s", leak, out)
				}
			}
		})
	}
}

// Without a prefetch the service reads the Conditions from the EHR's FHIR
// server with the hook's fhirAuthorization (the real test EHR, its token
// minted by a launch); without either, or when the EHR does not answer, it
// cannot decide: a *PreconditionError (412).
func TestCardFromTheEHR(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ehr := ehrtest.Start(t, ehrtest.Standard("http://127.0.0.1:9/cb"))
	token, err := ehr.AccessToken(ctx, ehrtest.Launch)
	if err != nil {
		t.Fatal(err)
	}
	withAuth := func(t *testing.T, server, tok string, prefetch map[string]any) cdshooks.Request {
		var r map[string]any
		_ = json.Unmarshal(request(t, "patient-view", patientView(ehrtest.Patient), prefetch), &r)
		r["fhirServer"] = server
		a := r["fhirAuthorization"].(map[string]any)
		a["access_token"], a["scope"], a["patient"] = tok, "patient/Patient.r patient/Condition.rs", ehrtest.Patient
		raw, _ := json.Marshal(r)
		if err := cdshookstest.Validate(t, cdshookstest.Load(t).Request, raw); err != nil {
			t.Fatal(err)
		}
		return decode(t, raw)
	}
	d := decider(&openSet{})
	caller := cdshooks.Caller{ClientID: "clinic-1"}

	res, err := d.Answer(ctx, caller, withAuth(t, ehr.FHIR, token, nil))
	if err != nil || len(res.Cards) != 1 {
		t.Fatalf("read from the EHR: %+v, %v", res, err)
	}
	// A prefetch the EHR could not fill (an OperationOutcome) is read instead.
	res, err = d.Answer(ctx, caller, withAuth(t, ehr.FHIR, token, map[string]any{"conditions": map[string]any{
		"resourceType": "OperationOutcome", "issue": []any{map[string]any{"severity": "error", "code": "timeout"}}}}))
	if err != nil || len(res.Cards) != 1 {
		t.Fatalf("after an OperationOutcome prefetch: %+v, %v", res, err)
	}

	var pe *cdshooks.PreconditionError
	noAuth := decode(t, request(t, "patient-view", patientView(ehrtest.Patient), nil))
	noAuth.FHIRAuthorization, noAuth.FHIRServer = nil, ""
	if _, err := d.Answer(ctx, caller, noAuth); !errors.As(err, &pe) {
		t.Errorf("no prefetch, no authorization: %v, want *PreconditionError", err)
	}
	if _, err := d.Answer(ctx, caller, withAuth(t, ehr.FHIR, "not-a-token", nil)); !errors.As(err, &pe) {
		t.Errorf("a token the EHR refuses: %v, want *PreconditionError", err)
	}
	if err := ehr.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Answer(ctx, caller, withAuth(t, ehr.FHIR, token, nil)); !errors.As(err, &pe) {
		t.Errorf("an EHR that does not answer: %v, want *PreconditionError", err)
	}
}

// BenchmarkCard is the card decision warm, the way a call is served: the
// EHR's JWT verified (ES384) and its jti recorded in DynamoDB (the embedded
// server, through the SDK), the request decoded, the prefetched Conditions
// mapped, the open-referral question asked, the card made.
func BenchmarkCard(b *testing.B) {
	now := time.Now().Truncate(time.Second)
	keys := newEHRKeys(b, "clinic-1")
	v := verifier(b, serviceURL, keys.keyring, func() time.Time { return now })
	d := decider(&openSet{})
	body := request(b, "patient-view", patientView("pat-53234"), map[string]any{
		"conditions": conditionsBundle(b, "pat-53234", ehrtest.AlcoholUse, ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve)})
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i] = sign(b, keys.es, now, nil)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		caller, err := v.Authenticate(ctx, tokens[i])
		if err != nil {
			b.Fatal(err)
		}
		serveCard(ctx, b, d, caller, body)
	}
}

// serveCard is the card decision as the service serves it: body decoded,
// answered for caller with one card, the answer encoded.
func serveCard(ctx context.Context, b *testing.B, d *cdshooks.Decider, caller cdshooks.Caller, body []byte) {
	req, err := cdshooks.DecodeRequest(body)
	if err != nil {
		b.Fatal(err)
	}
	res, err := d.Answer(ctx, caller, req)
	if err != nil || len(res.Cards) != 1 {
		b.Fatal(res, err)
	}
	if _, err := json.Marshal(res); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCardDecision is the decision alone: decode, map, decide, encode.
func BenchmarkCardDecision(b *testing.B) {
	d := decider(&openSet{})
	body := request(b, "patient-view", patientView("pat-53234"), map[string]any{
		"conditions": conditionsBundle(b, "pat-53234", ehrtest.AlcoholUse, ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve)})
	ctx := context.Background()
	caller := cdshooks.Caller{ClientID: "clinic-1"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serveCard(ctx, b, d, caller, body)
	}
}
