package smart

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/problem"
)

// AccessTokenTTL is how long an access token works.
const AccessTokenTTL = 300 * time.Second

// maxAssertionAhead bounds a client assertion's exp (SMART Backend
// Services: at most 5 minutes ahead).
const maxAssertionAhead = 5 * time.Minute

// assertionType is the only client_assertion_type taken (RFC 7523).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

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

// TokenRequest is a token endpoint request's form, as sent.
type TokenRequest struct {
	GrantType     string // grant_type
	AssertionType string // client_assertion_type
	Assertion     string // client_assertion
	Scope         string // scope
}

// TokenAnswer is the token endpoint's answer.
type TokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// A TokenEndpoint answers SMART Backend Services token requests.
type TokenEndpoint struct {
	// URL is the endpoint's own URL: what an assertion's aud must be.
	URL      string
	Registry *Registry
	Tokens   *AccessTokens
	Log      *slog.Logger
}

// Issue checks a client_credentials request with a signed assertion and
// returns an access token for the scopes asked. Errors: *OAuthError for a
// refusal (its description is safe to show: a key set that cannot be
// fetched is only said to be so, the reason goes to the log), any other
// error for a failure of a store.
func (e *TokenEndpoint) Issue(ctx context.Context, req TokenRequest) (TokenAnswer, error) {
	switch {
	case req.GrantType != "client_credentials":
		return TokenAnswer{}, oauthErr("unsupported_grant_type", "grant_type must be client_credentials")
	case req.AssertionType != assertionType:
		return TokenAnswer{}, oauthErr("invalid_request", "client_assertion_type must be %s", assertionType)
	case req.Assertion == "" || len(req.Assertion) > MaxJWTLen:
		return TokenAnswer{}, oauthErr("invalid_request", "client_assertion is missing or too long")
	}
	granted, err := grantScopes(req.Scope)
	if err != nil {
		return TokenAnswer{}, err
	}
	v, err := e.Registry.Verify(ctx, req.Assertion, Expect{Audience: e.URL, MaxAhead: maxAssertionAhead})
	var ref *Refusal
	if errors.As(err, &ref) {
		return TokenAnswer{}, oauthErr("invalid_client", "%s", strings.Replace(ref.Why, "the JWT", "the assertion", 1))
	}
	if err != nil {
		return TokenAnswer{}, err
	}
	at, err := e.Tokens.Issue(ctx, v.ClientID, granted)
	if err != nil {
		return TokenAnswer{}, err
	}
	if e.Log != nil {
		e.Log.InfoContext(ctx, "access token issued", "clinic", v.ClientID, "scope", granted, "alg", v.Algorithm)
	}
	return TokenAnswer{AccessToken: at, TokenType: "bearer", ExpiresIn: int(AccessTokenTTL.Seconds()), Scope: granted}, nil
}

// grantScopes checks the requested scopes: each must be one a token may
// carry (see SupportedScopes).
func grantScopes(scope string) (string, error) {
	requested := strings.Fields(scope)
	if len(requested) == 0 {
		return "", oauthErr("invalid_scope", "scope is required, e.g. system/Task.cru system/Task.rs")
	}
	for _, s := range requested {
		if !grantable(s) {
			return "", oauthErr("invalid_scope", "scope %q is not supported", s)
		}
	}
	return strings.Join(requested, " "), nil
}

// Configuration is /.well-known/smart-configuration.
type Configuration struct {
	TokenEndpoint     string   `json:"token_endpoint"`
	GrantTypes        []string `json:"grant_types_supported"`
	AuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	SigningAlgorithms []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	Scopes            []string `json:"scopes_supported"`
	Capabilities      []string `json:"capabilities"`
}

// Configuration says what the endpoint supports.
func (e *TokenEndpoint) Configuration() Configuration {
	algs := make([]string, len(Algorithms))
	for i, alg := range Algorithms {
		algs[i] = string(alg)
	}
	return Configuration{
		TokenEndpoint: e.URL, GrantTypes: []string{"client_credentials"},
		AuthMethods: []string{"private_key_jwt"}, SigningAlgorithms: algs,
		Scopes: SupportedScopes, Capabilities: []string{"client-confidential-asymmetric"},
	}
}

// AccessTokens makes and checks access tokens: a client's id, scopes and
// expiry under a MAC of the key. Nothing about a token is stored.
type AccessTokens struct {
	// Key returns the MAC key (the link key).
	Key func(ctx context.Context) ([]byte, error)
	Now func() time.Time
}

func (t *AccessTokens) now() time.Time {
	if t.Now != nil {
		return t.Now().UTC()
	}
	return time.Now().UTC()
}

// Issue makes an access token for a client's scopes, good for AccessTokenTTL.
func (t *AccessTokens) Issue(ctx context.Context, clinicID, scope string) (string, error) {
	payload, err := json.Marshal(tokenClaims{C: clinicID, S: scope, E: t.now().Add(AccessTokenTTL).Unix()})
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	mac, err := t.mac(ctx, p)
	if err != nil {
		return "", err
	}
	return "hat_" + p + "." + mac, nil
}

type tokenClaims struct {
	C string `json:"c"`
	S string `json:"s"`
	E int64  `json:"e"`
}

func (t *AccessTokens) mac(ctx context.Context, payload string) (string, error) {
	key, err := t.Key(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("handoff/access-token/v1|" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// Check verifies an access token and returns what it grants. Errors:
// problem.Unauthorized (no valid token, or an expired one).
func (t *AccessTokens) Check(ctx context.Context, token string) (Grant, error) {
	bad := problem.Errorf(problem.Unauthorized, "a valid access token is required (POST /oauth/token)")
	body, ok := strings.CutPrefix(token, "hat_")
	p, mac, ok2 := strings.Cut(body, ".")
	if !ok || !ok2 || len(token) > 1024 {
		return Grant{}, bad
	}
	want, err := t.mac(ctx, p)
	if err != nil {
		return Grant{}, err
	}
	if !hmac.Equal([]byte(want), []byte(mac)) {
		return Grant{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Grant{}, bad
	}
	var c tokenClaims
	if json.Unmarshal(raw, &c) != nil {
		return Grant{}, bad
	}
	if t.now().Unix() >= c.E {
		return Grant{}, problem.Errorf(problem.Unauthorized, "the access token has expired (they last 5 minutes): get a new one (POST /oauth/token)")
	}
	return Grant{ClinicID: c.C, Scopes: strings.Fields(c.S)}, nil
}
