// Package seal protects personal data at rest: patient contact fields and clinic
// secrets are sealed with AES-256-GCM before they reach DynamoDB, with the item's
// keys as additional authenticated data, so a ciphertext copied onto another
// item does not open.
//
// Sealer is the one interface the stores use. LocalKey seals with a key held in
// the process (the local stack and tests); the KMS envelope implementation wraps a
// data key from AWS KMS beside each ciphertext.
package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// ErrOpen is returned when a sealed value does not open: it was tampered with,
// sealed under another key, or moved to another item.
var ErrOpen = errors.New("seal: value does not open (tampered, wrong key or wrong item)")

// Sealer seals and opens values bound to additional data (the item's keys).
type Sealer interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, sealed, aad []byte) ([]byte, error)
}

// LocalKey seals with one AES-256 key held in memory.
type LocalKey struct {
	aead cipher.AEAD
}

var _ Sealer = (*LocalKey)(nil)

// localVersion marks values sealed by LocalKey.
const localVersion = 0x01

// NewLocalKey returns a LocalKey for a 32-byte key.
func NewLocalKey(key []byte) (*LocalKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal: local key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &LocalKey{aead: aead}, nil
}

// ParseLocalKey decodes a base64 (standard or URL alphabet) 32-byte key, as
// given in HANDOFF_SEAL_KEY.
func ParseLocalKey(s string) (*LocalKey, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return NewLocalKey(b)
		}
	}
	return nil, errors.New("seal: the local key is not base64")
}

// NewRandomLocalKey returns a LocalKey with a fresh random key, and the key in
// base64 so it can be kept.
func NewRandomLocalKey() (*LocalKey, string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, "", fmt.Errorf("seal: %w", err)
	}
	k, err := NewLocalKey(key)
	return k, base64.StdEncoding.EncodeToString(key), err
}

// Seal encrypts plaintext bound to aad. The result is version byte, nonce,
// ciphertext.
func (k *LocalKey) Seal(_ context.Context, plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), 1+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := append([]byte{localVersion}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts a value sealed by Seal with the same aad; any mismatch is ErrOpen.
func (k *LocalKey) Open(_ context.Context, sealed, aad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns+k.aead.Overhead() || sealed[0] != localVersion {
		return nil, ErrOpen
	}
	pt, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
