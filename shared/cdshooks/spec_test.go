package cdshooks_test

import (
	"encoding/json"
	"strings"
	"testing"

	jsonschema "github.com/pb33f/jsonschema/v6"

	"github.com/handoff-health/handoff/shared/cdshooks"
	"github.com/handoff-health/handoff/shared/cdshooks/cdshookstest"
)

// request builds a call as the specification's example does, with another
// hook, context and prefetch.
func request(t testing.TB, hook string, ctx map[string]any, prefetch map[string]any) []byte {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal(cdshookstest.File(t, "request-patient-view.json"), &r); err != nil {
		t.Fatal(err)
	}
	r["hook"] = hook
	r["context"] = ctx
	if prefetch == nil {
		delete(r, "prefetch")
	} else {
		r["prefetch"] = prefetch
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func specContext(t testing.TB, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cdshookstest.File(t, name), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The transcribed schemas accept the specification's own examples, and
// refuse what its tables forbid: they are faithful, and they have teeth.
func TestSchemasAgainstTheSpecExamples(t *testing.T) {
	s := cdshookstest.Load(t)
	for _, c := range []struct {
		schema *jsonschema.Schema
		doc    []byte
	}{
		{s.Discovery, cdshookstest.File(t, "discovery.json")},
		{s.Request, cdshookstest.File(t, "request-patient-view.json")},
		{s.Response, cdshookstest.File(t, "response.json")},
		{s.Request, request(t, "patient-view", specContext(t, "context-patient-view-1.json"), nil)},
		{s.Request, request(t, "patient-view", specContext(t, "context-patient-view-2.json"), nil)},
		{s.Request, request(t, "order-select", specContext(t, "context-order-select-r4.json"), nil)},
	} {
		if err := cdshookstest.Validate(t, c.schema, c.doc); err != nil {
			t.Errorf("a spec example fails its schema: %v\n%.300s", err, c.doc)
		}
	}
	for name, c := range map[string]struct {
		schema *jsonschema.Schema
		doc    string
	}{
		"card without summary":           {s.Response, `{"cards":[{"indicator":"info","source":{"label":"x"}}]}`},
		"summary of 140 characters":      {s.Response, `{"cards":[{"summary":"` + strings.Repeat("a", 140) + `","indicator":"info","source":{"label":"x"}}]}`},
		"indicator hard-stop":            {s.Response, `{"cards":[{"summary":"s","indicator":"hard-stop","source":{"label":"x"}}]}`},
		"empty links":                    {s.Response, `{"cards":[{"summary":"s","indicator":"info","source":{"label":"x"},"links":[]}]}`},
		"link of another type":           {s.Response, `{"cards":[{"summary":"s","indicator":"info","source":{"label":"x"},"links":[{"label":"l","url":"https://a.example","type":"app"}]}]}`},
		"suggestions without behaviour":  {s.Response, `{"cards":[{"summary":"s","indicator":"info","source":{"label":"x"},"suggestions":[{"label":"l"}]}]}`},
		"no cards":                       {s.Response, `{}`},
		"no hookInstance":                {s.Request, `{"hook":"patient-view","context":{"userId":"Practitioner/1","patientId":"p"}}`},
		"authorization without server":   {s.Request, `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p"},"fhirAuthorization":{"access_token":"a","token_type":"Bearer","expires_in":300,"scope":"s","subject":"c"}}`},
		"patient-view without patientId": {s.Request, `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1"}}`},
		"order-select without orders":    {s.Request, `{"hook":"order-select","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p","selections":["MedicationRequest/1"]}}`},
		"service without description":    {s.Discovery, `{"services":[{"hook":"patient-view","id":"x"}]}`},
	} {
		if err := cdshookstest.Validate(t, c.schema, []byte(c.doc)); err == nil {
			t.Errorf("%s: the schema accepts %s", name, c.doc)
		}
	}
}

// handoff's discovery document and its cards, for every topic, have the
// specification's shape; the discovery's prefetch templates use only the
// context.patientId token both hooks allow, and the search restrictions.
func TestDiscoveryAndCardsHaveTheSpecShape(t *testing.T) {
	s := cdshookstest.Load(t)
	d := cdshooks.Discovery()
	if err := cdshookstest.Validate(t, s.Discovery, d); err != nil {
		t.Errorf("Discovery: %v", err)
	}
	hooks := map[string]bool{}
	for _, svc := range d.Services {
		hooks[svc.Hook] = true
		if svc.ID != "handoff-peer-support" {
			t.Errorf("service id %q", svc.ID)
		}
		if svc.Prefetch["patient"] != "Patient/{{context.patientId}}" ||
			svc.Prefetch["conditions"] != "Condition?patient={{context.patientId}}&clinical-status=active" {
			t.Errorf("prefetch %v", svc.Prefetch)
		}
	}
	if !hooks["patient-view"] || !hooks["order-select"] || len(d.Services) != 2 {
		t.Errorf("hooks %v", hooks)
	}
	if err := cdshookstest.Validate(t, s.Response, cdshooks.NoCards()); err != nil {
		t.Errorf("NoCards: %v", err)
	}
	if raw, _ := json.Marshal(cdshooks.Response{}); string(raw) != `{"cards":[]}` {
		t.Errorf("an empty response is %s, want {\"cards\":[]}", raw)
	}
	r := cdshooks.Response{Cards: []cdshooks.Card{cdshooks.CardFor("https://handoff.example/launch")}}
	if err := cdshookstest.Validate(t, s.Response, r); err != nil {
		t.Errorf("the card: %v", err)
	}
}

// DecodeRequest takes what the specification's examples send, and refuses
// exactly what the request schema refuses among these mutations.
func TestDecodeRequestAgreesWithTheSchema(t *testing.T) {
	s := cdshookstest.Load(t)
	base := func() map[string]any {
		var r map[string]any
		_ = json.Unmarshal(cdshookstest.File(t, "request-patient-view.json"), &r)
		return r
	}
	orderSelect := func() map[string]any {
		r := base()
		r["hook"] = "order-select"
		r["context"] = specContext(t, "context-order-select-r4.json")
		return r
	}
	cases := map[string]func() map[string]any{
		"the spec's example": base,
		"order-select R4":    orderSelect,
		"no hook":            func() map[string]any { r := base(); delete(r, "hook"); return r },
		"hookInstance not a UUID": func() map[string]any {
			r := base()
			r["hookInstance"] = "1234"
			return r
		},
		"no context": func() map[string]any { r := base(); delete(r, "context"); return r },
		"no userId": func() map[string]any {
			r := base()
			delete(r["context"].(map[string]any), "userId")
			return r
		},
		"userId without a type": func() map[string]any {
			r := base()
			r["context"].(map[string]any)["userId"] = "example"
			return r
		},
		"no patientId": func() map[string]any {
			r := base()
			delete(r["context"].(map[string]any), "patientId")
			return r
		},
		"authorization without a server": func() map[string]any { r := base(); delete(r, "fhirServer"); return r },
		"token_type MAC": func() map[string]any {
			r := base()
			r["fhirAuthorization"].(map[string]any)["token_type"] = "MAC"
			return r
		},
		"no subject": func() map[string]any {
			r := base()
			delete(r["fhirAuthorization"].(map[string]any), "subject")
			return r
		},
		"no expires_in": func() map[string]any {
			r := base()
			delete(r["fhirAuthorization"].(map[string]any), "expires_in")
			return r
		},
		"order-select without selections": func() map[string]any {
			r := orderSelect()
			delete(r["context"].(map[string]any), "selections")
			return r
		},
		"order-select without draftOrders": func() map[string]any {
			r := orderSelect()
			delete(r["context"].(map[string]any), "draftOrders")
			return r
		},
		"order-select by a patient": func() map[string]any {
			r := orderSelect()
			r["context"].(map[string]any)["userId"] = "Patient/1288992"
			return r
		},
	}
	for name, build := range cases {
		raw, _ := json.Marshal(build())
		schemaErr := cdshookstest.Validate(t, s.Request, raw)
		_, err := cdshooks.DecodeRequest(raw)
		if (schemaErr == nil) != (err == nil) {
			t.Errorf("%s: the schema says %v, DecodeRequest says %v", name, schemaErr, err)
		}
		if err != nil {
			if _, ok := err.(*cdshooks.RequestError); !ok {
				t.Errorf("%s: %T, want *cdshooks.RequestError", name, err)
			}
		}
	}
	for _, raw := range []string{`[]`, `{"hook":"patient-view"} {}`, `{"hook":"order-sign","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p"}}`} {
		if _, err := cdshooks.DecodeRequest([]byte(raw)); err == nil {
			t.Errorf("DecodeRequest(%s) = nil error", raw)
		}
	}
}
