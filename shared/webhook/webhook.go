// Package webhook signs and verifies webhooks per the Standard Webhooks
// specification (v1, HMAC-SHA256), the scheme clinics use to sign referrals
// they send and handoff uses to sign the status webhooks it sends back.
//
// A signed request carries three headers: webhook-id, webhook-timestamp (Unix
// seconds) and webhook-signature, a space-separated list of "v1,<base64>"
// signatures of "{id}.{timestamp}.{raw body}" keyed by the shared secret. The
// svix-id, svix-timestamp and svix-signature spellings are accepted too.
//
// Verifier checks a request against one or more secrets (several during a
// secret rotation) within a timestamp tolerance, on an injected clock. Its
// errors are the sentinels below; none carries a header value.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names, as the specification spells them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook's timestamp may be from now when a
// Verifier's Tolerance is not set.
const DefaultTolerance = 5 * time.Minute

// SecretPrefix marks a serialized secret.
const SecretPrefix = "whsec_"

// MinSecretBytes is the shortest secret ParseSecret accepts (128 bits).
const MinSecretBytes = 16

// Errors returned by Verify. Compare with errors.Is.
var (
	// ErrMissingHeaders: the id, timestamp or signature header is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrBadTimestamp: the timestamp header is not a Unix time in seconds.
	ErrBadTimestamp = errors.New("webhook: timestamp header is not a Unix time in seconds")
	// ErrTooOld: the timestamp is a tolerance or more in the past.
	ErrTooOld = errors.New("webhook: timestamp is too old")
	// ErrTooNew: the timestamp is a tolerance or more in the future.
	ErrTooNew = errors.New("webhook: timestamp is too far in the future")
	// ErrNoValidSignature: no v1 signature in the header matches any secret.
	ErrNoValidSignature = errors.New("webhook: no valid signature")
	// ErrNoSecret: Verify was given no non-empty secret (a caller's mistake).
	ErrNoSecret = errors.New("webhook: no secret to verify with")
)

// b64 is standard base64, strict: a signature whose unused final bits are
// not zero is a different string for the same MAC and is refused, as the
// reference libraries (which compare encoded strings) refuse it.
var b64 = base64.StdEncoding.Strict()

// sigLen is the length of a v1 signature in base64: 44 characters.
var sigLen = b64.EncodedLen(sha256.Size)

// Verifier checks signed webhooks. The zero value is ready to use, with
// DefaultTolerance and the system clock.
type Verifier struct {
	// Tolerance is how far the timestamp may be from Now, either way; a
	// webhook exactly Tolerance away is refused. Zero or less means
	// DefaultTolerance: there is no way to switch the check off.
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify checks that payload (the raw request body) and the webhook headers in
// h are signed by one of secrets (raw key bytes, see ParseSecret) and that the
// timestamp is within the tolerance.
//
// It returns nil, ErrMissingHeaders, ErrBadTimestamp, ErrTooOld, ErrTooNew,
// ErrNoValidSignature, or ErrNoSecret when every secret given is empty.
// Signatures of other versions (such as "v1a,") are ignored, and signatures
// are compared in constant time.
func (v Verifier) Verify(payload []byte, h http.Header, secrets ...[]byte) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" && ts == "" && sigs == "" {
		id, ts, sigs = h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature")
	}
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	unix, err := parseTimestamp(ts)
	if err != nil {
		return err
	}
	if err := v.checkTime(unix); err != nil {
		return err
	}

	macs := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		if len(s) > 0 {
			macs = append(macs, mac(s, id, ts, payload))
		}
	}
	if len(macs) == 0 {
		return ErrNoSecret
	}

	// A 44-character base64 string without padding decodes to 33 bytes: the
	// buffer has room for that, and such a string is then refused by length.
	var got [sha256.Size + 1]byte
	for entry := range strings.FieldsSeq(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" || len(sig) != sigLen {
			continue
		}
		if n, err := b64.Decode(got[:], []byte(sig)); err != nil || n != sha256.Size {
			continue
		}
		for _, m := range macs {
			if hmac.Equal(got[:sha256.Size], m) {
				return nil
			}
		}
	}
	return ErrNoValidSignature
}

// parseTimestamp reads a Unix time in seconds: decimal digits only, no sign.
func parseTimestamp(ts string) (int64, error) {
	if len(ts) > 18 {
		return 0, ErrBadTimestamp
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, ErrBadTimestamp
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, ErrBadTimestamp
	}
	return n, nil
}

func (v Verifier) checkTime(unix int64) error {
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	// Compare in whole seconds' worth of duration from now; 18 digits of
	// seconds cannot overflow time.Unix.
	d := time.Unix(unix, 0).Sub(now())
	switch {
	case d <= -tol:
		return ErrTooOld
	case d >= tol:
		return ErrTooNew
	}
	return nil
}

// mac is the HMAC-SHA256 of "{id}.{ts}.{payload}" under secret.
func mac(secret []byte, id, ts string, payload []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}

// Sign returns the v1 signature ("v1,<base64>") of payload sent with the given
// id at time ts (taken in whole Unix seconds), under secret.
func Sign(secret []byte, id string, ts time.Time, payload []byte) string {
	return "v1," + b64.EncodeToString(mac(secret, id, strconv.FormatInt(ts.Unix(), 10), payload))
}

// SignHeaders returns the three headers of a webhook signed by secret: for
// outgoing status webhooks, and for tests that play a clinic.
func SignHeaders(secret []byte, id string, ts time.Time, payload []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, id, ts, payload))
	return h
}

// ParseSecret decodes a serialized secret, "whsec_" followed by standard
// base64 (padded). It returns an error, naming neither the secret nor any part
// of it, when the prefix is missing, the rest is not base64, or the key is
// shorter than MinSecretBytes.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errors.New("webhook: secret does not start with " + SecretPrefix)
	}
	key, err := b64.DecodeString(rest)
	if err != nil {
		return nil, errors.New("webhook: secret is not base64 after " + SecretPrefix)
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("webhook: secret is shorter than %d bytes", MinSecretBytes)
	}
	return key, nil
}

// NewSecret returns a new serialized secret: "whsec_" and the base64 of 32
// bytes from crypto/rand. It returns an error only if the system's random
// source fails.
func NewSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return SecretPrefix + b64.EncodeToString(key), nil
}
