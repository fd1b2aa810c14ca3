package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/infra/local"
	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/ses/sestest"
	"github.com/handoff-health/handoff/shared/testenv"
)

// TestSmokeAgainstTheLocalStack runs `handoff smoke` against the whole local
// stack `make run` starts (on free ports), whose SES emulator answers the
// mailbox simulator's addresses as SES does: every step passes, the smoke
// clinic is gone at the end, and a wrong admin token fails the first step
// that needs it and leaves nothing behind.
func TestSmokeAgainstTheLocalStack(t *testing.T) {
	root := testenv.RepoRoot(t)
	_, ok := sestest.Binary(root)
	testenv.RequireTool(t, ok, "the SES emulator (npm aws-ses-v2-local)", "run `make node_modules` (needs Node 20)")
	const token = "smoke-test-admin-token"
	var api string
	s, err := local.StartDrawn(func() (*local.Stack, error) {
		api = testenv.FreeAddr(t)
		return local.Start(context.Background(), local.Options{
			Root: root, Getenv: func(k string) string {
				return map[string]string{"HANDOFF_ADDR": api, "HANDOFF_ADMIN_TOKEN": token}[k]
			},
			Out: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			DynamoAddr: testenv.FreeAddr(t), SESAddr: testenv.FreeAddr(t), KMSAddr: testenv.FreeAddr(t), PhoneAddr: testenv.FreeAddr(t),
			SweepEvery: 50 * time.Millisecond,
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	base := "http://" + api
	run := func(t *testing.T, want ...string) {
		t.Helper()
		var out bytes.Buffer
		err := smoke([]string{"-url", base, "-token", token, "-wait", "30s", "-poll", "100ms"}, &out)
		t.Logf("handoff smoke:\n%s", out.String())
		if err != nil {
			t.Fatalf("smoke: %v", err)
		}
		for _, w := range append(want, "the consent email went out", "remove the smoke clinic", "smoke test passed: 10 steps") {
			if !strings.Contains(out.String(), w) {
				t.Errorf("the report has no %q", w)
			}
		}
		if n := strings.Count(out.String(), " ok "); n != 10 {
			t.Errorf("%d steps ok, want 10", n)
		}
		// The smoke clinic's id was printed; it is removed: its name is all
		// that is left.
		id := strings.Fields(out.String()[strings.Index(out.String(), "create the smoke clinic ")+len("create the smoke clinic "):])[0]
		c, err := s.App.Clinics.Get(context.Background(), id)
		if err != nil || c.RemovedAt.IsZero() || c.APIKeyHash != "" || c.ContactEmail != "" {
			t.Fatalf("the smoke clinic %s was not removed: %+v %v", id, c, err)
		}
	}
	// A first deploy: nothing in the directory yet.
	t.Run("empty directory", func(t *testing.T) { run(t, "referral unmatched (no group", "closed already (unmatched)") })
	// With a group near the synthetic patient: the consent link awaits an
	// answer until the bounce makes the referral unreachable.
	if _, err := s.App.PutGroup(context.Background(), apptest.SampleGroup("smoke-near", 37.7599, -122.4148), false); err != nil {
		t.Fatal(err)
	}
	t.Run("a group near the patient", func(t *testing.T) {
		run(t, "referral awaiting-consent", "referral unreachable, timeline awaiting-consent → unreachable", "200, cancelled")
	})

	var out bytes.Buffer

	if err := smoke([]string{"-url", base, "-token", "wrong", "-wait", "1s", "-poll", "100ms"}, &out); err == nil ||
		!strings.Contains(out.String(), "FAIL") || strings.Contains(out.String(), "remove the smoke clinic") {
		t.Fatalf("a wrong admin token: %v\n%s", err, out.String())
	}
	if err := smoke([]string{"-url", base}, io.Discard); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no token: %v", err)
	}
}
