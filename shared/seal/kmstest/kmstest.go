// Package kmstest runs local-kms (github.com/nsmithuk/local-kms, installed
// into build/tools by `make tools`) for tests, and creates a key in it.
package kmstest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	bin, ok := Binary(testenv.RepoRoot(t))
	testenv.RequireTool(t, ok, "local-kms", "run `make tools` (go install github.com/nsmithuk/local-kms into build/tools)")
	port := strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port, "KMS_DATA_PATH="+t.TempDir(),
		"KMS_REGION=us-east-1", "KMS_ACCOUNT_ID=111122223333")
	k := &KMS{URL: "http://127.0.0.1:" + port}
	testenv.StartServer(t, cmd, "local-kms", k.URL, 20*time.Second, func(int) bool { return true })
	k.Client = kms.New(kms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(k.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	out, err := k.Client.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("handoff test data key")})
	if err != nil {
		t.Fatalf("create a key in local-kms: %v", err)
	}
	k.KeyID = aws.ToString(out.KeyMetadata.KeyId)
	return k
}
