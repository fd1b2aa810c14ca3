package apptest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/handoff-health/handoff/shared/apptest"
)

// ehr is an EHR client of the tests: its own keys, and assertions it signs.
type ehr struct {
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey
}

func newEHR(t *testing.T) *ehr {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ehr{rsaKey: rk, ecKey: ek}
}

// jwks is the EHR's public key set.
func (e *ehr) jwks() []byte {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &e.rsaKey.PublicKey, KeyID: "rsa-1", Algorithm: "RS384", Use: "sig"},
		{Key: &e.ecKey.PublicKey, KeyID: "ec-1", Algorithm: "ES384", Use: "sig"},
	}})
	return b
}

// assertion signs claims with alg and kid (and any extra header).
func (e *ehr) assertion(t *testing.T, alg jose.SignatureAlgorithm, kid string, claims jwt.Claims, extra map[jose.HeaderKey]any) string {
	t.Helper()
	var key any = e.rsaKey
	if alg == jose.ES384 {
		key = e.ecKey
	}
	if alg == jose.HS256 {
		key = []byte("a-shared-secret-of-at-least-32-bytes!!")
	}
	opts := (&jose.SignerOptions{ExtraHeaders: extra}).WithType("JWT").WithHeader("kid", kid)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var jtiSeq atomic.Int64

func claimsFor(clientID, aud string, now time.Time) jwt.Claims {
	return jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)), ID: fmt.Sprintf("jti-%d", jtiSeq.Add(1))}
}

// tokenRequest posts to the token endpoint and returns the status and body.
func tokenRequest(h *apptest.Harness, form url.Values) (int, map[string]any) {
	st, _, b := h.Do(http.MethodPost, "/oauth/token", []byte(form.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return st, out
}

func tokenForm(assertion, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
}

// TestSMARTBackendServices: an EHR registers its keys (inline for one clinic,
// by JWKS URL for another), gets tokens with RS384 and ES384 assertions, and
// every kind of bad assertion gets its OAuth error.
func TestSMARTBackendServices(t *testing.T) {
	w := newWorld(t, "")
	e := newEHR(t)
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/fhir-client", map[string]any{"jwks": json.RawMessage(e.jwks())}); st != http.StatusOK || !strings.Contains(string(b), `"client_id":"lakeside"`) {
		t.Fatalf("register inline keys: %d %s", st, b)
	}
	var fetches atomic.Int64
	keys := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		rw.Header().Set("Cache-Control", "max-age=600")
		_, _ = rw.Write(e.jwks())
	}))
	defer keys.Close()
	w.NewClinic("byurl", "")
	w.NewClinic("nokeys", "")
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/byurl/fhir-client", map[string]any{"jwks_url": keys.URL + "/jwks.json"}); st != http.StatusOK {
		t.Fatalf("register a JWKS URL: %d %s", st, b)
	}
	// Registration refusals.
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &weak.PublicKey, KeyID: "weak"}}})
	private, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: e.rsaKey, KeyID: "priv"}}})
	for _, body := range []map[string]any{
		{}, {"jwks_url": "ftp://keys.example/jwks"}, {"jwks": json.RawMessage(weakSet)}, {"jwks": json.RawMessage(private)},
		{"jwks": json.RawMessage(`{"keys": []}`)}, {"jwks": json.RawMessage(e.jwks()), "jwks_url": keys.URL},
	} {
		if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/fhir-client", body); st != http.StatusUnprocessableEntity {
			t.Errorf("register %v: %d %s, want 422", body, st, b)
		}
	}
	if st, _ := w.Admin(http.MethodPut, "/v1/admin/clinics/nobody/fhir-client", map[string]any{"jwks": json.RawMessage(e.jwks())}); st != http.StatusNotFound {
		t.Errorf("register for an unknown clinic: %d, want 404", st)
	}

	aud := w.Server.URL + "/oauth/token"
	now := w.Now()
	for _, c := range []struct {
		client, kid string
		alg         jose.SignatureAlgorithm
	}{{"lakeside", "rsa-1", jose.RS384}, {"lakeside", "ec-1", jose.ES384}, {"byurl", "ec-1", jose.ES384}, {"byurl", "rsa-1", jose.RS384}} {
		st, out := tokenRequest(w.Harness, tokenForm(e.assertion(t, c.alg, c.kid, claimsFor(c.client, aud, now), nil), "system/Task.cru system/Task.rs"))
		if st != http.StatusOK || out["token_type"] != "bearer" || out["expires_in"] != float64(300) || out["scope"] != "system/Task.cru system/Task.rs" {
			t.Fatalf("%s %s: %d %v", c.client, c.alg, st, out)
		}
		g, err := w.EHR.Access.Check(t.Context(), out["access_token"].(string))
		if err != nil || g.ClinicID != c.client {
			t.Errorf("the access token does not check: %+v %v", g, err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("the JWKS URL was fetched %d times, want once (Cache-Control max-age=600)", n)
	}

	// Every refusal, with its error.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"rsa-1"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(mustJSONBytes(t, claimsFor("lakeside", aud, now))) + "."
	replayed := e.assertion(t, jose.RS384, "rsa-1", claimsFor("lakeside", aud, now), nil)
	if st, _ := tokenRequest(w.Harness, tokenForm(replayed, "system/Task.rs")); st != http.StatusOK {
		t.Fatal("the assertion to replay was refused the first time")
	}
	mod := func(f func(*jwt.Claims)) jwt.Claims {
		c := claimsFor("lakeside", aud, now)
		f(&c)
		return c
	}
	for _, c := range []struct {
		name, want string
		form       url.Values
	}{
		{"alg none", "invalid_client", tokenForm(none, "system/Task.rs")},
		{"an HMAC alg", "invalid_client", tokenForm(e.assertion(t, jose.HS256, "rsa-1", claimsFor("lakeside", aud, now), nil), "system/Task.rs")},
		{"RS256, not RS384", "invalid_client", tokenForm(e.assertion(t, jose.RS256, "rsa-1", claimsFor("lakeside", aud, now), nil), "system/Task.rs")},
		{"wrong aud", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-1", mod(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://elsewhere.example/token"} }), nil), "system/Task.rs")},
		{"iss not sub", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-1", mod(func(c *jwt.Claims) { c.Subject = "byurl" }), nil), "system/Task.rs")},
		{"expired", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-1", mod(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) }), nil), "system/Task.rs")},
		{"exp too far ahead", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-1", mod(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(10 * time.Minute)) }), nil), "system/Task.rs")},
		{"issued in the future", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-1", mod(func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(2 * time.Minute)) }), nil), "system/Task.rs")},
		{"no jti", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-1", mod(func(c *jwt.Claims) { c.ID = "" }), nil), "system/Task.rs")},
		{"a jti seen before", "invalid_client", tokenForm(replayed, "system/Task.rs")},
		{"unknown client", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-1", claimsFor("nobody", aud, now), nil), "system/Task.rs")},
		{"a clinic with no keys", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-1", claimsFor("nokeys", aud, now), nil), "system/Task.rs")},
		{"unknown kid", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "rsa-9", claimsFor("lakeside", aud, now), nil), "system/Task.rs")},
		{"kid of the other key", "invalid_client", tokenForm(e.assertion(t, jose.RS384, "ec-1", claimsFor("lakeside", aud, now), nil), "system/Task.rs")},
		{"jku not the registered URL", "invalid_client", tokenForm(e.assertion(t, jose.ES384, "ec-1", claimsFor("byurl", aud, now), map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}), "system/Task.rs")},
		{"a scope handoff does not grant", "invalid_scope", tokenForm(e.assertion(t, jose.RS384, "rsa-1", claimsFor("lakeside", aud, now), nil), "system/Patient.read")},
		{"no scope", "invalid_scope", tokenForm(e.assertion(t, jose.RS384, "rsa-1", claimsFor("lakeside", aud, now), nil), "")},
		{"another grant", "unsupported_grant_type", func() url.Values {
			f := tokenForm("x", "system/Task.rs")
			f.Set("grant_type", "authorization_code")
			return f
		}()},
		{"no assertion type", "invalid_request", func() url.Values {
			f := tokenForm("x", "system/Task.rs")
			f.Del("client_assertion_type")
			return f
		}()},
		{"no assertion", "invalid_request", tokenForm("", "system/Task.rs")},
		{"garbage", "invalid_client", tokenForm("not.a.jwt", "system/Task.rs")},
	} {
		st, out := tokenRequest(w.Harness, c.form)
		wantStatus := http.StatusBadRequest
		if c.want == "invalid_client" {
			wantStatus = http.StatusUnauthorized
		}
		if st != wantStatus || out["error"] != c.want {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, out, wantStatus, c.want)
		}
		if _, ok := out["access_token"]; ok {
			t.Errorf("%s: a token was issued", c.name)
		}
	}
	// A tampered or expired access token does not check.
	_, out := tokenRequest(w.Harness, tokenForm(e.assertion(t, jose.ES384, "ec-1", claimsFor("lakeside", aud, now), nil), "system/Task.rs"))
	at := out["access_token"].(string)
	dot := strings.LastIndexByte(at, '.')
	flip := map[byte]byte{'A': 'B'}[at[dot+1]]
	if flip == 0 {
		flip = 'A'
	}
	other := map[byte]string{'x': "y"}[at[5]]
	if other == "" {
		other = "x"
	}
	for _, tampered := range []string{at[:dot+1] + string(flip) + at[dot+2:], at[:5] + other + at[6:], strings.Replace(at, "hat_", "hat_e30", 1)} {
		if _, err := w.EHR.Access.Check(t.Context(), tampered); err == nil {
			t.Errorf("a tampered access token checked: %s", tampered)
		}
	}
	w.Advance(301 * time.Second)
	if _, err := w.EHR.Access.Check(t.Context(), at); err == nil {
		t.Error("an access token still works after 300 s")
	}
	st, _, b := w.Do(http.MethodGet, "/.well-known/smart-configuration", nil, nil)
	if st != http.StatusOK || !strings.Contains(string(b), `"token_endpoint":"`+aud+`"`) || !strings.Contains(string(b), "ES384") {
		t.Errorf("smart-configuration: %d %s", st, b)
	}
}

func mustJSONBytes(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkTokenEndpoint: one POST /oauth/token with an ES384 assertion and
// with an RS384 one, through the whole HTTP stack and the embedded
// DynamoDB (the jti's conditional write, the clinic read from the cache).
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES384, jose.RS384} {
		b.Run(string(alg), func(b *testing.B) {
			w := newWorld(b, "")
			e := newEHR(&testing.T{})
			if st, _ := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/fhir-client", map[string]any{"jwks": json.RawMessage(e.jwks())}); st != http.StatusOK {
				b.Fatal("register")
			}
			kid := map[jose.SignatureAlgorithm]string{jose.ES384: "ec-1", jose.RS384: "rsa-1"}[alg]
			forms := make([]url.Values, b.N)
			for i := range forms {
				forms[i] = tokenForm(e.assertion(&testing.T{}, alg, kid, claimsFor("lakeside", w.Server.URL+"/oauth/token", w.Now()), nil), "system/Task.rs")
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if st, _ := tokenRequest(w.Harness, forms[i]); st != http.StatusOK {
					b.Fatalf("token: %d", st)
				}
			}
		})
	}
}

// TestSMARTJWKSURLKeys: a client's published key set may hold keys handoff
// cannot use (P-256, a short RSA key, an encryption key, one without a kid,
// a symmetric one): they are skipped, and its good key works. When the
// client rotates to a key the kept set lacks, the set is fetched again (at
// most once a minute), so the new key works before the cache would expire;
// a kid two keys share is refused. An exp up to 30 s beyond the 5 minutes
// is a clock's skew and is taken.
func TestSMARTJWKSURLKeys(t *testing.T) {
	w := newWorld(t, "")
	e, rotated := newEHR(t), newEHR(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := jose.JSONWebKey{Key: &e.ecKey.PublicKey, KeyID: "ec-1", Algorithm: "ES384", Use: "sig"}
	set := func(keys ...any) []byte {
		b, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var mu sync.Mutex
	served := set(
		jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "p256", Algorithm: "ES256"},
		jose.JSONWebKey{Key: &weak.PublicKey, KeyID: "weak", Algorithm: "RS384"},
		jose.JSONWebKey{Key: &e.rsaKey.PublicKey, KeyID: "enc-1", Use: "enc"},
		jose.JSONWebKey{Key: &e.rsaKey.PublicKey, Algorithm: "RS384"},
		map[string]any{"kty": "oct", "kid": "shared", "k": "c2VjcmV0"},
		map[string]any{"kty": "unknown-kind", "kid": "odd"},
		good,
	)
	var fetches atomic.Int64
	keys := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		rw.Header().Set("Cache-Control", "max-age=3600")
		mu.Lock()
		defer mu.Unlock()
		_, _ = rw.Write(served)
	}))
	defer keys.Close()
	w.NewClinic("byurl", "")
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/byurl/fhir-client", map[string]any{"jwks_url": keys.URL}); st != http.StatusOK {
		t.Fatalf("register a JWKS URL: %d %s", st, b)
	}
	aud := w.Server.URL + "/oauth/token"
	token := func(signer *ehr, kid string, claims jwt.Claims) (int, map[string]any) {
		return tokenRequest(w.Harness, tokenForm(signer.assertion(t, jose.ES384, kid, claims, nil), "system/Task.rs"))
	}
	if st, out := token(e, "ec-1", claimsFor("byurl", aud, w.Now())); st != http.StatusOK {
		t.Fatalf("the good key of a set with unusable ones: %d %v", st, out)
	}
	skewed := claimsFor("byurl", aud, w.Now())
	skewed.Expiry = jwt.NewNumericDate(w.Now().Add(5*time.Minute + 20*time.Second))
	if st, out := token(e, "ec-1", skewed); st != http.StatusOK {
		t.Errorf("an exp 5 min 20 s ahead: %d %v", st, out)
	}

	// The client rotates to a new key.
	mu.Lock()
	served = set(jose.JSONWebKey{Key: &rotated.ecKey.PublicKey, KeyID: "ec-2", Algorithm: "ES384", Use: "sig"})
	mu.Unlock()
	// Within a minute of the last fetch, an unknown kid does not fetch again.
	if st, out := token(rotated, "ec-2", claimsFor("byurl", aud, w.Now())); st != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("a new kid right after a fetch: %d %v", st, out)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1 so far", n)
	}
	w.Advance(2 * time.Minute)
	if st, out := token(rotated, "ec-2", claimsFor("byurl", aud, w.Now())); st != http.StatusOK {
		t.Errorf("the rotated key, the kept set lacking it: %d %v", st, out)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (the rotation fetched once more)", n)
	}

	// Two keys with one kid: the kid picks no single key.
	mu.Lock()
	served = set(jose.JSONWebKey{Key: &rotated.ecKey.PublicKey, KeyID: "dup", Use: "sig"}, jose.JSONWebKey{Key: &e.ecKey.PublicKey, KeyID: "dup", Use: "sig"})
	mu.Unlock()
	w.Advance(2 * time.Minute)
	if st, out := token(rotated, "dup", claimsFor("byurl", aud, w.Now())); st != http.StatusUnauthorized || !strings.Contains(fmt.Sprint(out["error_description"]), "more than one") {
		t.Errorf("a kid two keys share: %d %v", st, out)
	}
	// A set with no usable key at all: the client's keys cannot be read.
	mu.Lock()
	served = set(jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "p256"})
	mu.Unlock()
	w.Advance(2 * time.Minute)
	if st, out := token(rotated, "none-here", claimsFor("byurl", aud, w.Now())); st != http.StatusUnauthorized || out["error"] != "invalid_client" ||
		!strings.Contains(fmt.Sprint(out["error_description"]), "no key an assertion may use") {
		t.Errorf("a set without a usable key (the answer should say so): %d %v", st, out)
	}

	// An access token 5 minutes old says it has expired and where to get another.
	mu.Lock()
	served = set(good)
	mu.Unlock()
	w.Advance(2 * time.Minute)
	_, out := token(e, "ec-1", claimsFor("byurl", aud, w.Now()))
	w.Advance(5 * time.Minute)
	if st, _, oo := w.fhirCall(t, http.MethodGet, "/fhir/Task?_lastUpdated=ge2026-01-01", fmt.Sprint(out["access_token"]), nil, nil); st != http.StatusUnauthorized ||
		!strings.Contains(mustString(t, oo), "expired") {
		t.Errorf("an expired access token: %d %v", st, oo)
	}
}
