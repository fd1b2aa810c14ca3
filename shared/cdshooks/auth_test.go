package cdshooks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/handoff-health/handoff/shared/cdshooks"
	"github.com/handoff-health/handoff/shared/cdshooks/cdshookstest"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

const serviceURL = "https://handoff.example/cds-services/handoff-peer-support"

// keyring is a small Keys: the wiring looks keys up in the clinic's
// registered SMART keys instead.
type keyring map[string]jose.JSONWebKey // client id + "|" + kid → public key

func (k keyring) HookKey(_ context.Context, clientID, kid, jku string) (jose.JSONWebKey, error) {
	key, ok := k[clientID+"|"+kid]
	if !ok || jku != "" { // these clients registered their keys inline: no JWKS URL to match a jku

		return jose.JSONWebKey{}, cdshooks.ErrUnknownKey
	}
	return key, nil
}

var _ cdshooks.Keys = keyring{}
var _ cdshooks.JTIs = (*dynamo.Referrals)(nil)

// ehrKeys is an EHR's key pair for signing hook JWTs.
type ehrKeys struct {
	es, rs  jose.SigningKey
	keyring keyring
}

func newEHRKeys(t testing.TB, clientID string) ehrKeys {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return ehrKeys{
		es: jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: ec, KeyID: "ehr-es"}},
		rs: jose.SigningKey{Algorithm: jose.RS384, Key: jose.JSONWebKey{Key: rk, KeyID: "ehr-rs"}},
		keyring: keyring{
			clientID + "|ehr-es": {Key: &ec.PublicKey, KeyID: "ehr-es", Algorithm: "ES384"},
			clientID + "|ehr-rs": {Key: &rk.PublicKey, KeyID: "ehr-rs", Algorithm: "RS384"},
		},
	}
}

// sign makes a hook JWT as an EHR does, with claims changed by edit.
func sign(t testing.TB, key jose.SigningKey, now time.Time, edit func(map[string]any)) string {
	t.Helper()
	claims := map[string]any{"iss": "clinic-1", "sub": "clinic-1", "aud": serviceURL,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": newJTI()}
	if edit != nil {
		edit(claims)
	}
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// verifier checks hook JWTs sent to aud against keys at the time now
// gives, recording their jtis in the embedded DynamoDB server (through the
// SDK).
func verifier(t testing.TB, aud string, keys cdshooks.Keys, now func() time.Time) *cdshooks.Verifier {
	t.Helper()
	db := dynamotest.New(t)
	return &cdshooks.Verifier{ServiceURL: aud, Keys: keys,
		JTIs: &dynamo.Referrals{DB: db.Client, Table: db.Tables.Referrals}, Now: now}
}

func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// The EHR's JWT, checked as the specification and handoff's contract say;
// each refusal is an *AuthError (401) that names no token material.
func TestAuthenticate(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	keys := newEHRKeys(t, "clinic-1")
	v := verifier(t, serviceURL, keys.keyring, func() time.Time { return now })
	ctx := context.Background()

	for _, key := range []jose.SigningKey{keys.es, keys.rs} {
		c, err := v.Authenticate(ctx, sign(t, key, now, func(m map[string]any) { m["tenant"] = "t-1" }))
		if err != nil || c.ClientID != "clinic-1" || c.Tenant != "t-1" {
			t.Fatalf("%s: Authenticate = %+v, %v", key.Algorithm, c, err)
		}
	}
	if _, err := v.Authenticate(ctx, sign(t, keys.es, now, func(m map[string]any) { m["aud"] = []string{"https://other.example", serviceURL} })); err != nil {
		t.Errorf("aud as an array holding the service URL: %v", err)
	}

	replayed := sign(t, keys.es, now, nil)
	if _, err := v.Authenticate(ctx, replayed); err != nil {
		t.Fatal(err)
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	forged := jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: otherKey, KeyID: "ehr-es"}}
	hmacKey := jose.SigningKey{Algorithm: jose.HS384, Key: []byte(strings.Repeat("k", 48))}
	unknownKid := jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: otherKey, KeyID: "nobody"}}

	for name, authz := range map[string]string{
		"alg none":        "Bearer " + none(t, now),
		"HS384":           sign(t, hmacKey, now, nil),
		"wrong aud":       sign(t, keys.es, now, func(m map[string]any) { m["aud"] = "https://handoff.example/cds-services" }),
		"expired":         sign(t, keys.es, now, func(m map[string]any) { m["exp"] = now.Add(-time.Minute).Unix() }),
		"no exp":          sign(t, keys.es, now, func(m map[string]any) { delete(m, "exp") }),
		"exp too far":     sign(t, keys.es, now, func(m map[string]any) { m["exp"] = now.Add(time.Hour).Unix() }),
		"no iat":          sign(t, keys.es, now, func(m map[string]any) { delete(m, "iat") }),
		"iat ahead":       sign(t, keys.es, now, func(m map[string]any) { m["iat"] = now.Add(time.Hour).Unix() }),
		"no jti":          sign(t, keys.es, now, func(m map[string]any) { delete(m, "jti") }),
		"replayed jti":    replayed,
		"unknown key":     sign(t, unknownKid, now, nil),
		"unknown client":  sign(t, keys.es, now, func(m map[string]any) { m["iss"], m["sub"] = "clinic-2", "clinic-2" }),
		"sub not iss":     sign(t, keys.es, now, func(m map[string]any) { m["sub"] = "someone" }),
		"no sub":          sign(t, keys.es, now, func(m map[string]any) { delete(m, "sub") }),
		"wrong signature": sign(t, forged, now, nil),
		"no Bearer":       strings.TrimPrefix(sign(t, keys.es, now, nil), "Bearer "),
		"empty":           "",
		"not a JWT":       "Bearer not.a.jwt",
		"a jku":           signWithHeader(t, keys.es, now, "jku", "https://attacker.example/jwks"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Authenticate(ctx, authz)
			var ae *cdshooks.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Authenticate = %v (%T), want *AuthError", err, err)
			}
			if tok := strings.TrimPrefix(authz, "Bearer "); len(tok) > 20 && strings.Contains(ae.Error(), tok[:20]) {
				t.Errorf("the refusal %q quotes the token", ae)
			}
		})
	}
}

// signWithHeader signs a good JWT with one more header.
func signWithHeader(t testing.TB, key jose.SigningKey, now time.Time, name string, value any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey(name), value))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(map[string]any{"iss": "clinic-1", "sub": "clinic-1", "aud": serviceURL,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": newJTI()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// none makes an unsigned JWT (alg none), which go-jose will not sign.
func none(t testing.TB, now time.Time) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "none", "typ": "JWT", "kid": "ehr-es"}) + "." +
		enc(map[string]any{"iss": "clinic-1", "sub": "clinic-1", "aud": serviceURL, "iat": now.Unix(),
			"exp": now.Add(time.Minute).Unix(), "jti": "none-1"}) + "."
}

// The specification's own example JWT (ES384, its published key, a jku)
// verifies — signature, alg, kid, aud, exp — and handoff then refuses it for
// the one thing its contract adds: a sub equal to iss (the example has none).
func TestTheSpecExampleJWT(t *testing.T) {
	var ex struct {
		Payload struct {
			Iss string `json:"iss"`
			Aud string `json:"aud"`
			Exp int64  `json:"exp"`
		} `json:"payload"`
		Header struct {
			Kid string `json:"kid"`
			Jku string `json:"jku"`
		} `json:"header"`
		JWKS jose.JSONWebKeySet `json:"jwks"`
		JWT  string             `json:"jwt"`
	}
	if err := json.Unmarshal(cdshookstest.File(t, "jwt-example.json"), &ex); err != nil {
		t.Fatal(err)
	}
	pub := ex.JWKS.Keys[0]
	var checked bool
	keys := keysFunc(func(clientID, kid, jku string) (jose.JSONWebKey, error) {
		if clientID != ex.Payload.Iss || kid != ex.Header.Kid || jku != ex.Header.Jku {
			return jose.JSONWebKey{}, cdshooks.ErrUnknownKey
		}
		checked = true
		return pub, nil
	})
	v := verifier(t, ex.Payload.Aud, keys, func() time.Time { return time.Unix(ex.Payload.Exp, 0).Add(-time.Minute) })
	_, err := v.Authenticate(context.Background(), "Bearer "+ex.JWT)
	var ae *cdshooks.AuthError
	if !checked || !errors.As(err, &ae) || !strings.Contains(ae.Reason, "sub") {
		t.Fatalf("the spec's example: key looked up %v, err %v; want its signature verified and a refusal for its missing sub", checked, err)
	}
	// The same token under another key does not get that far.
	other := newEHRKeys(t, ex.Payload.Iss).keyring[ex.Payload.Iss+"|ehr-es"]
	v.Keys = keysFunc(func(string, string, string) (jose.JSONWebKey, error) { return other, nil })
	if _, err := v.Authenticate(context.Background(), "Bearer "+ex.JWT); !errors.As(err, &ae) || !strings.Contains(ae.Reason, "signature") {
		t.Errorf("under another key: %v, want a signature refusal", err)
	}
}

type keysFunc func(clientID, kid, jku string) (jose.JSONWebKey, error)

func (f keysFunc) HookKey(_ context.Context, clientID, kid, jku string) (jose.JSONWebKey, error) {
	return f(clientID, kid, jku)
}
