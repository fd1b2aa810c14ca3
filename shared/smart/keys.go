package smart

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Key set limits.
const (
	// MaxJWKSBytes bounds a key set, registered inline or fetched.
	MaxJWKSBytes = 64 << 10
	maxJWKSKeys  = 10
)

// Algorithms are the signature algorithms a client's JWT may use.
var Algorithms = []jose.SignatureAlgorithm{jose.RS384, jose.ES384}

// ParseJWKS checks a key set an operator registers for a client: 1 to 10
// keys, each one a JWT may be signed with (a public RSA key of 2048 bits or
// more, or a P-384 key), each with a kid of its own. Its error says what is
// wrong in words an operator can act on; it never holds key material.
func ParseJWKS(raw []byte) error {
	_, err := parseJWKS(raw)
	return err
}

func parseJWKS(raw []byte) (jose.JSONWebKeySet, error) {
	if len(raw) > MaxJWKSBytes {
		return jose.JSONWebKeySet{}, errors.New("is over 64 KiB")
	}
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
// keys a JWT may be signed with and skipping the others: an EHR's published
// set may also hold keys of other kinds, sizes or uses, and one of those
// must not stop its good keys from working. Two keys sharing a kid are both
// kept: a JWT naming that kid is then refused (a kid picks exactly one
// key). It fails only when no key is usable.
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
		return ks, errNoUsableKey
	}
	return ks, nil
}

// errNoUsableKey is a fetched set without a key a JWT may be signed with:
// the client's own doing, which its refusal may say.
var errNoUsableKey = errors.New("holds no key an assertion may use (a public RSA key of 2048 bits or more, or a P-384 key, with a kid)")

// checkKey says whether a JWT may be signed with k: a public RSA key of
// 2048 bits or more (RS384), or a P-384 key (ES384).
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
