package smartlaunch

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The browser binding: see the package comment.

func stateHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

func (c *Client) baseCookie(hash string, embedded bool) *http.Cookie {
	if embedded {
		// In a frame of the EHR's page, a cross-site context: a browser
		// keeps and sends only a SameSite=None cookie there, and (where
		// third-party cookies are blocked) only a partitioned one (CHIPS),
		// kept under the EHR's site and sent under no other top-level
		// site. Both need Secure (a browser takes it over https, and from
		// loopback hosts).
		return &http.Cookie{
			Name: cookiePrefix + hash[:16], Path: CallbackPath, HttpOnly: true,
			SameSite: http.SameSiteNoneMode, Secure: true, Partitioned: true,
		}
	}
	return &http.Cookie{
		Name: cookiePrefix + hash[:16], Path: CallbackPath, HttpOnly: true,
		// Lax: the callback is a top-level navigation back from the EHR's
		// authorization server, which Strict would strip the cookie from.
		SameSite: http.SameSiteLaxMode,
		Secure:   strings.HasPrefix(c.PublicURL, "https://"),
	}
}

func (c *Client) mac(ctx context.Context, hash string, exp int64) (string, error) {
	key, err := c.Key(ctx)
	if err != nil {
		return "", fmt.Errorf("the launch cookie's key: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("handoff/launch-state/v1|" + hash + "|" + strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

func (c *Client) cookie(ctx context.Context, hash string, exp time.Time, embedded bool) (*http.Cookie, error) {
	mac, err := c.mac(ctx, hash, exp.Unix())
	if err != nil {
		return nil, err
	}
	ck := c.baseCookie(hash, embedded)
	ck.Value = strconv.FormatInt(exp.Unix(), 10) + "." + mac
	ck.MaxAge = int(StateTTL.Seconds())
	return ck, nil
}

func (c *Client) checkCookie(ctx context.Context, hash string, cookies []*http.Cookie) error {
	name := c.baseCookie(hash, false).Name
	for _, ck := range cookies {
		if ck.Name != name {
			continue
		}
		expS, mac, ok := strings.Cut(ck.Value, ".")
		exp, err := strconv.ParseInt(expS, 10, 64)
		if !ok || err != nil {
			break
		}
		want, err := c.mac(ctx, hash, exp)
		if err != nil {
			return err
		}
		if !hmac.Equal([]byte(want), []byte(mac)) {
			break
		}
		if c.now().Unix() >= exp {
			return fail(BadState, "the browser's launch cookie has expired")
		}
		return nil
	}
	return fail(BadState, "this browser did not start the launch the state names")
}

func random() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
