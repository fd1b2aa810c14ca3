package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fhirKeygen makes an EHR's ES384 key pair: the private key to a PEM file
// (mode 0600), the public JWKS to stdout, ready for PUT /v1/admin/clinics/{id}/fhir-client.
func fhirKeygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fhir-keygen", flag.ContinueOnError)
	out := fs.String("out", "ehr-key.pem", "where to write the private key (PEM)")
	kid := fs.String("kid", "ehr-1", "the key's id (kid)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// Never over an existing key: it may be the one a clinic registered.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists (perhaps a registered key): name another file with -out", *out)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: *kid, Algorithm: "ES384", Use: "sig"}}}
	b, err := json.Marshal(map[string]any{"jwks": jwks})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return nil
}

// fhirToken signs a SMART Backend Services assertion with an EHR's key and
// trades it for an access token at the stack's token endpoint (or, with
// -assertion, prints the assertion only).
func fhirToken(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fhir-token", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:3000", "the stack's public URL (HANDOFF_PUBLIC_URL)")
	client := fs.String("client", "demo-clinic", "the client_id (the clinic's id)")
	keyFile := fs.String("key", "ehr-key.pem", "the EHR's private key (PEM: an RSA key signs RS384, a P-384 key ES384)")
	kid := fs.String("kid", "ehr-1", "the registered key's id")
	scope := fs.String("scope", "system/Task.cru system/Task.rs", "the scopes to ask for")
	only := fs.Bool("assertion", false, "print the signed assertion instead of posting it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return fmt.Errorf("%s holds no PEM key", *keyFile)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	alg := jose.RS384
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES384
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", *kid))
	if err != nil {
		return err
	}
	endpoint := strings.TrimRight(*base, "/") + "/oauth/token"
	now := time.Now()
	assertion, err := jwt.Signed(sig).Claims(jwt.Claims{
		Issuer: *client, Subject: *client, Audience: jwt.Audience{endpoint},
		Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: strings.ToLower(rand.Text()),
	}).Serialize()
	if err != nil {
		return err
	}
	if *only {
		fmt.Fprintln(stdout, assertion)
		return nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {*scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewBufferString(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body, err := call(req, 64<<10)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("token endpoint: %s %s", resp.Status, bytes.TrimSpace(body))
	}
	var ans struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.AccessToken == "" {
		return errors.New("token endpoint: no access_token in the answer")
	}
	fmt.Fprintln(stdout, ans.AccessToken)
	return nil
}
