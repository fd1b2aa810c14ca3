// Package sestest runs the SES v2 emulator (npm aws-ses-v2-local, installed
// into infra/ses by `make test` / `make run`) for tests, and reads its mailbox.
package sestest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/handoff-health/handoff/shared/testenv"
)

// Emulator is a running SES emulator.
type Emulator struct {
	URL string // e.g. http://127.0.0.1:41234
}

// Mail is one stored email, as the emulator's /store lists it.
type Mail struct {
	MessageID   string `json:"messageId"`
	From        string `json:"from"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		HTML string `json:"html"`
		Text string `json:"text"`
	} `json:"body"`
	Attachments []Attachment `json:"attachments"`
	At          int64        `json:"at"`
}

// Attachment is one file of a stored email, as the emulator keeps it (from
// Simple content's Attachments, or parsed from Raw MIME by mailparser).
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Content     string `json:"content"` // base64
	Size        int    `json:"size"`
}

// Data returns the attachment's bytes.
func (a Attachment) Data() ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(a.Content)
	if err != nil {
		return nil, fmt.Errorf("attachment %s: %w", a.Filename, err)
	}
	return b, nil
}

// Binary returns the emulator's path under the repository, and whether it is
// installed.
func Binary(root string) (string, bool) {
	p := filepath.Join(root, "infra", "ses", "node_modules", ".bin", "aws-ses-v2-local")
	_, err := os.Stat(p)
	return p, err == nil
}

// required returns the emulator's path, or skips the test (fails it under
// CI=true) saying how to install Node and the npm package.
func required(t testing.TB) string {
	t.Helper()
	bin, ok := Binary(testenv.RepoRoot(t))
	_, nodeErr := exec.LookPath("node")
	testenv.RequireTool(t, ok && nodeErr == nil, "the SES emulator (npm aws-ses-v2-local)",
		"install Node 20 and run `make node_modules` (npm ci in infra/ses)")
	return bin
}

// Start runs the emulator on a free loopback port until the test ends. Without
// Node or the npm package it skips (fails under CI=true) saying how to install.
func Start(t testing.TB) *Emulator {
	t.Helper()
	bin := required(t)
	e := &Emulator{}
	testenv.StartServerOnFreePort(t, "the SES emulator", 30*time.Second, func(status int) bool { return status == http.StatusOK },
		func(port int) (*exec.Cmd, string) {
			e.URL = "http://127.0.0.1:" + strconv.Itoa(port)
			return exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port)), e.URL + "/health-check"
		})
	return e
}

// Client returns an SES v2 client pointed at the emulator; optFns adjust
// its options (e.g. add a middleware).
func (e *Emulator) Client(optFns ...func(*sesv2.Options)) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, optFns...)
}

// Mails lists every email the emulator holds.
func (e *Emulator) Mails(ctx context.Context) ([]Mail, error) {
	return Store(ctx, e.URL)
}

// Store reads the /store of an emulator at base.
func Store(ctx context.Context, base string) ([]Mail, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/store", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read SES store: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("read SES store: status %d", resp.StatusCode)
	}
	var body struct {
		Emails []Mail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("read SES store: %w", err)
	}
	return body.Emails, nil
}

// To returns the emails sent to addr.
func To(mails []Mail, addr string) []Mail {
	var out []Mail
	for _, m := range mails {
		for _, to := range m.Destination.To {
			if to == addr {
				out = append(out, m)
				break
			}
		}
	}
	return out
}
