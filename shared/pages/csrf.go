package pages

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// CSRFFieldName is the name of the hidden anti-CSRF field in every page form.
const CSRFFieldName = "csrf"

// minCSRFKey is the shortest key CSRF accepts.
const minCSRFKey = 16

// CSRF makes and checks synchronizer tokens bound to a page's link token. It is
// stateless: the token is HMAC-SHA256(Key, link token), so the page can put it
// in its form and the POST handler can check it without storing anything. Only
// someone who can read the page (and so holds the link) can post its form.
//
// Key should be 32 random bytes, the same on every instance; with a key shorter
// than 16 bytes Token returns "" and Check refuses every token.
type CSRF struct {
	Key []byte
}

// csrfDomain separates these MACs from any other use of the same key.
const csrfDomain = "handoff/csrf/v1\x00"

// Token returns the form token for the page whose link carries linkToken,
// base64url without padding.
func (c CSRF) Token(linkToken string) string {
	if len(c.Key) < minCSRFKey {
		return ""
	}
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte(csrfDomain))
	m.Write([]byte(linkToken))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check reports whether got is the form token for linkToken, comparing in
// constant time.
func (c CSRF) Check(linkToken, got string) bool {
	want := c.Token(linkToken)
	if want == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(want), []byte(got))
}
