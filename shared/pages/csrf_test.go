package pages

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestCSRF(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	c := CSRF{Key: key}
	link := "q7WmN0xK-3_pZ8vLrT2yH5cB9dF1gJ4sA6eU0iO3kMw"
	tok := c.Token(link)

	t.Run("token shape", func(t *testing.T) {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 32 bytes of base64url (err %v)", tok, err)
		}
		if c.Token(link) != tok {
			t.Error("token is not stable")
		}
		if strings.Contains(tok, link) {
			t.Error("token shows the link token")
		}
	})

	flip := []byte(tok)
	flip[3] ^= 1
	cases := []struct {
		name string
		c    CSRF
		link string
		got  string
		want bool
	}{
		{"matching", c, link, tok, true},
		{"another page's token", c, "another-link-token", tok, false},
		{"another key", CSRF{Key: []byte("fedcba9876543210fedcba9876543210")}, link, tok, false},
		{"one bit changed", c, link, string(flip), false},
		{"truncated", c, link, tok[:len(tok)-1], false},
		{"empty", c, link, "", false},
		{"empty link token", c, "", c.Token(""), true},
		{"short key refuses everything", CSRF{Key: []byte("short")}, link, CSRF{Key: []byte("short")}.Token(link), false},
		{"no key refuses everything", CSRF{}, link, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Check(tc.link, tc.got); got != tc.want {
				t.Errorf("Check = %v, want %v", got, tc.want)
			}
		})
	}
	if (CSRF{Key: []byte("short")}).Token(link) != "" {
		t.Error("a short key made a token")
	}
}
