package cdshooks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// JWT limits.
const (
	maxJWTLen = 8 << 10
	maxJTILen = 256
	// maxAhead is how far exp may lie ahead; clockSkew how far the EHR's
	// clock may run ahead of handoff's for iat and nbf.
	maxAhead  = 5 * time.Minute
	clockSkew = 30 * time.Second
)

// Algorithms are the signatures a CDS Hooks JWT may use: the specification
// recommends these two, and they are what a clinic's registered keys sign.
var Algorithms = []jose.SignatureAlgorithm{jose.RS384, jose.ES384}

// ErrUnknownKey is what Keys returns for a client id or kid with no
// registered key, or a jku that is not the registered JWKS URL.
var ErrUnknownKey = errors.New("no registered key")

// Keys finds the public key a clinic registered for its EHR (its FHIR
// client's JWKS) by the JWT's iss (the client id), its kid, and its jku when
// the header has one. A key that cannot be found is ErrUnknownKey; other
// errors are failures of the store and answer 5xx.
type Keys interface {
	HookKey(ctx context.Context, clientID, kid, jku string) (jose.JSONWebKey, error)
}

// JTIs records each JWT's jti: SeenHookJTI reports whether (client id, jti)
// was recorded before. shared/dynamo.Referrals implements it with a
// conditional write and a TTL.
type JTIs interface {
	SeenHookJTI(ctx context.Context, clientID, jti string, exp time.Time) (bool, error)
}

// JTIFunc is JTIs as a function (a store's method value).
type JTIFunc func(ctx context.Context, clientID, jti string, exp time.Time) (bool, error)

// SeenHookJTI calls f.
func (f JTIFunc) SeenHookJTI(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	return f(ctx, clientID, jti, exp)
}

// Verifier checks the EHR's JWT on each service call.
type Verifier struct {
	// ServiceURL is the service's URL, the JWT's required aud
	// (ServiceURL(HANDOFF_PUBLIC_URL)).
	ServiceURL string
	Keys       Keys
	JTIs       JTIs
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Caller is the EHR a verified JWT speaks for.
type Caller struct {
	ClientID string // iss = sub: the clinic's client id
	Tenant   string // the JWT's tenant, when it has one
}

// AuthError is a refused JWT: 401. Reason says what was wrong, naming no
// token or key material.
type AuthError struct{ Reason string }

func (e *AuthError) Error() string { return "CDS Hooks JWT: " + e.Reason }

// Authenticate checks an Authorization header: "Bearer" and a JWT signed
// RS384 or ES384 (never none, never a symmetric algorithm) by the key the
// clinic registered under its kid; typ JWT when given; iss = sub = the
// client id; aud the service URL; exp present, not passed and at most 5
// minutes ahead; iat present and not ahead; a jti not seen before, recorded
// once the signature verified. Errors: *AuthError (401), or the key store's
// or jti store's own.
func (v *Verifier) Authenticate(ctx context.Context, authorization string) (Caller, error) {
	refuse := func(format string, args ...any) (Caller, error) {
		return Caller{}, &AuthError{Reason: fmt.Sprintf(format, args...)}
	}
	scheme, raw, _ := strings.Cut(authorization, " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return refuse("a Bearer JWT is required")
	}
	if len(raw) > maxJWTLen {
		return refuse("the JWT is over 8 KiB")
	}
	tok, err := jwt.ParseSigned(raw, Algorithms)
	if err != nil {
		return refuse("not a JWT signed with RS384 or ES384")
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return refuse("the JWT's header must name its key (kid)")
	}
	hdr := tok.Headers[0]
	if typ, ok := hdr.ExtraHeaders[jose.HeaderType].(string); ok && !strings.EqualFold(typ, "JWT") {
		return refuse("the JWT's typ must be JWT")
	}
	var claimed jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&claimed); err != nil || claimed.Issuer == "" {
		return refuse("the JWT has no iss")
	}
	jku, _ := hdr.ExtraHeaders["jku"].(string)
	key, err := v.Keys.HookKey(ctx, claimed.Issuer, hdr.KeyID, jku)
	if errors.Is(err, ErrUnknownKey) {
		return refuse("the JWT names no key registered for its client")
	}
	if err != nil {
		return Caller{}, fmt.Errorf("find the EHR's key: %w", err)
	}
	var claims struct {
		jwt.Claims
		Tenant string `json:"tenant"`
	}
	if err := tok.Claims(key.Key, &claims); err != nil {
		return refuse("the JWT's signature does not verify")
	}
	if claims.Subject != claims.Issuer {
		return refuse("the JWT's iss and sub must both be the client id")
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	err = claims.ValidateWithLeeway(jwt.Expected{Issuer: claimed.Issuer, Subject: claimed.Issuer,
		AnyAudience: jwt.Audience{v.ServiceURL}, Time: now}, clockSkew)
	switch {
	case errors.Is(err, jwt.ErrInvalidAudience):
		return refuse("the JWT's aud must be %s", v.ServiceURL)
	case claims.Expiry == nil || errors.Is(err, jwt.ErrExpired) || !claims.Expiry.Time().After(now):
		return refuse("the JWT has expired, or has no exp")
	case err != nil:
		return refuse("the JWT's iss, sub, iat or nbf does not hold")
	case claims.Expiry.Time().After(now.Add(maxAhead + clockSkew)):
		return refuse("the JWT's exp is more than 5 minutes ahead")
	case claims.IssuedAt == nil:
		return refuse("the JWT has no iat")
	case claims.ID == "" || len(claims.ID) > maxJTILen:
		return refuse("the JWT needs a jti of at most 256 characters")
	}
	seen, err := v.JTIs.SeenHookJTI(ctx, claimed.Issuer, claims.ID, claims.Expiry.Time())
	if err != nil {
		return Caller{}, fmt.Errorf("record the JWT's jti: %w", err)
	}
	if seen {
		return refuse("the JWT's jti was used before")
	}
	return Caller{ClientID: claimed.Issuer, Tenant: claims.Tenant}, nil
}
