package smart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/handoff-health/handoff/shared/problem"
)

// A Client is what a clinic's EHR registered: its id (the clinic's) and its
// public keys, inline (a JSON Web Key Set) or at a URL.
type Client struct {
	ID      string
	JWKS    string
	JWKSURL string
}

// Clients finds a registered client. Client returns a problem.NotFound
// error for an id no clinic has.
type Clients interface {
	Client(ctx context.Context, id string) (Client, error)
}

// ClientFunc is a function that is a Clients.
type ClientFunc func(ctx context.Context, id string) (Client, error)

// Client calls f.
func (f ClientFunc) Client(ctx context.Context, id string) (Client, error) { return f(ctx, id) }

// Replays remembers each JWT's jti until its exp, and reports a jti it saw
// before. (dynamo.Referrals.SeenAssertion is one.)
type Replays interface {
	SeenAssertion(ctx context.Context, clientID, jti string, exp time.Time) (bool, error)
}

// ReplayFunc is a function that is a Replays. (A store's method value
// keeps the store's other methods out of the binary, where the store
// itself behind an interface would keep them all.)
type ReplayFunc func(ctx context.Context, clientID, jti string, exp time.Time) (bool, error)

// SeenAssertion calls f.
func (f ReplayFunc) SeenAssertion(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	return f(ctx, clientID, jti, exp)
}

// A Refusal is a JWT that Verify does not take. Why says what is wrong in
// words the client may read: never key material, a URL or a network error
// (those go to the log).
type Refusal struct{ Why string }

func (r *Refusal) Error() string { return r.Why }

func refuse(format string, args ...any) *Refusal { return &Refusal{Why: fmt.Sprintf(format, args...)} }

// Limits of the JWTs Verify checks.
const (
	// ClockSkew is how far a client's clock may run ahead for iat and nbf,
	// and beyond a JWT's limit on exp; an expired JWT gets none.
	ClockSkew = 30 * time.Second
	// MaxJWTLen bounds a JWT.
	MaxJWTLen = 8 << 10
)

// Key set fetches.
const (
	// jwksFetchEvery is how often one process fetches a key set URL at
	// most, whatever its Cache-Control says; a failed fetch is remembered
	// as long.
	jwksFetchEvery   = time.Minute
	jwksKeepDefault  = 5 * time.Minute
	jwksKeepMax      = 24 * time.Hour
	jwksFetchTimeout = 5 * time.Second
)

// A Registry checks JWTs against the keys clients registered. Build it
// once per process: it keeps the key sets it fetched.
type Registry struct {
	Clients Clients
	Replays Replays
	// HTTP fetches key set URLs: the outbound address guard's client.
	HTTP *http.Client
	Now  func() time.Time
	Log  *slog.Logger

	mu   sync.Mutex
	sets map[string]*keySet // by URL
}

// keySet is a key set fetched from a URL: what the last fetch gave, and
// until when it holds.
type keySet struct {
	mu      sync.Mutex // held while fetching: one fetch per URL at a time
	set     jose.JSONWebKeySet
	refusal *Refusal  // why the last fetch gave no keys (nil: it did)
	fetched time.Time // when it was last fetched (zero: never)
	until   time.Time // the set is good until then
}

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Expect is what a JWT must say besides iss = sub = a client's id, a kid
// naming one of its keys, an exp and a jti never used before.
type Expect struct {
	// Audience is the URL the JWT must be addressed to (its aud).
	Audience string
	// MaxAhead bounds how far ahead its exp may be (zero: no bound).
	MaxAhead time.Duration
}

// Verified is a JWT Verify took.
type Verified struct {
	ClientID  string
	KeyID     string
	Algorithm string
	JTI       string
	Expiry    time.Time
}

// Verify checks a JWT a client signed: RS384 or ES384 with the key its kid
// names among the client's (fetched again when the kid is one the kept set
// lacks: the client may have rotated its keys), iss = sub = the client's
// id, the expected aud, an exp in the future and within want.MaxAhead, iat
// and nbf not ahead of the clock, a jti never seen before (recorded until
// exp). Errors: *Refusal for a JWT it does not take; any other error is a
// failure of a store (internal).
func (r *Registry) Verify(ctx context.Context, token string, want Expect) (Verified, error) {
	if token == "" || len(token) > MaxJWTLen {
		return Verified{}, refuse("the JWT is missing or longer than %d bytes", MaxJWTLen)
	}
	tok, hdr, claimed, ref := readJWT(token)
	if ref != nil {
		return Verified{}, ref
	}
	jku, _ := hdr.ExtraHeaders["jku"].(string)
	if _, ok := hdr.ExtraHeaders["jku"]; ok && jku == "" {
		return Verified{}, refuse("the JWT's jku is not the registered JWKS URL")
	}
	key, err := r.Key(ctx, claimed.Issuer, hdr.KeyID, jku)
	if err != nil {
		return Verified{}, err
	}
	id := claimed.Issuer
	var claims jwt.Claims
	if err := tok.Claims(key.Key, &claims); err != nil {
		return Verified{}, refuse("the JWT's signature does not verify")
	}
	now := r.now()
	if err := claims.ValidateWithLeeway(jwt.Expected{
		Issuer: id, Subject: id, AnyAudience: jwt.Audience{want.Audience}, Time: now,
	}, ClockSkew); err != nil || claims.Expiry == nil || !claims.Expiry.Time().After(now) {
		why := "the JWT's aud, exp or nbf does not hold"
		switch {
		case errors.Is(err, jwt.ErrInvalidAudience):
			why = "the JWT's aud must be " + want.Audience
		case err == nil || errors.Is(err, jwt.ErrExpired) || claims.Expiry == nil:
			why = "the JWT has expired (or has no exp)"
		}
		return Verified{}, refuse("%s", why)
	}
	exp := claims.Expiry.Time()
	if want.MaxAhead > 0 && exp.After(now.Add(want.MaxAhead+ClockSkew)) {
		return Verified{}, refuse("the JWT's exp is more than %s ahead", fmtDuration(want.MaxAhead))
	}
	if claims.ID == "" {
		return Verified{}, refuse("the JWT has no jti")
	}
	seen, err := r.Replays.SeenAssertion(ctx, id, claims.ID, exp)
	if err != nil {
		return Verified{}, err
	}
	if seen {
		return Verified{}, refuse("the JWT's jti was used before")
	}
	return Verified{ClientID: id, KeyID: hdr.KeyID, Algorithm: hdr.Algorithm, JTI: claims.ID, Expiry: exp}, nil
}

// Key returns the public key a client registered under kid: in its inline
// set, or in the set at its JWKS URL (fetched again when the kept set
// lacks the kid: the client may have rotated its keys, but never twice a
// minute). jku, when a JWT's header names one, must be the registered JWKS
// URL. Errors: *Refusal for an unknown client, a jku that is not the
// registered URL, keys that cannot be read, or a kid that names no key
// (or several); any other error is a failure of the client store.
func (r *Registry) Key(ctx context.Context, clientID, kid, jku string) (jose.JSONWebKey, error) {
	client, err := r.Clients.Client(ctx, clientID)
	if problem.Is(err, problem.NotFound) || (err == nil && client.JWKS == "" && client.JWKSURL == "") {
		return jose.JSONWebKey{}, refuse("unknown client")
	}
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	if jku != "" && jku != client.JWKSURL {
		return jose.JSONWebKey{}, refuse("the JWT's jku is not the registered JWKS URL")
	}
	var match []jose.JSONWebKey
	for _, refresh := range []bool{false, true} {
		if refresh && client.JWKSURL == "" {
			break
		}
		keys, ref := r.keys(ctx, client, refresh)
		if ref != nil {
			return jose.JSONWebKey{}, ref
		}
		if match = keys.Key(kid); len(match) > 0 {
			break
		}
	}
	switch {
	case len(match) == 0:
		return jose.JSONWebKey{}, refuse("the JWT's kid names no registered key")
	case len(match) > 1:
		return jose.JSONWebKey{}, refuse("the JWT's kid names more than one key of the client's JWKS")
	}
	return match[0], nil
}

// fmtDuration says a whole number of minutes as "5 minutes".
func fmtDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	}
	return d.String()
}

// readJWT parses a JWT without trusting it yet: an RS384 or ES384 JWS with
// one header naming its key, and iss = sub.
func readJWT(token string) (*jwt.JSONWebToken, jose.Header, jwt.Claims, *Refusal) {
	var claimed jwt.Claims
	tok, err := jwt.ParseSigned(token, Algorithms)
	if err != nil {
		return nil, jose.Header{}, claimed, refuse("the JWT is not signed with RS384 or ES384")
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, jose.Header{}, claimed, refuse("the JWT's header must name its key (kid)")
	}
	if err := tok.UnsafeClaimsWithoutVerification(&claimed); err != nil || claimed.Issuer == "" {
		return nil, jose.Header{}, claimed, refuse("the JWT has no iss")
	}
	if claimed.Issuer != claimed.Subject {
		return nil, jose.Header{}, claimed, refuse("the JWT's iss and sub must both be the client_id")
	}
	return tok, tok.Headers[0], claimed, nil
}

// keys returns a client's keys: its inline set, or the set at its URL as
// kept. A set at a URL is fetched when none is kept or the kept one has
// run out (its Cache-Control's max-age, 5 minutes without one, a day at
// most), or, with refresh, when it lacks a kid a JWT named; but never
// twice within a minute, and a failed fetch is remembered for that minute.
// A refresh that fails keeps the set that still holds. The refusal says
// only that the keys cannot be read; the log says why.
func (r *Registry) keys(ctx context.Context, c Client, refresh bool) (jose.JSONWebKeySet, *Refusal) {
	if c.JWKS != "" {
		ks, err := parseJWKS([]byte(c.JWKS))
		if err != nil {
			return ks, refuse("the client's registered keys cannot be used")
		}
		return ks, nil
	}
	r.mu.Lock()
	if r.sets == nil {
		r.sets = map[string]*keySet{}
	}
	e := r.sets[c.JWKSURL]
	if e == nil {
		e = &keySet{}
		r.sets[c.JWKSURL] = e
	}
	r.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := r.now()
	held := now.Before(e.until)
	recent := !e.fetched.IsZero() && now.Sub(e.fetched) < jwksFetchEvery
	if recent || (held && !refresh) {
		if !held && e.refusal != nil {
			return jose.JSONWebKeySet{}, e.refusal
		}
		return e.set, nil
	}
	set, maxAge, err := r.fetch(ctx, c.JWKSURL)
	e.fetched = r.now()
	switch {
	case errors.Is(err, errNoUsableKey):
		// The client publishes a set handoff cannot use: that is its set
		// now, and it may be told so.
		r.log().WarnContext(ctx, "FHIR client keys unusable", "clinic", c.ID, "error", err.Error())
		e.set, e.until = jose.JSONWebKeySet{}, time.Time{}
		e.refusal = refuse("the client's key set %s", errNoUsableKey.Error())
		return e.set, e.refusal
	case err != nil:
		r.log().WarnContext(ctx, "FHIR client keys unavailable", "clinic", c.ID, "error", err.Error())
		e.refusal = refuse("the client's key set cannot be fetched from its JWKS URL now: try again in a minute")
		if held {
			return e.set, nil // the kept set still holds
		}
		return jose.JSONWebKeySet{}, e.refusal
	}
	e.set, e.refusal, e.until = set, nil, e.fetched.Add(max(jwksFetchEvery, maxAge))
	return set, nil
}

// fetch gets the key set at a URL and how long it may be kept.
func (r *Registry) fetch(ctx context.Context, url string) (jose.JSONWebKeySet, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return jose.JSONWebKeySet{}, 0, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "handoff-jwks/1")
	client := r.HTTP
	if client == nil {
		return jose.JSONWebKeySet{}, 0, errors.New("fetch the JWKS: no HTTP client")
	}
	res, err := client.Do(req)
	if err != nil {
		return jose.JSONWebKeySet{}, 0, fmt.Errorf("fetch the JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return jose.JSONWebKeySet{}, 0, fmt.Errorf("fetch the JWKS: status %d", res.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, MaxJWKSBytes+1))
	if err != nil || len(raw) > MaxJWKSBytes {
		return jose.JSONWebKeySet{}, 0, errors.New("fetch the JWKS: unreadable or over 64 KiB")
	}
	set, err := fetchedKeys(raw)
	if err != nil {
		return set, 0, err
	}
	return set, keepFor(res.Header.Get("Cache-Control")), nil
}

// keepFor reads how long a fetched set may be kept from its Cache-Control:
// max-age, 5 minutes without one, none for no-store or no-cache (the set
// is still not fetched again within the minute), a day at most.
func keepFor(cc string) time.Duration {
	d := jwksKeepDefault
	for _, part := range strings.Split(cc, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "no-store" || part == "no-cache" {
			return 0
		}
		if v, ok := strings.CutPrefix(part, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				d = time.Duration(n) * time.Second
			}
		}
	}
	return min(d, jwksKeepMax)
}

func (r *Registry) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}
