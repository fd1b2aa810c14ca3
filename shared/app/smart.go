package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/handoff-health/handoff/shared/problem"
)

// SMART Backend Services (SMART App Launch 2.2, client-confidential-
// asymmetric): an EHR registers its public keys for a clinic, then trades a
// signed assertion for a short-lived access token to handoff's FHIR API.

// AccessTokenTTL is how long an access token works.
const AccessTokenTTL = 300 * time.Second

// Assertion limits.
const (
	// clockSkew is how far an EHR's clock may run ahead for iat and nbf,
	// and for exp's limit of 5 minutes ahead; an expired assertion gets
	// none: it is refused.
	clockSkew         = 30 * time.Second
	maxAssertionAhead = 5 * time.Minute
	maxAssertionLen   = 8 << 10
	maxJWKSBytes      = 64 << 10
	maxJWKSKeys       = 10
	jwksCacheDefault  = 5 * time.Minute
	jwksCacheMax      = 24 * time.Hour
	// jwksRefetchAfter is how soon an unknown kid may fetch a client's JWKS
	// again.
	jwksRefetchAfter = time.Minute
)

// SupportedScopes are the scopes a token may carry: SMART v2 forms and the
// v1 forms EHRs still send.
var SupportedScopes = []string{
	"system/Task.cru", "system/Task.rs", "system/Subscription.cru",
	"system/Task.read", "system/Task.write", "system/*.*",
}

// AssertionAlgorithms are the signature algorithms an assertion may use.
var AssertionAlgorithms = []jose.SignatureAlgorithm{jose.RS384, jose.ES384}

// OAuthError is a token endpoint refusal (RFC 6749 §5.2).
type OAuthError struct {
	Code        string // invalid_request, invalid_client, invalid_grant, invalid_scope, unsupported_grant_type
	Description string
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// Status is the HTTP status of the refusal: 401 for invalid_client, else 400.
func (e *OAuthError) Status() int {
	if e.Code == "invalid_client" {
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}

func oauthErr(code, format string, args ...any) *OAuthError {
	return &OAuthError{Code: code, Description: fmt.Sprintf(format, args...)}
}

// FHIRClient is what PUT /v1/admin/clinics/{id}/fhir-client takes.
type FHIRClient struct {
	JWKSURL string          `json:"jwks_url,omitempty"`
	JWKS    json.RawMessage `json:"jwks,omitempty"`
}

// RegisterFHIRClient registers a clinic's public keys, inline or by URL, and
// returns its client_id (the clinic's id). Errors: Invalid, NotFound.
func (a *App) RegisterFHIRClient(ctx context.Context, clinicID string, in FHIRClient) (string, error) {
	field := func(name, detail string) error {
		return problem.Invalidf([]problem.FieldError{{Field: name, Detail: detail}}, "The FHIR client is not valid.")
	}
	var jwks string
	switch {
	case (in.JWKSURL == "") == (len(in.JWKS) == 0):
		return "", field("jwks", "give either jwks (a JSON Web Key Set) or jwks_url")
	case in.JWKSURL != "":
		if err := a.checkCallbackURL(in.JWKSURL); err != nil {
			return "", field("jwks_url", err.Error())
		}
	default:
		if len(in.JWKS) > maxJWKSBytes {
			return "", field("jwks", "is over 64 KiB")
		}
		if _, err := parseJWKS(in.JWKS); err != nil {
			return "", field("jwks", err.Error())
		}
		jwks = string(in.JWKS)
	}
	// The conditional update answers NotFound for an unknown clinic: no read
	// first (it would open the clinic's sealed secrets for nothing).
	if err := a.Clinics.SetFHIRClient(ctx, clinicID, jwks, in.JWKSURL); err != nil {
		return "", err
	}
	a.ForgetClinic(clinicID)
	a.Log.InfoContext(ctx, "FHIR client registered", "clinic", clinicID, "by_url", in.JWKSURL != "")
	return clinicID, nil
}

// parseJWKS reads a key set an operator registers: every key must be one an
// assertion may use (see checkKey), each with a kid of its own, 1 to 10 of
// them. A set fetched from a JWKS URL is read by fetchedKeys instead.
func parseJWKS(raw []byte) (jose.JSONWebKeySet, error) {
	var in struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return jose.JSONWebKeySet{}, errors.New("is not a JSON Web Key Set")
	}
	if len(in.Keys) == 0 || len(in.Keys) > maxJWKSKeys {
		return jose.JSONWebKeySet{}, fmt.Errorf("must hold 1 to %d keys", maxJWKSKeys)
	}
	var ks jose.JSONWebKeySet
	seen := map[string]bool{}
	for i, b := range in.Keys {
		var k jose.JSONWebKey
		if err := json.Unmarshal(b, &k); err != nil {
			return ks, fmt.Errorf("key %d is not a JSON Web Key handoff can read (RSA or EC P-384)", i+1)
		}
		if k.KeyID == "" || seen[k.KeyID] {
			return ks, errors.New("every key needs a kid of its own")
		}
		seen[k.KeyID] = true
		if err := checkKey(k); err != nil {
			return ks, err
		}
		ks.Keys = append(ks.Keys, k)
	}
	return ks, nil
}

// fetchedKeys reads a key set fetched from a client's JWKS URL, keeping the
// keys an assertion may use and skipping the others: an EHR's published set
// may also hold keys of other kinds, sizes or uses, and one of those must
// not stop its good keys from working. Two keys sharing a kid are both kept:
// an assertion naming that kid is then refused (a kid picks exactly one key).
// It fails only when no key is usable.
func fetchedKeys(raw []byte) (jose.JSONWebKeySet, error) {
	var in struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return jose.JSONWebKeySet{}, errors.New("is not a JSON Web Key Set")
	}
	var ks jose.JSONWebKeySet
	for _, b := range in.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(b, &k) != nil || k.KeyID == "" || (k.Use != "" && k.Use != "sig") || checkKey(k) != nil {
			continue
		}
		ks.Keys = append(ks.Keys, k)
	}
	if len(ks.Keys) == 0 {
		return ks, errors.New("holds no key an assertion may use (a public RSA key of 2048 bits or more, or a P-384 key, with a kid)")
	}
	return ks, nil
}

// checkKey says whether an assertion may be signed with k: a public RSA key
// of 2048 bits or more (RS384), or a P-384 key (ES384).
func checkKey(k jose.JSONWebKey) error {
	if !k.IsPublic() || !k.Valid() {
		return fmt.Errorf("key %q is not a public key", k.KeyID)
	}
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < 2048 {
			return fmt.Errorf("key %q: an RSA key needs at least 2048 bits", k.KeyID)
		}
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P384() {
			return fmt.Errorf("key %q: an EC key must be on P-384 (ES384)", k.KeyID)
		}
	default:
		return fmt.Errorf("key %q: only RSA (RS384) and P-384 (ES384) keys", k.KeyID)
	}
	return nil
}

// jwksCache keeps fetched key sets for as long as their Cache-Control says.
type jwksCache struct {
	mu   sync.Mutex
	sets map[string]cachedJWKS
}

type cachedJWKS struct {
	set     jose.JSONWebKeySet
	fetched time.Time
	until   time.Time
}

// clientKeys returns a clinic's registered keys, fetching a JWKS URL through
// the same address guard as status webhooks. A fetched set is kept as long
// as its Cache-Control says; with refresh (an assertion named a kid the kept
// set lacks: the client may have rotated its keys) it is fetched again,
// unless it was fetched less than a minute ago.
func (a *App) clientKeys(ctx context.Context, jwks, jwksURL string, refresh bool) (jose.JSONWebKeySet, error) {
	if jwks != "" {
		return parseJWKS([]byte(jwks))
	}
	a.jwks.mu.Lock()
	c, ok := a.jwks.sets[jwksURL]
	a.jwks.mu.Unlock()
	if ok && a.now().Before(c.until) && (!refresh || a.now().Sub(c.fetched) < jwksRefetchAfter) {
		return c.set, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := a.callbackClient().Do(req)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("fetch the JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return jose.JSONWebKeySet{}, fmt.Errorf("fetch the JWKS: status %d", res.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil || len(raw) > maxJWKSBytes {
		return jose.JSONWebKeySet{}, errors.New("fetch the JWKS: unreadable or over 64 KiB")
	}
	set, err := fetchedKeys(raw)
	if err != nil {
		return set, fmt.Errorf("the JWKS %w", err)
	}
	a.jwks.mu.Lock()
	if a.jwks.sets == nil {
		a.jwks.sets = map[string]cachedJWKS{}
	}
	a.jwks.sets[jwksURL] = cachedJWKS{set: set, fetched: a.now(), until: a.now().Add(cacheFor(res.Header.Get("Cache-Control")))}
	a.jwks.mu.Unlock()
	return set, nil
}

// cacheFor reads max-age from a Cache-Control header (no-store: not at all).
func cacheFor(cc string) time.Duration {
	d := jwksCacheDefault
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
	return min(d, jwksCacheMax)
}

// TokenAnswer is the token endpoint's answer.
type TokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// TokenEndpoint is where assertions are addressed (their aud).
func (a *App) TokenEndpoint() string { return a.Config.PublicURL + "/oauth/token" }

// IssueToken checks a client_credentials request with a signed assertion
// and returns an access token. Refusals are *OAuthError.
func (a *App) IssueToken(ctx context.Context, grantType, assertionType, assertion, scope string) (TokenAnswer, error) {
	switch {
	case grantType != "client_credentials":
		return TokenAnswer{}, oauthErr("unsupported_grant_type", "grant_type must be client_credentials")
	case assertionType != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		return TokenAnswer{}, oauthErr("invalid_request", "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	case assertion == "" || len(assertion) > maxAssertionLen:
		return TokenAnswer{}, oauthErr("invalid_request", "client_assertion is missing or too long")
	}
	tok, hdr, claimed, oerr := readAssertion(assertion)
	if oerr != nil {
		return TokenAnswer{}, oerr
	}
	clinic, err := a.Clinic(ctx, claimed.Issuer)
	if problem.Is(err, problem.NotFound) || (err == nil && clinic.JWKS == "" && clinic.JWKSURL == "") {
		return TokenAnswer{}, oauthErr("invalid_client", "unknown client")
	}
	if err != nil {
		return TokenAnswer{}, err
	}
	if jku, ok := hdr.ExtraHeaders["jku"]; ok && (clinic.JWKSURL == "" || jku != clinic.JWKSURL) {
		return TokenAnswer{}, oauthErr("invalid_client", "the assertion's jku is not the registered JWKS URL")
	}
	var match []jose.JSONWebKey
	for _, refresh := range []bool{false, true} {
		if refresh && (clinic.JWKSURL == "" || hdr.KeyID == "") {
			break
		}
		keys, err := a.clientKeys(ctx, clinic.JWKS, clinic.JWKSURL, refresh)
		if err != nil {
			a.Log.WarnContext(ctx, "FHIR client keys unavailable", "clinic", clinic.ID, "error", err.Error())
			// The reason is the client's own business (its JWKS URL
			// answered 404, or held no usable key): say it.
			why := err.Error()
			if len(why) > 200 {
				why = why[:200]
			}
			return TokenAnswer{}, oauthErr("invalid_client", "the client's keys cannot be read: %s", why)
		}
		if match = keys.Key(hdr.KeyID); len(match) > 0 {
			break
		}
	}
	switch {
	case len(match) == 0:
		return TokenAnswer{}, oauthErr("invalid_client", "the assertion's kid names no registered key")
	case len(match) > 1:
		return TokenAnswer{}, oauthErr("invalid_client", "the assertion's kid names more than one key of the client's JWKS")
	}
	var claims jwt.Claims
	if err := tok.Claims(match[0].Key, &claims); err != nil {
		return TokenAnswer{}, oauthErr("invalid_client", "the assertion's signature does not verify")
	}
	now := a.now()
	if err := claims.ValidateWithLeeway(jwt.Expected{
		Issuer: clinic.ID, Subject: clinic.ID, AnyAudience: jwt.Audience{a.TokenEndpoint()}, Time: now,
	}, clockSkew); err != nil || claims.Expiry == nil || !claims.Expiry.Time().After(now) {
		why := "the assertion's aud, exp or nbf does not hold"
		switch {
		case errors.Is(err, jwt.ErrInvalidAudience):
			why = "the assertion's aud must be " + a.TokenEndpoint()
		case err == nil || errors.Is(err, jwt.ErrExpired) || claims.Expiry == nil:
			why = "the assertion has expired (or has no exp)"
		}
		return TokenAnswer{}, oauthErr("invalid_client", "%s", why)
	}
	exp := claims.Expiry.Time()
	if exp.After(now.Add(maxAssertionAhead + clockSkew)) {
		return TokenAnswer{}, oauthErr("invalid_client", "the assertion's exp is more than 5 minutes ahead")
	}
	if claims.ID == "" {
		return TokenAnswer{}, oauthErr("invalid_client", "the assertion has no jti")
	}
	granted, err := grantScopes(scope)
	if err != nil {
		return TokenAnswer{}, err
	}
	seen, err := a.Referrals.SeenAssertion(ctx, clinic.ID, claims.ID, exp)
	if err != nil {
		return TokenAnswer{}, err
	}
	if seen {
		return TokenAnswer{}, oauthErr("invalid_client", "the assertion's jti was used before")
	}
	at, err := a.accessToken(ctx, clinic.ID, granted, now.Add(AccessTokenTTL))
	if err != nil {
		return TokenAnswer{}, err
	}
	a.Log.InfoContext(ctx, "access token issued", "clinic", clinic.ID, "scope", granted, "alg", hdr.Algorithm)
	return TokenAnswer{AccessToken: at, TokenType: "bearer", ExpiresIn: int(AccessTokenTTL.Seconds()), Scope: granted}, nil
}

// readAssertion parses an assertion without trusting it yet: an RS384 or
// ES384 JWS with one header naming its key, and iss = sub.
func readAssertion(assertion string) (*jwt.JSONWebToken, jose.Header, jwt.Claims, *OAuthError) {
	var claimed jwt.Claims
	tok, err := jwt.ParseSigned(assertion, AssertionAlgorithms)
	if err != nil {
		return nil, jose.Header{}, claimed, oauthErr("invalid_client", "the assertion is not a JWT signed with RS384 or ES384")
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, jose.Header{}, claimed, oauthErr("invalid_client", "the assertion's header must name its key (kid)")
	}
	if err := tok.UnsafeClaimsWithoutVerification(&claimed); err != nil || claimed.Issuer == "" {
		return nil, jose.Header{}, claimed, oauthErr("invalid_client", "the assertion has no iss")
	}
	if claimed.Issuer != claimed.Subject {
		return nil, jose.Header{}, claimed, oauthErr("invalid_client", "the assertion's iss and sub must both be the client_id")
	}
	return tok, tok.Headers[0], claimed, nil
}

// grantScopes checks the requested scopes: each must be supported, or be a
// SMART v2 Task scope with other letters (system/Task.s, system/Task.r).
func grantScopes(scope string) (string, error) {
	requested := strings.Fields(scope)
	if len(requested) == 0 {
		return "", oauthErr("invalid_scope", "scope is required, e.g. system/Task.cru system/Task.rs")
	}
	for _, s := range requested {
		if !slices.Contains(SupportedScopes, s) && !taskScopeV2(s) {
			return "", oauthErr("invalid_scope", "scope %q is not supported", s)
		}
	}
	return strings.Join(requested, " "), nil
}

// accessToken signs a clinic's scopes and expiry with the link key: the
// token is checked by its MAC, and nothing about it is stored.
func (a *App) accessToken(ctx context.Context, clinicID, scope string, exp time.Time) (string, error) {
	payload, err := json.Marshal(map[string]any{"c": clinicID, "s": scope, "e": exp.Unix()})
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	mac, err := a.accessTokenMAC(ctx, p)
	if err != nil {
		return "", err
	}
	return "hat_" + p + "." + mac, nil
}

func (a *App) accessTokenMAC(ctx context.Context, payload string) (string, error) {
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("handoff/access-token/v1|" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// AccessGrant is what a valid access token allows.
type AccessGrant struct {
	ClinicID string
	Scopes   []string
}

// CheckAccessToken verifies an access token. Errors: Unauthorized.
func (a *App) CheckAccessToken(ctx context.Context, token string) (AccessGrant, error) {
	bad := problem.Errorf(problem.Unauthorized, "a valid access token is required (POST /oauth/token)")
	body, ok := strings.CutPrefix(token, "hat_")
	p, mac, ok2 := strings.Cut(body, ".")
	if !ok || !ok2 || len(token) > 1024 {
		return AccessGrant{}, bad
	}
	want, err := a.accessTokenMAC(ctx, p)
	if err != nil {
		return AccessGrant{}, err
	}
	if !hmac.Equal([]byte(want), []byte(mac)) {
		return AccessGrant{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return AccessGrant{}, bad
	}
	var c struct {
		C string `json:"c"`
		S string `json:"s"`
		E int64  `json:"e"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return AccessGrant{}, bad
	}
	if a.now().Unix() >= c.E {
		return AccessGrant{}, problem.Errorf(problem.Unauthorized, "the access token has expired (they last 5 minutes): get a new one (POST /oauth/token)")
	}
	return AccessGrant{ClinicID: c.C, Scopes: strings.Fields(c.S)}, nil
}

// SmartConfiguration is /.well-known/smart-configuration.
func (a *App) SmartConfiguration() map[string]any {
	algs := make([]string, len(AssertionAlgorithms))
	for i, alg := range AssertionAlgorithms {
		algs[i] = string(alg)
	}
	return map[string]any{
		"token_endpoint":                                   a.TokenEndpoint(),
		"grant_types_supported":                            []string{"client_credentials"},
		"token_endpoint_auth_methods_supported":            []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": algs,
		"scopes_supported":                                 SupportedScopes,
		"capabilities":                                     []string{"client-confidential-asymmetric"},
	}
}
