package passkey_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/passkey"
	"github.com/handoff-health/handoff/shared/passkey/passkeytest"
	"github.com/handoff-health/handoff/shared/problem"
)

const origin = "https://handoff.example.org"

func newRP(t *testing.T) *passkey.RP {
	t.Helper()
	rp, err := passkey.New(origin, "handoff")
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// The relying party takes an http or https origin with no path; its id is
// the host.
func TestNewChecksTheOrigin(t *testing.T) {
	tests := []struct {
		name, origin string
		ok           bool
	}{
		{name: "https", origin: "https://handoff.example.org", ok: true},
		{name: "http on a port", origin: "http://localhost:3000", ok: true},
		{name: "a path", origin: "https://handoff.example.org/clinic"},
		{name: "another scheme", origin: "ftp://handoff.example.org"},
		{name: "no host", origin: "https://"},
		{name: "not a URL", origin: "::"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := passkey.New(tc.origin, "handoff")
			if (err == nil) != tc.ok {
				t.Errorf("New(%q) = %v, want ok %v", tc.origin, err, tc.ok)
			}
		})
	}
}

// register makes a passkey for handle with auth; it returns the stored
// record.
func register(t *testing.T, rp *passkey.RP, auth *passkeytest.Authenticator, handle string, have ...dynamo.Passkey) dynamo.Passkey {
	t.Helper()
	options, state, err := rp.BeginRegistration([]byte(handle), "rivera@clinic.example", have)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := auth.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	k, err := rp.FinishRegistration([]byte(handle), "rivera@clinic.example", state, answer)
	if err != nil {
		t.Fatalf("a good registration: %v", err)
	}
	return k
}

// The options ask for a discoverable passkey, verified by the user, with no
// attestation, excluding the person's passkeys; the answer is checked for
// its origin, challenge, type and user verification.
func TestRegistration(t *testing.T) {
	must := answers(t)
	rp := newRP(t)
	const handle = "01KSTAFF000000000000000000"
	first := register(t, rp, passkeytest.New(origin), handle)
	if len(first.ID) == 0 || len(first.Record) == 0 || first.SignCount != 0 {
		t.Fatalf("the stored passkey %+v", first)
	}

	options, _, err := rp.BeginRegistration([]byte(handle), "rivera@clinic.example", []dynamo.Passkey{first})
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RP                     struct{ ID string }
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation        string            `json:"attestation"`
			ExcludeCredentials []json.RawMessage `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	if p := o.PublicKey; p.RP.ID != "handoff.example.org" || p.AuthenticatorSelection.ResidentKey != "required" ||
		p.AuthenticatorSelection.UserVerification != "required" || p.Attestation != "none" || len(p.ExcludeCredentials) != 1 {
		t.Errorf("creation options %+v", p)
	}

	tests := []struct {
		name   string
		answer func(options []byte) []byte
		code   problem.Code
	}{
		{name: "another origin", code: problem.Unauthorized, answer: func(o []byte) []byte {
			return must(passkeytest.New("https://evil.example").Create(o))
		}},
		{name: "no user verification", code: problem.Unauthorized, answer: func(o []byte) []byte {
			a := passkeytest.New(origin)
			a.NotVerified = true
			return must(a.Create(o))
		}},
		{name: "another ceremony's challenge", code: problem.Unauthorized, answer: func([]byte) []byte {
			other, _, err := rp.BeginRegistration([]byte(handle), "x", nil)
			if err != nil {
				t.Fatal(err)
			}
			return must(passkeytest.New(origin).Create(other))
		}},
		{name: "not JSON", code: problem.Malformed, answer: func([]byte) []byte { return []byte("{") }},
		{name: "no attestation object", code: problem.Malformed, answer: func(o []byte) []byte {
			return []byte(strings.Replace(string(must(passkeytest.New(origin).Create(o))), "attestationObject", "x", 1))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			options, state, err := rp.BeginRegistration([]byte(handle), "rivera@clinic.example", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = rp.FinishRegistration([]byte(handle), "rivera@clinic.example", state, tc.answer(options))
			if !problem.Is(err, tc.code) {
				t.Errorf("got %v, want %s", err, tc.code)
			}
		})
	}
}

// answers returns a must for tb: the answer, or tb fails.
func answers(tb testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
}

// A sign-in with any passkey of the relying party names its person by the
// user handle; it is refused for another origin, a person or passkey
// unknown, another ceremony, a sign count that did not grow, a
// user not verified, or an answer that does not decode — and a failed
// read of the person is returned as it is, not as a refusal.
func TestLogin(t *testing.T) {
	must := answers(t)
	rp := newRP(t)
	const handle = "01KSTAFF000000000000000001"
	auth := passkeytest.New(origin)
	stored := register(t, rp, auth, handle)
	find := func(h []byte) (string, []dynamo.Passkey, error) {
		if string(h) != handle {
			return "", nil, problem.Errorf(problem.NotFound, "nobody")
		}
		return "rivera@clinic.example", []dynamo.Passkey{stored}, nil
	}

	options, state, err := rp.BeginLogin()
	if err != nil {
		t.Fatal(err)
	}
	got, k, err := rp.FinishLogin(state, must(auth.Get(options)), find)
	if err != nil || string(got) != handle || k.SignCount != 1 || string(k.ID) != string(stored.ID) {
		t.Fatalf("a good sign-in: %q %+v %v", got, k, err)
	}
	stored = k

	readFailed := errors.New("the table could not be read")
	tests := []struct {
		name   string
		answer func(options []byte) []byte
		find   func([]byte) (string, []dynamo.Passkey, error)
		code   problem.Code
		err    error  // returned as it is
		reason string // in the refusal's message
	}{
		{name: "another origin", code: problem.Unauthorized, reason: "origin", answer: func(o []byte) []byte {
			a := *auth
			a.Origin = "https://evil.example"
			return must(a.Get(o))
		}},
		{name: "a person unknown", code: problem.Unauthorized, answer: func(o []byte) []byte { return must(auth.Get(o)) },
			find: func([]byte) (string, []dynamo.Passkey, error) {
				return "", nil, problem.Errorf(problem.NotFound, "nobody")
			}},
		{name: "a passkey not the person's", code: problem.Unauthorized, answer: func(o []byte) []byte { return must(auth.Get(o)) },
			find: func([]byte) (string, []dynamo.Passkey, error) { return "rivera@clinic.example", nil, nil }},
		{name: "a failed read", err: readFailed, answer: func(o []byte) []byte { return must(auth.Get(o)) },
			find: func([]byte) (string, []dynamo.Passkey, error) { return "", nil, readFailed }},
		{name: "another ceremony's challenge", code: problem.Unauthorized, answer: func([]byte) []byte {
			other, _, err := rp.BeginLogin()
			if err != nil {
				t.Fatal(err)
			}
			return must(auth.Get(other))
		}},
		{name: "a sign count that did not grow", code: problem.Unauthorized, reason: "sign count", answer: func(o []byte) []byte {
			// The stored count is brought up to the authenticator's by a
			// good sign-in; the next answer repeats it.
			good, state, err := rp.BeginLogin()
			if err != nil {
				t.Fatal(err)
			}
			if _, stored, err = rp.FinishLogin(state, must(auth.Get(good)), find); err != nil {
				t.Fatal(err)
			}
			auth.FreezeCount = true
			defer func() { auth.FreezeCount = false }()
			return must(auth.Get(o))
		}},
		{name: "no user verification", code: problem.Unauthorized, answer: func(o []byte) []byte {
			auth.NotVerified = true
			defer func() { auth.NotVerified = false }()
			return must(auth.Get(o))
		}},
		{name: "not JSON", code: problem.Malformed, answer: func([]byte) []byte { return []byte("[]") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			options, state, err := rp.BeginLogin()
			if err != nil {
				t.Fatal(err)
			}
			f := find
			if tc.find != nil {
				f = tc.find
			}
			_, _, err = rp.FinishLogin(state, tc.answer(options), f)
			switch {
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Errorf("got %v, want the read's error", err)
				}
			case !problem.Is(err, tc.code):
				t.Errorf("got %v, want %s", err, tc.code)
			case tc.reason != "" && !strings.Contains(err.Error(), tc.reason):
				t.Errorf("the refusal %q does not say %q", err, tc.reason)
			}
		})
	}
}
