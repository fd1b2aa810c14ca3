package seal

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestLocalKeyRoundTripAndTamper(t *testing.T) {
	ctx := context.Background()
	k, _, err := NewRandomLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("REF#1|REF")
	sealed, err := k.Seal(ctx, []byte("ana@example.org"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("ana@")) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := k.Open(ctx, sealed, aad)
	if err != nil || string(got) != "ana@example.org" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	tests := []struct {
		name   string
		sealed []byte
		aad    []byte
	}{
		{"wrong item", sealed, []byte("REF#2|REF")},
		{"flipped byte", flip(sealed, len(sealed)-1), aad},
		{"truncated", sealed[:5], aad},
		{"empty", nil, aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Open(ctx, tc.sealed, tc.aad); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
	other, _, _ := NewRandomLocalKey()
	if _, err := other.Open(ctx, sealed, aad); !errors.Is(err, ErrOpen) {
		t.Fatalf("another key opened it: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

func TestParseLocalKey(t *testing.T) {
	_, s, err := NewRandomLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseLocalKey(s); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseLocalKey("c2hvcnQ="); err == nil {
		t.Fatal("a short key was accepted")
	}
	if _, err := ParseLocalKey("not base64 !!"); err == nil {
		t.Fatal("garbage was accepted")
	}
}
