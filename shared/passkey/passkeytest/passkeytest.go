// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers the options of navigator.credentials.create() and .get() as a
// platform authenticator holding discoverable passkeys would — ES256 keys,
// no attestation ("none"), the user present and verified — and gives the
// JSON a browser's PublicKeyCredential.toJSON() gives. The relying party is
// thus tested with real protocol bytes (CBOR, COSE keys, signatures), with
// no browser; shared/apptest drives Chromium's virtual authenticator for
// the pages themselves.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator holds passkeys and answers ceremonies. Its fields change
// what the next answer says, so a test can make a bad one.
type Authenticator struct {
	// Origin is the origin the browser reports in clientDataJSON.
	Origin string
	// NotVerified answers without user verification (UV flag unset).
	NotVerified bool
	// FreezeCount keeps the sign count from growing (a copied
	// authenticator, or a replay).
	FreezeCount bool

	creds []*credential
}

type credential struct {
	id     []byte
	key    *ecdsa.PrivateKey
	rpID   string
	handle []byte
	count  uint32
}

// New returns an authenticator in a browser at origin, holding no passkey.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin} }

// Count is how many passkeys it holds.
func (a *Authenticator) Count() int { return len(a.creds) }

var b64 = base64.RawURLEncoding

// options reads {"publicKey": …} or the bare options.
func options(raw []byte, v any) error {
	var wrapped struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(raw, &wrapped); err == nil && len(wrapped.PublicKey) > 0 {
		raw = wrapped.PublicKey
	}
	return json.Unmarshal(raw, v)
}

// Create answers creation options with a new passkey: the JSON of the
// credential, as the browser sends it to the relying party.
func (a *Authenticator) Create(opts []byte) ([]byte, error) {
	var o struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := options(opts, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: creation options: %w", err)
	}
	handle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		return nil, fmt.Errorf("passkeytest: user id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &credential{id: make([]byte, 16), key: key, rpID: o.RP.ID, handle: handle}
	_, _ = rand.Read(c.id)
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	point := pub.Bytes() // 0x04 | x | y
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:65]})
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 0, 16+2+len(c.id)+len(cose))
	attested = append(attested, make([]byte, 16)...) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(c.id)))
	attested = append(attested, c.id...)
	attested = append(attested, cose...)
	authData := a.authData(c, 0x40, attested)
	object, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	client, err := a.clientData("webauthn.create", o.Challenge)
	if err != nil {
		return nil, err
	}
	a.creds = append(a.creds, c)
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(client), "attestationObject": b64.EncodeToString(object),
			"transports": []string{"internal"},
		},
	})
}

// Get answers request options with the first passkey it holds for their
// relying party: the JSON of the assertion. Each answer grows its sign
// count by one (unless FreezeCount).
func (a *Authenticator) Get(opts []byte) ([]byte, error) {
	var o struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	}
	if err := options(opts, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: request options: %w", err)
	}
	var c *credential
	for _, k := range a.creds {
		if k.rpID == o.RPID {
			c = k
			break
		}
	}
	if c == nil {
		return nil, errors.New("passkeytest: no passkey for " + o.RPID)
	}
	if !a.FreezeCount {
		c.count++
	}
	authData := a.authData(c, 0, nil)
	client, err := a.clientData("webauthn.get", o.Challenge)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(client)
	digest := sha256.Sum256(append(append([]byte{}, authData...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(client), "authenticatorData": b64.EncodeToString(authData),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(c.handle),
		},
	})
}

// authData is the authenticator data: the relying party's id hashed, the
// flags (user present, verified unless NotVerified, and extra), the sign
// count, then rest.
func (a *Authenticator) authData(c *credential, extra byte, rest []byte) []byte {
	rp := sha256.Sum256([]byte(c.rpID))
	flags := byte(0x01) | extra
	if !a.NotVerified {
		flags |= 0x04
	}
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, c.count)
	return append(out, rest...)
}

func (a *Authenticator) clientData(typ, challenge string) ([]byte, error) {
	return json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
}
