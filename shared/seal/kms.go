package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMS seals by envelope encryption: a data key from AWS KMS (GenerateDataKey)
// encrypts the value with AES-256-GCM, and the data key, wrapped by KMS, is
// stored beside the ciphertext. A data key is reused for a bounded time and
// count; unwrapped keys are cached the same way.
type KMS struct {
	// The client's two operations it uses (holding the methods rather than the
	// client keeps the client's other operations out of the binary).
	GenerateDataKey func(context.Context, *kms.GenerateDataKeyInput, ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt         func(context.Context, *kms.DecryptInput, ...func(*kms.Options)) (*kms.DecryptOutput, error)
	KeyID           string
	// MaxAge and MaxUses bound how long one data key seals.
	MaxAge  time.Duration
	MaxUses int
	Now     func() time.Time

	mu      sync.Mutex
	current *dataKey
	opened  map[string]*dataKey
}

type dataKey struct {
	plain   []byte
	wrapped []byte
	made    time.Time
	uses    int
}

var _ Sealer = (*KMS)(nil)

// kmsVersion marks values sealed by KMS.
const kmsVersion = 0x02

// NewKMS returns a KMS sealer with a 5-minute, 10,000-use data key.
func NewKMS(api *kms.Client, keyID string) *KMS {
	return &KMS{GenerateDataKey: api.GenerateDataKey, Decrypt: api.Decrypt, KeyID: keyID, MaxAge: 5 * time.Minute, MaxUses: 10000}
}

func (k *KMS) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *KMS) key(ctx context.Context) (*dataKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c := k.current; c != nil && c.uses < k.MaxUses && k.now().Sub(c.made) < k.MaxAge {
		c.uses++
		return c, nil
	}
	out, err := k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(k.KeyID), KeySpec: types.DataKeySpecAes256,
		EncryptionContext: map[string]string{"purpose": "handoff-seal"},
	})
	if err != nil {
		return nil, fmt.Errorf("seal: generate data key: %w", err)
	}
	k.current = &dataKey{plain: out.Plaintext, wrapped: out.CiphertextBlob, made: k.now(), uses: 1}
	return k.current, nil
}

// Seal encrypts plaintext bound to aad: version, wrapped-key length, wrapped
// key, nonce, ciphertext.
func (k *KMS) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	dk, err := k.key(ctx)
	if err != nil {
		return nil, err
	}
	aead, err := gcm(dk.plain)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := []byte{kmsVersion}
	out = binary.BigEndian.AppendUint16(out, uint16(len(dk.wrapped)))
	out = append(out, dk.wrapped...)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, bindAAD(aad, dk.wrapped)), nil
}

// Open decrypts a value sealed by Seal; any mismatch is ErrOpen, a KMS failure
// is returned wrapped.
func (k *KMS) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 3 || sealed[0] != kmsVersion {
		return nil, ErrOpen
	}
	n := int(binary.BigEndian.Uint16(sealed[1:3]))
	if len(sealed) < 3+n+12+16 {
		return nil, ErrOpen
	}
	wrapped, rest := sealed[3:3+n], sealed[3+n:]
	plain, err := k.unwrap(ctx, wrapped)
	if err != nil {
		return nil, err
	}
	aead, err := gcm(plain)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], bindAAD(aad, wrapped))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func (k *KMS) unwrap(ctx context.Context, wrapped []byte) ([]byte, error) {
	id := string(wrapped)
	k.mu.Lock()
	if dk, ok := k.opened[id]; ok && k.now().Sub(dk.made) < k.MaxAge {
		k.mu.Unlock()
		return dk.plain, nil
	}
	k.mu.Unlock()
	out, err := k.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob: wrapped, KeyId: aws.String(k.KeyID),
		EncryptionContext: map[string]string{"purpose": "handoff-seal"},
	})
	if err != nil {
		return nil, fmt.Errorf("seal: unwrap data key: %w", err)
	}
	k.mu.Lock()
	if k.opened == nil || len(k.opened) > 1000 {
		k.opened = map[string]*dataKey{}
	}
	k.opened[id] = &dataKey{plain: out.Plaintext, made: k.now()}
	k.mu.Unlock()
	return out.Plaintext, nil
}

// bindAAD authenticates the wrapped data key along with the item's keys, so a
// changed wrapped key fails to open even where KMS would still unwrap it.
func bindAAD(aad, wrapped []byte) []byte {
	out := make([]byte, 0, len(aad)+len(wrapped)+1)
	out = append(out, aad...)
	out = append(out, 0)
	return append(out, wrapped...)
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return cipher.NewGCM(block)
}
