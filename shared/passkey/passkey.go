// Package passkey is handoff's adapter to WebAuthn (passkeys), wrapping
// github.com/go-webauthn/webauthn: it makes the options a browser's
// navigator.credentials.create() and .get() take, and checks their answers —
// the origin, the relying party, the challenge, user verification, the
// signature and the sign count. It implements room.Passkeys; only the clinic's
// pages link it.
//
// Credentials are discoverable (a passkey names its owner by its user
// handle), verified by the authenticator (a PIN or a biometric), with no
// attestation asked. What the adapter returns to keep — a credential's
// record — is opaque to the caller apart from its id and sign count.
package passkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
)

// CeremonyTimeout is how long a browser has to answer a ceremony.
const CeremonyTimeout = 5 * time.Minute

// RP is the relying party: one origin, built once per process.
type RP struct {
	w *webauthn.WebAuthn
}

// New returns the relying party of origin (scheme, host and port, e.g.
// https://handoff.example.org): its id is the origin's host. It returns an
// error for an origin that is not an absolute http or https URL.
func New(origin, name string) (*RP, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.Path != "" {
		return nil, fmt.Errorf("passkey: the origin must be an http or https URL with no path")
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: name, RPOrigins: []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTimeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTimeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RP{w: w}, nil
}

// user is a staff member as the library sees one.
type user struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newUser(handle []byte, name string, keys []dynamo.Passkey) (*user, error) {
	u := &user{handle: handle, name: name}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Record, &c); err != nil {
			return nil, fmt.Errorf("passkey: a stored credential does not decode: %w", err)
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// BeginRegistration returns the options of navigator.credentials.create()
// (JSON, {"publicKey": …}) for a new passkey of the person with user handle
// handle, excluding the passkeys they have, and the ceremony's state to keep
// until FinishRegistration.
func (rp *RP) BeginRegistration(handle []byte, name string, have []dynamo.Passkey) (options, state []byte, err error) {
	u, err := newUser(handle, name, have)
	if err != nil {
		return nil, nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := rp.w.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return encode(creation, session)
}

// FinishRegistration checks the browser's answer to BeginRegistration's
// options (the JSON of PublicKeyCredential.toJSON()) and returns the new
// passkey. Errors: problem.Unauthorized for an answer that does not verify
// (another origin, another challenge, no user verification…), naming the
// reason; problem.Malformed for one that does not decode.
func (rp *RP) FinishRegistration(handle []byte, name string, state, response []byte) (dynamo.Passkey, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return dynamo.Passkey{}, fmt.Errorf("passkey: ceremony state: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return dynamo.Passkey{}, refusal(problem.Malformed, err)
	}
	c, err := rp.w.CreateCredential(&user{handle: handle, name: name}, session, parsed)
	if err != nil {
		return dynamo.Passkey{}, refusal(problem.Unauthorized, err)
	}
	return record(c)
}

// BeginLogin returns the options of navigator.credentials.get() for any
// passkey of this relying party (a discoverable login: the browser offers
// the person's passkeys), and the ceremony's state.
func (rp *RP) BeginLogin() (options, state []byte, err error) {
	assertion, session, err := rp.w.BeginDiscoverableLogin()
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin login: %w", err)
	}
	return encode(assertion, session)
}

// FinishLogin checks the browser's answer to BeginLogin's options: find
// returns the name and passkeys of the person a user handle names (a
// problem.NotFound error for nobody). It returns the handle and the passkey
// used, its record and sign count brought up to date. Errors:
// problem.Unauthorized for an answer that does not verify — another origin,
// another challenge, an unknown person or passkey, a bad signature, or a sign
// count that did not grow (a cloned authenticator, or a replayed answer);
// problem.Malformed for one that does not decode.
func (rp *RP) FinishLogin(state, response []byte, find func(handle []byte) (string, []dynamo.Passkey, error)) ([]byte, dynamo.Passkey, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return nil, dynamo.Passkey{}, fmt.Errorf("passkey: ceremony state: %w", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, dynamo.Passkey{}, refusal(problem.Malformed, err)
	}
	var lookupErr error
	who, c, err := rp.w.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
		name, keys, err := find(handle)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		return newUser(handle, name, keys)
	}, session, parsed)
	if lookupErr != nil && !problem.Is(lookupErr, problem.NotFound) {
		return nil, dynamo.Passkey{}, lookupErr // a failed read, not a refusal
	}
	if err != nil {
		return nil, dynamo.Passkey{}, refusal(problem.Unauthorized, err)
	}
	if c.Authenticator.CloneWarning {
		return nil, dynamo.Passkey{}, problem.Errorf(problem.Unauthorized, "passkey refused: its sign count did not grow (a copied authenticator or a replayed answer)")
	}
	k, err := record(c)
	if err != nil {
		return nil, dynamo.Passkey{}, err
	}
	return bytes.Clone(who.WebAuthnID()), k, nil
}

func encode(options any, session *webauthn.SessionData) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	s, err := json.Marshal(session)
	if err != nil {
		return nil, nil, err
	}
	return o, s, nil
}

func record(c *webauthn.Credential) (dynamo.Passkey, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return dynamo.Passkey{}, err
	}
	return dynamo.Passkey{ID: bytes.Clone(c.ID), Record: b, SignCount: c.Authenticator.SignCount}, nil
}

// refusal is the error of an answer that does not verify, with the library's
// reason (which names no person and holds no secret).
func refusal(code problem.Code, err error) error {
	reason := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		reason = pe.Details
	}
	return problem.Errorf(code, "passkey refused: %s", reason)
}
