package ehrtest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/handoff-health/handoff/infra/ehrtest"
)

const redirect = "http://127.0.0.1:9/launch/callback"

// TestEHR walks the EHR launch by hand against the test EHR, to show it is
// the EHR a SMART app expects: discovery, the authorization request with
// launch, aud and PKCE, its sign-in and consent pages, the token response
// with patient and an id_token carrying fhirUser, the FHIR reads the token
// allows and the ones it does not.
func TestEHR(t *testing.T) {
	ehr := ehrtest.Start(t, ehrtest.Standard(redirect))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var conf struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	getJSON(t, ehr.FHIR+"/.well-known/smart-configuration", "", http.StatusOK, &conf)
	if conf.AuthorizationEndpoint == "" || conf.TokenEndpoint == "" || conf.Issuer != ehr.Issuer {
		t.Fatalf("smart-configuration: %+v", conf)
	}

	oc := oauth2.Config{ClientID: ehr.ClientID, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: conf.AuthorizationEndpoint, TokenURL: conf.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   strings.Fields("launch openid fhirUser patient/Patient.r patient/Condition.rs")}
	verifier := oauth2.GenerateVerifier()
	authURL := oc.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("launch", ehrtest.Launch), oauth2.SetAuthURLParam("aud", ehr.FHIR))

	t.Run("an unknown launch or another aud is refused", func(t *testing.T) {
		for _, u := range []string{
			oc.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("launch", "nope"), oauth2.SetAuthURLParam("aud", ehr.FHIR)),
			oc.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("launch", ehrtest.Launch), oauth2.SetAuthURLParam("aud", "https://elsewhere.example/fhir")),
		} {
			if _, err := ehrtest.SignIn(ctx, u, redirect, "dr-rivera", nil); err == nil || !strings.Contains(err.Error(), "400") {
				t.Errorf("SignIn = %v, want the EHR's 400", err)
			}
		}
	})

	t.Run("without PKCE the EHR refuses", func(t *testing.T) {
		cb, err := ehrtest.SignIn(ctx, oc.AuthCodeURL("s", oauth2.SetAuthURLParam("launch", ehrtest.Launch), oauth2.SetAuthURLParam("aud", ehr.FHIR)), redirect, "dr-rivera", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cb.Query().Get("error") != "invalid_request" {
			t.Errorf("callback %s, want error=invalid_request", cb)
		}
	})

	cb, err := ehrtest.SignIn(ctx, authURL, redirect, "dr-rivera", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query().Get("state") != "state-1" || cb.Query().Get("code") == "" {
		t.Fatalf("callback %s", cb)
	}
	tok, err := oc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := tok.Extra("patient").(string); p != ehrtest.Patient {
		t.Errorf("patient = %q", p)
	}
	if s, _ := tok.Extra("scope").(string); s != "launch openid fhirUser patient/Patient.r patient/Condition.rs" {
		t.Errorf("scope = %q", s)
	}
	idt, _ := tok.Extra("id_token").(string)
	parts := strings.Split(idt, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q", idt)
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	_ = json.Unmarshal(claims, &c)
	if c["fhirUser"] != ehr.FHIR+"/Practitioner/dr-rivera" || c["aud"] != ehr.ClientID || c["iss"] != ehr.Issuer {
		t.Errorf("id_token claims %s", claims)
	}

	at := tok.AccessToken
	if body := get(t, ehr.FHIR+"/Patient/"+ehrtest.Patient, at, http.StatusOK); !strings.Contains(string(body), `"postalCode"`) {
		t.Errorf("Patient: %.200s", body)
	}
	var bundle struct {
		Total int `json:"total"`
	}
	getJSON(t, ehr.FHIR+"/Condition?"+url.Values{"patient": {ehrtest.Patient}, "clinical-status": {"active"}}.Encode(), at, http.StatusOK, &bundle)
	if bundle.Total != 3 {
		t.Errorf("active Conditions: %d, want 3", bundle.Total)
	}
	get(t, ehr.FHIR+"/Patient/"+ehrtest.Patient, "", http.StatusUnauthorized)
	get(t, ehr.FHIR+"/Patient/"+ehrtest.Patient, at+"x", http.StatusUnauthorized)
	get(t, ehr.FHIR+"/Patient/someone-else", at, http.StatusForbidden)
	get(t, ehr.FHIR+"/Condition?patient=someone-else", at, http.StatusForbidden)

	// Tenants share the process, not their data: another test's tenant is
	// another FHIR base, which this token does not open, and its breaks
	// are its own.
	other := ehrtest.Start(t, ehrtest.Standard(redirect))
	if other.FHIR == ehr.FHIR || other.ClientID == ehr.ClientID || other.Issuer != ehr.Issuer {
		t.Fatalf("two tenants: %+v and %+v", other, ehr)
	}
	get(t, other.FHIR+"/Patient/"+ehrtest.Patient, at, http.StatusUnauthorized)
	if err := other.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(other.FHIR + "/.well-known/smart-configuration"); err == nil {
		t.Error("a stopped tenant's EHR answered")
	}
	get(t, ehr.FHIR+"/Patient/"+ehrtest.Patient, at, http.StatusOK)

	if _, err := oc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a code exchanged twice")
	}
	// … and the EHR then revokes what the code gave (RFC 6749 §4.1.2).
	get(t, ehr.FHIR+"/Patient/"+ehrtest.Patient, at, http.StatusUnauthorized)
}

func get(t *testing.T, u, token string, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", u, res.StatusCode, want, body)
	}
	return body
}

func getJSON(t *testing.T, u, token string, want int, v any) {
	t.Helper()
	if err := json.Unmarshal(get(t, u, token, want), v); err != nil {
		t.Fatal(err)
	}
}
