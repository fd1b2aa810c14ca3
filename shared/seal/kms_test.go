package seal_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/handoff-health/handoff/shared/seal"
	"github.com/handoff-health/handoff/shared/seal/kmstest"
)

// TestKMSEnvelope seals and opens through the real SDK against local-kms.
func TestKMSEnvelope(t *testing.T) {
	lk := kmstest.Start(t)
	ctx := context.Background()
	s := seal.NewKMS(lk.Client, lk.KeyID)
	var generated, decrypted int
	gen, dec := s.GenerateDataKey, s.Decrypt
	s.GenerateDataKey = func(ctx context.Context, in *kms.GenerateDataKeyInput, o ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
		generated++
		return gen(ctx, in, o...)
	}
	s.Decrypt = func(ctx context.Context, in *kms.DecryptInput, o ...func(*kms.Options)) (*kms.DecryptOutput, error) {
		decrypted++
		return dec(ctx, in, o...)
	}
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	s.MaxUses = 3
	aad := []byte("REF#1|REF|contact")
	var sealed [][]byte
	for i := range 5 {
		b, err := s.Seal(ctx, []byte("ana@example.org"), aad)
		if err != nil {
			t.Fatalf("seal %d: %v", i, err)
		}
		if bytes.Contains(b, []byte("ana@")) {
			t.Fatal("the sealed value holds the plaintext")
		}
		sealed = append(sealed, b)
	}
	if generated != 2 {
		t.Fatalf("%d data keys for 5 seals with 3 uses each, want 2", generated)
	}
	now = now.Add(10 * time.Minute) // past MaxAge: a new key
	if _, err := s.Seal(ctx, []byte("x"), aad); err != nil || generated != 3 {
		t.Fatalf("after MaxAge: %d data keys, %v", generated, err)
	}
	// A fresh sealer (another process) opens them, unwrapping each data key once.
	other := seal.NewKMS(lk.Client, lk.KeyID)
	other.Decrypt = s.Decrypt
	decrypted = 0
	for i, b := range sealed {
		pt, err := other.Open(ctx, b, aad)
		if err != nil || string(pt) != "ana@example.org" {
			t.Fatalf("open %d: %q %v", i, pt, err)
		}
	}
	if decrypted != 2 {
		t.Fatalf("%d KMS Decrypt calls to open values under 2 data keys, want 2", decrypted)
	}
	tests := []struct {
		name   string
		sealed []byte
		aad    []byte
	}{
		{"another item's keys", sealed[0], []byte("REF#2|REF|contact")},
		{"a flipped ciphertext byte", flip(sealed[0], len(sealed[0])-1), aad},
		{"a flipped wrapped-key byte", flip(sealed[0], 5), aad},
		{"truncated", sealed[0][:10], aad},
		{"a local-key value", []byte{0x01, 1, 2, 3}, aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := other.Open(ctx, tc.sealed, tc.aad)
			if err == nil {
				t.Fatal("opened")
			}
			if !errors.Is(err, seal.ErrOpen) && tc.name != "a flipped wrapped-key byte" {
				t.Fatalf("err %v, want ErrOpen", err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x55
	return c
}
