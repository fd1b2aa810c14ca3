package chart_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/chart"
	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/testenv"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "infra", "ehrtest", "fhir", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func conditions(t *testing.T, names ...string) []fhir.Condition {
	t.Helper()
	var out []fhir.Condition
	for _, n := range names {
		r, err := fhir.ReadResource(fixture(t, n))
		if err != nil || r.Condition == nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, *r.Condition)
	}
	return out
}

// The Gravity patient and the chart's Conditions fill the form in with the
// patient's current given name and postal code and the one topic an active
// Condition maps to; a resolved Condition's topic and unmapped codes do not
// count, and the fixture's phone (555-555-5555, not a valid NANP number) is
// left for the clinician.
func TestPrefillFromFixtures(t *testing.T) {
	p, err := fhir.ReadResource(fixture(t, "Patient-pat-53234"))
	if err != nil || p.Patient == nil {
		t.Fatal(err)
	}
	got := chart.PrefillFrom(*p.Patient, conditions(t, "Condition-depression-resolved", "Condition-asthma",
		"Condition-SDOHCC-ConditionFoodInsecurityExample", "Condition-alcohol-use-disorder"))
	want := chart.Prefill{GivenName: "Colin", PostalCode: "74048", Topic: "alcohol"}
	if got != want {
		t.Errorf("PrefillFrom = %+v, want %+v", got, want)
	}
	if ts := chart.Topics(conditions(t, "Condition-depression-resolved", "Condition-asthma", "Condition-SDOHCC-ConditionFoodInsecurityExample")); len(ts) != 0 {
		t.Errorf("Topics of a chart with nothing active that maps = %v, want none", ts)
	}
}

func TestPrefillRules(t *testing.T) {
	p := fhir.Patient{
		Name: []fhir.HumanName{
			{Use: "old", Given: []string{"Old"}},
			{Use: "nickname", Given: []string{"Nick"}},
			{Use: "official", Given: []string{"Ana María"}},
		},
		Telecom: []fhir.ContactPoint{
			{System: "phone", Value: "(415) 555-0100", Use: "home"},
			{System: "phone", Value: "415 555 0199", Use: "mobile", Rank: 2},
			{System: "email", Value: "old@example.org", Period: &fhir.Period{End: "2020-01-01"}},
			{System: "email", Value: "ana@example.org", Rank: 1},
		},
		Communication: []fhir.PatientCommunication{
			{Language: fhir.CodeableConcept{Coding: []fhir.Coding{{Code: "en"}}}},
			{Language: fhir.CodeableConcept{Coding: []fhir.Coding{{Code: "es"}}}, Preferred: true},
		},
		Address: []fhir.Address{
			{Use: "old", PostalCode: "10001"},
			{PostalCode: "94110", Period: &fhir.Period{End: "2021-01-01"}},
			{Use: "home", PostalCode: "94103"},
		},
	}
	active := fhir.CodeableConcept{Coding: []fhir.Coding{{Code: "relapse"}}}
	cs := []fhir.Condition{
		{ClinicalStatus: &active, Code: &fhir.CodeableConcept{Coding: []fhir.Coding{{System: "http://snomed.info/sct", Code: "35489007"}}}},
		{ClinicalStatus: &active, Code: &fhir.CodeableConcept{Coding: []fhir.Coding{{System: "http://hl7.org/fhir/sid/icd-10-cm", Code: "F10.20"}}}},
		{ClinicalStatus: &active, VerificationStatus: &fhir.CodeableConcept{Coding: []fhir.Coding{{Code: "refuted"}}},
			Code: &fhir.CodeableConcept{Coding: []fhir.Coding{{System: "http://hl7.org/fhir/sid/icd-10-cm", Code: "F11.20"}}}},
		{Code: &fhir.CodeableConcept{Coding: []fhir.Coding{{System: "http://hl7.org/fhir/sid/icd-10-cm", Code: "F63.0"}}}},
	}
	got := chart.PrefillFrom(p, cs)
	want := chart.Prefill{GivenName: "Ana María", Email: "ana@example.org", Phone: "+14155550199", Language: "es", PostalCode: "94103", Topic: "alcohol"}
	if got != want {
		t.Errorf("PrefillFrom = %+v, want %+v", got, want)
	}
	if ts := chart.Topics(cs); fmt.Sprint(ts) != "[alcohol depression]" {
		t.Errorf("Topics = %v: a refuted Condition and one without a clinical status do not count; vocabulary order", ts)
	}
}

// A search's Bundle read by shared/fhir: other resources (an
// OperationOutcome a server adds) and Conditions of another patient or not
// active are left out; a Condition with an element of the wrong type is
// dropped, not half-read.
func TestActiveFor(t *testing.T) {
	b, err := fhir.ReadSearchset([]byte(`{"resourceType":"Bundle","link":[{"relation":"next","url":"n"}],"entry":[
		{"resource":{"resourceType":"OperationOutcome"}},
		{"resource":{"resourceType":"Condition","clinicalStatus":{"coding":[{"code":"active"}]},"subject":{"reference":"Patient/p1"}}},
		{"resource":{"resourceType":"Condition","clinicalStatus":{"coding":[{"code":"active"}]},"subject":{"reference":"Patient/p2"}}},
		{"resource":{"resourceType":"Condition","clinicalStatus":{"coding":[{"code":"inactive"}]},"subject":{"reference":"Patient/p1"}}},
		{"resource":{"resourceType":"Condition","clinicalStatus":"active","subject":{"reference":"Patient/p1"}}}]}`))
	if err != nil || b.Next != "n" {
		t.Fatalf("ReadSearchset = %+v, %v", b, err)
	}
	if cs := chart.ActiveFor(b.Resources, "p1"); len(cs) != 1 {
		t.Errorf("ActiveFor = %d Conditions, want 1", len(cs))
	}
	for _, raw := range []string{`[]`, `not json`, `{"resourceType":"Patient"}`} {
		if _, err := fhir.ReadSearchset([]byte(raw)); err == nil {
			t.Errorf("ReadSearchset(%s) = nil error", raw)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		url      string
		loopback bool
		ok       bool
	}{
		{"https://ehr.example/fhir", false, true},
		{"http://ehr.example/fhir", false, false},
		{"http://ehr.example/fhir", true, false},
		{"http://127.0.0.1:8080/fhir", false, false},
		{"http://127.0.0.1:8080/fhir", true, true},
		{"http://localhost/fhir", true, true},
		{"http://[::1]:9/fhir", true, true},
		{"https://user:pw@ehr.example/fhir", false, false},
		{"ehr.example/fhir", false, false},
		{"ftp://ehr.example/fhir", true, false},
	} {
		err := chart.CheckURL(c.url, c.loopback)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%q, %v) = %v, want ok %v", c.url, c.loopback, err, c.ok)
		}
		var ce *chart.Error
		if err != nil && (!errors.As(err, &ce) || ce.Kind != chart.BadURL) {
			t.Errorf("CheckURL(%q) = %T, want *chart.Error BadURL", c.url, err)
		}
	}
}

// The reader against a small FHIR server: it pages, stays on the EHR's
// origin, keeps only active Conditions about the patient, and reports each
// failure as a kind of *chart.Error whose text carries no URL or id.
func TestReader(t *testing.T) {
	var srv *httptest.Server
	hang := make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.URL.Path == "/fhir/Patient/p1":
			fmt.Fprint(w, `{"resourceType":"Patient","id":"p1","name":[{"given":["Ana"]}]}`)
		case r.URL.Path == "/fhir/Patient/other":
			fmt.Fprint(w, `{"resourceType":"Patient","id":"p1"}`)
		case r.URL.Path == "/fhir/Patient/slow":
			<-hang
		case r.URL.Path == "/fhir/Condition" && r.URL.Query().Get("page") == "":
			if r.URL.Query().Get("clinical-status") != "active" {
				t.Errorf("search without clinical-status=active: %s", r.URL)
			}
			next := srv.URL + "/fhir/Condition?page=2"
			if r.URL.Query().Get("patient") == "away" {
				next = "https://elsewhere.example/fhir/Condition?page=2"
			}
			json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset",
				"link":  []any{map[string]any{"relation": "next", "url": next}},
				"entry": []any{map[string]any{"resource": cond("active", "Patient/p1", "F10.20")}}})
		case r.URL.Path == "/fhir/Condition":
			json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset",
				"entry": []any{
					map[string]any{"resource": cond("resolved", "Patient/p1", "F32.9")},
					map[string]any{"resource": cond("active", "Patient/someone-else", "F11.20")},
					map[string]any{"resource": cond("active", srv.URL+"/fhir/Patient/p1", "F63.0")},
				}})
		case r.URL.Path == "/fhir/Patient/huge":
			fmt.Fprintf(w, `{"resourceType":"Patient","id":"huge","x":"%s"}`, strings.Repeat("a", 1<<20))
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	defer close(hang) // before Close, which waits for the hanging request
	base := srv.URL + "/fhir"
	// The calls that get an answer have a busy machine's time; only the one
	// that never gets one waits out a short timeout.
	r := chart.Reader{AllowLoopbackHTTP: true, Timeout: 30 * time.Second}
	quick := chart.Reader{AllowLoopbackHTTP: true, Timeout: 2 * time.Second}
	ctx := context.Background()

	p, err := r.Patient(ctx, base, "good", "p1")
	if err != nil || p.Name[0].Given[0] != "Ana" {
		t.Fatalf("Patient = %+v, %v", p, err)
	}
	cs, err := r.ActiveConditions(ctx, base, "good", "p1")
	if err != nil {
		t.Fatal(err)
	}
	if ts := chart.Topics(cs); len(cs) != 2 || fmt.Sprint(ts) != "[alcohol gambling]" {
		t.Errorf("ActiveConditions: %d, topics %v; want the two active ones about p1 over two pages", len(cs), ts)
	}

	for _, c := range []struct {
		name string
		call func() error
		kind chart.Kind
	}{
		{"bad token", func() error { _, err := r.Patient(ctx, base, "bad", "p1"); return err }, chart.Refused},
		{"another patient", func() error { _, err := r.Patient(ctx, base, "good", "other"); return err }, chart.BadAnswer},
		{"server error", func() error { _, err := r.Patient(ctx, base, "good", "broken"); return err }, chart.BadAnswer},
		{"over 1 MiB", func() error { _, err := r.Patient(ctx, base, "good", "huge"); return err }, chart.BadAnswer},
		{"not a FHIR id", func() error { _, err := r.Patient(ctx, base, "good", "../x"); return err }, chart.BadAnswer},
		{"no answer", func() error { _, err := quick.Patient(ctx, base, "good", "slow"); return err }, chart.Unreachable},
		{"closed port", func() error { _, err := r.Patient(ctx, "http://127.0.0.1:1/fhir", "good", "p1"); return err }, chart.Unreachable},
		{"plain http elsewhere", func() error { _, err := chart.Reader{}.Patient(ctx, base, "good", "p1"); return err }, chart.BadURL},
		{"a next link elsewhere", func() error { _, err := r.ActiveConditions(ctx, base, "good", "away"); return err }, chart.BadAnswer},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			var ce *chart.Error
			if !errors.As(err, &ce) || ce.Kind != c.kind {
				t.Fatalf("err = %v (%T), want kind %d", err, err, c.kind)
			}
			if msg := err.Error(); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "p1") || strings.Contains(msg, "good") {
				t.Errorf("error text %q names a URL, an id or the token", msg)
			}
		})
	}
}

func cond(status, subject, icd string) map[string]any {
	return map[string]any{"resourceType": "Condition",
		"clinicalStatus": map[string]any{"coding": []any{map[string]any{"code": status}}},
		"code":           map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": icd}}},
		"subject":        map[string]any{"reference": subject}}
}
