// Package kmstest runs local-kms (github.com/nsmithuk/local-kms, installed
// into build/tools by `make tools`) for tests, and creates a key in it.
package kmstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/handoff-health/handoff/shared/testenv"
)

// KMS is a running local-kms with one symmetric key.
type KMS struct {
	URL    string
	Client *kms.Client
	KeyID  string
}

// Binary returns local-kms's path: LOCAL_KMS, build/tools/local-kms, or PATH.
func Binary(root string) (string, bool) {
	for _, p := range []string{os.Getenv("LOCAL_KMS"), filepath.Join(root, "build", "tools", "local-kms")} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	p, err := exec.LookPath("local-kms")
	return p, err == nil
}

// Start runs local-kms on a free port until the test ends and creates a key.
// Without local-kms it skips (fails under CI=true) saying how to install it.
func Start(t testing.TB) *KMS {
	t.Helper()
	k := run(t, "")
	out, err := k.Client.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("handoff test data key")})
	if err != nil {
		t.Fatalf("create a key in local-kms: %v", err)
	}
	k.KeyID = aws.ToString(out.KeyMetadata.KeyId)
	return k
}

// run runs local-kms on a free port until the test ends, in account
// 111122223333 and us-east-1, seeded from seedPath unless it is "", and
// returns it with its client. Without local-kms it skips (fails under
// CI=true) saying how to install it.
func run(t testing.TB, seedPath string) *KMS {
	t.Helper()
	bin, ok := Binary(testenv.RepoRoot(t))
	testenv.RequireTool(t, ok, "local-kms", "run `make tools` (go install github.com/nsmithuk/local-kms into build/tools)")
	k := &KMS{}
	testenv.StartServerOnFreePort(t, "local-kms", 20*time.Second, func(int) bool { return true }, func(port int) (*exec.Cmd, string) {
		cmd := exec.Command(bin)
		// Each start keeps its data apart.
		cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "KMS_DATA_PATH="+t.TempDir(),
			"KMS_REGION=us-east-1", "KMS_ACCOUNT_ID=111122223333")
		if seedPath != "" {
			cmd.Env = append(cmd.Env, "KMS_SEED_PATH="+seedPath)
		}
		k.URL = "http://127.0.0.1:" + strconv.Itoa(port)
		return cmd, k.URL
	})
	k.Client = kms.New(kms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(k.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	return k
}

// Key is a key StartKeys seeds local-kms with.
type Key struct {
	ID   string // the key id (a UUID)
	HMAC bool   // an HMAC_256 key for GenerateMac, else a symmetric encryption key
}

// Available reports whether local-kms is installed (see Binary).
func Available(t testing.TB) bool {
	t.Helper()
	_, ok := Binary(testenv.RepoRoot(t))
	return ok
}

// StartKeys runs local-kms on a free port until the test ends, in account
// 111122223333 and us-east-1, holding the given keys under their ids (so a
// test can use the key ids a deployment's template gives). Without local-kms
// it skips (fails under CI=true) saying how to install it.
func StartKeys(t testing.TB, keys ...Key) *KMS {
	t.Helper()
	var seed strings.Builder
	seed.WriteString("Keys:\n  Symmetric:\n")
	for _, kind := range []bool{false, true} {
		if kind {
			seed.WriteString("    Hmac:\n")
		} else {
			seed.WriteString("    Aes:\n")
		}
		for _, k := range keys {
			if k.HMAC != kind {
				continue
			}
			backing := make([]byte, 32)
			_, _ = rand.Read(backing)
			fmt.Fprintf(&seed, "      - Metadata:\n          KeyId: %s\n          Enabled: true\n", k.ID)
			if k.HMAC {
				seed.WriteString("          KeyUsage: GENERATE_VERIFY_MAC\n          KeySpec: HMAC_256\n")
			}
			fmt.Fprintf(&seed, "        BackingKeys:\n          - %s\n", hex.EncodeToString(backing))
		}
	}
	seedPath := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(seedPath, []byte(seed.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	k := run(t, seedPath)
	if len(keys) > 0 {
		k.KeyID = keys[0].ID
	}
	return k
}
