package smart

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/handoff-health/handoff/shared/problem"
)

// clients is a fake client store.
type clients map[string]Client

func (c clients) Client(_ context.Context, id string) (Client, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return Client{}, problem.Errorf(problem.NotFound, "no clinic")
}

// replays is a fake jti store.
type replays struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (r *replays) SeenAssertion(_ context.Context, client, jti string, _ time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	k := client + "|" + jti
	was := r.seen[k]
	r.seen[k] = true
	return was, nil
}

var _ Clients = clients(nil)
var _ Replays = (*replays)(nil)

// keyServer serves a key set and counts its fetches.
type keyServer struct {
	*httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	status  int
	cc      string
	body    []byte
}

func newKeyServer(t *testing.T, set []byte, cacheControl string) *keyServer {
	ks := &keyServer{status: http.StatusOK, cc: cacheControl, body: set}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if ks.cc != "" {
			w.Header().Set("Cache-Control", ks.cc)
		}
		w.WriteHeader(ks.status)
		_, _ = w.Write(ks.body)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) set(status int, body []byte) {
	ks.mu.Lock()
	ks.status, ks.body = status, body
	ks.mu.Unlock()
}

// signer is a client's P-384 key.
type signer struct{ key *ecdsa.PrivateKey }

func newSigner(t testing.TB) signer {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{k}
}

func (s signer) jwks(kid string) []byte {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: kid, Algorithm: "ES384", Use: "sig"}}})
	return b
}

var jtis atomic.Int64

func (s signer) sign(t testing.TB, kid, client, aud string, now time.Time) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: s.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: client, Subject: client, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)), ID: fmt.Sprint("j", jtis.Add(1))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const aud = "https://handoff.example/oauth/token"

func newEndpoint(cl clients, clk *clock, log *bytes.Buffer) *TokenEndpoint {
	reg := &Registry{Clients: cl, Replays: &replays{}, HTTP: http.DefaultClient, Now: clk.Now,
		Log: slog.New(slog.NewTextHandler(log, nil))}
	return &TokenEndpoint{URL: aud, Registry: reg, Tokens: &AccessTokens{Key: func(context.Context) ([]byte, error) {
		return []byte(strings.Repeat("k", 32)), nil
	}, Now: clk.Now}}
}

func request(assertion string) TokenRequest {
	return TokenRequest{GrantType: "client_credentials", AssertionType: assertionType, Assertion: assertion, Scope: "system/Task.rs"}
}

// TestJWKSFetchedOnceAMinute: a key set URL is fetched at most once a
// minute per process, whatever its Cache-Control says (no-store, max-age=0
// or none), however many requests name the client and whatever kids they
// name; after the minute, a set that may not be kept is fetched again.
func TestJWKSFetchedOnceAMinute(t *testing.T) {
	s := newSigner(t)
	for _, cc := range []string{"no-store", "no-cache", "max-age=0", ""} {
		t.Run("Cache-Control "+cc, func(t *testing.T) {
			ks := newKeyServer(t, s.jwks("ec-1"), cc)
			clk := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
			e := newEndpoint(clients{"byurl": {ID: "byurl", JWKSURL: ks.URL}}, clk, &bytes.Buffer{})
			for i := range 20 {
				kid := "ec-1"
				if i%2 == 1 {
					kid = fmt.Sprint("unknown-", i) // an unknown kid asks for a refresh
				}
				_, err := e.Issue(t.Context(), request(s.sign(t, kid, "byurl", aud, clk.Now())))
				if (err == nil) != (kid == "ec-1") {
					t.Fatalf("request %d (kid %s): %v", i, kid, err)
				}
				clk.Advance(2 * time.Second)
			}
			if n := ks.fetches.Load(); n != 1 {
				t.Errorf("%d fetches within 40 s, want 1", n)
			}
			clk.Advance(time.Minute)
			if _, err := e.Issue(t.Context(), request(s.sign(t, "ec-1", "byurl", aud, clk.Now()))); err != nil {
				t.Fatal(err)
			}
			want := int64(2) // kept no longer than the minute
			if cc == "" {
				want = 1 // kept 5 minutes without a Cache-Control
			}
			if n := ks.fetches.Load(); n != want {
				t.Errorf("%d fetches after the minute, want %d", n, want)
			}
		})
	}
}

// TestJWKSFailureRemembered: a key set URL that fails is not fetched again
// for a minute, and the refusal is invalid_client without the URL, the
// status or the error (the log keeps them); a refresh that fails keeps the
// set that still holds.
func TestJWKSFailureRemembered(t *testing.T) {
	s := newSigner(t)
	ks := newKeyServer(t, []byte("down"), "max-age=600")
	ks.set(http.StatusInternalServerError, []byte("database at 10.0.0.7 is down"))
	clk := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	e := newEndpoint(clients{"byurl": {ID: "byurl", JWKSURL: ks.URL + "/keys"}}, clk, &log)
	for i := range 10 {
		_, err := e.Issue(t.Context(), request(s.sign(t, "ec-1", "byurl", aud, clk.Now())))
		oe, ok := err.(*OAuthError)
		if !ok || oe.Code != "invalid_client" {
			t.Fatalf("request %d: %v, want invalid_client", i, err)
		}
		for _, internal := range []string{ks.URL, "127.0.0.1", "500", "10.0.0.7", "status"} {
			if strings.Contains(oe.Description, internal) {
				t.Errorf("the refusal %q shows %q", oe.Description, internal)
			}
		}
		clk.Advance(5 * time.Second)
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Errorf("%d fetches of a failing URL within 50 s, want 1", n)
	}
	if !strings.Contains(log.String(), "status 500") {
		t.Errorf("the log does not keep the reason: %s", log.String())
	}
	// A minute on, it works again.
	ks.set(http.StatusOK, s.jwks("ec-1"))
	clk.Advance(time.Minute)
	if _, err := e.Issue(t.Context(), request(s.sign(t, "ec-1", "byurl", aud, clk.Now()))); err != nil {
		t.Fatalf("after the minute: %v", err)
	}
	// A refresh for an unknown kid that fails keeps the good set.
	ks.set(http.StatusBadGateway, nil)
	clk.Advance(2 * time.Minute)
	if _, err := e.Issue(t.Context(), request(s.sign(t, "ec-9", "byurl", aud, clk.Now()))); err == nil {
		t.Fatal("an unknown kid was taken")
	}
	if _, err := e.Issue(t.Context(), request(s.sign(t, "ec-1", "byurl", aud, clk.Now()))); err != nil {
		t.Errorf("the kept key after a failed refresh: %v", err)
	}
	if n := ks.fetches.Load(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

// TestVerifyOtherAudiences: the registry checks a JWT for any audience (a
// CDS Hooks service's URL as well as the token endpoint), against the same
// registered keys, once per jti.
func TestVerifyOtherAudiences(t *testing.T) {
	s := newSigner(t)
	clk := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	reg := &Registry{Clients: clients{"lakeside": {ID: "lakeside", JWKS: string(s.jwks("ec-1"))}}, Replays: &replays{}, Now: clk.Now}
	const service = "https://handoff.example/cds-services/handoff-peer-support"
	tok := s.sign(t, "ec-1", "lakeside", service, clk.Now())
	v, err := reg.Verify(t.Context(), tok, Expect{Audience: service})
	if err != nil || v.ClientID != "lakeside" || v.KeyID != "ec-1" || v.Algorithm != "ES384" {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if _, err := reg.Verify(t.Context(), tok, Expect{Audience: service}); err == nil || !strings.Contains(err.Error(), "used before") {
		t.Errorf("a replay: %v", err)
	}
	if _, err := reg.Verify(t.Context(), s.sign(t, "ec-1", "lakeside", aud, clk.Now()), Expect{Audience: service}); err == nil || !strings.Contains(err.Error(), "aud") {
		t.Errorf("another audience: %v", err)
	}
}
