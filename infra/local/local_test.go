package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/infra/local"
	"github.com/handoff-health/handoff/shared/ses/sestest"
	"github.com/handoff-health/handoff/shared/testenv"
	"github.com/handoff-health/handoff/shared/webhook"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// demoStack is the local stack started as `make run` starts it, on free
// ports, with the demo seed: its addresses and what it printed.
type demoStack struct {
	*local.Stack
	root                        string
	out                         bytes.Buffer
	api, ddb, mail, kms, phones string
}

// startDemo starts a demoStack; the caller stops it. Without the SES
// emulator it skips, saying how to get it.
func startDemo(t *testing.T) *demoStack {
	t.Helper()
	d := &demoStack{root: testenv.RepoRoot(t)}
	_, ok := sestest.Binary(d.root)
	testenv.RequireTool(t, ok, "the SES emulator (npm aws-ses-v2-local)", "run `make node_modules` (needs Node 20)")
	start := time.Now()
	s, err := local.StartDrawn(func() (*local.Stack, error) {
		d.api, d.ddb, d.mail, d.kms, d.phones = testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
		d.out.Reset()
		return local.Start(context.Background(), local.Options{
			Root: d.root, Getenv: env(map[string]string{"HANDOFF_ADDR": d.api, "HANDOFF_ADMIN_TOKEN": "t0ken-for-test"}),
			Out: &d.out, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			DynamoAddr: d.ddb, SESAddr: d.mail, KMSAddr: d.kms, PhoneAddr: d.phones, Seed: local.SeedDemo, SweepEvery: 50 * time.Millisecond,
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ready in %v", time.Since(start))
	d.Stack = s
	return d
}

// TestStackStartsServesAndStops starts the whole local stack as `make run`
// does (on free ports), checks it answers, sends a signed referral to the
// demo clinic, sees the consent email in the SES emulator, and stops it.
func TestStackStartsServesAndStops(t *testing.T) {
	d := startDemo(t)
	s, root, out, api, ddb, mail, phones := d.Stack, d.root, &d.out, d.api, d.ddb, d.mail, d.phones
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	for _, u := range []string{"http://" + api + "/healthz", "http://" + mail + "/", "http://" + mail + "/health-check", "http://" + phones + "/"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
	printed := out.String()
	for _, want := range []string{"http://" + api, "t0ken-for-test", "demo-clinic", "whsec_", "handoff send", "local-kms", "http://" + phones, "referral-phone.json"} {
		if !strings.Contains(printed, want) {
			t.Errorf("the start-up text does not show %q:\n%s", want, printed)
		}
	}
	// The ready command's referral, sent as that command would.
	var secret string
	for _, f := range strings.Fields(printed) {
		if strings.HasPrefix(f, "whsec_") {
			secret = f
		}
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	send := func(id string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+api+"/v1/clinics/demo-clinic/referrals", bytes.NewReader(body))
		for k, v := range webhook.SignHeaders(key, id, time.Now(), body) {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("referral: %d", resp.StatusCode)
		}
	}
	send("msg_local_test", []byte(`{"patient":{"given_name":"Sam","email":"sam@patient.example","postal_code":"60601"},"needs":["alcohol"],"clinician":{"name":"Dr. Lee","email":"lee@clinic.example"}}`))
	phoneOnly, err := os.ReadFile(filepath.Join(root, "infra", "local", "demo", "referral-phone.json"))
	if err != nil {
		t.Fatal(err)
	}
	send("msg_local_test_phone", phoneOnly)
	// The sweeper runs every 50 ms; the deadline is for a busy machine.
	deadline := time.Now().Add(90 * time.Second)
	for {
		mails, err := sestest.Store(context.Background(), "http://"+mail)
		if err != nil {
			t.Fatal(err)
		}
		if got := sestest.To(mails, "sam@patient.example"); len(got) == 1 {
			if !strings.Contains(got[0].Body.Text, "http://"+api+"/c/") {
				t.Fatal("the consent email has no link to this stack")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no consent email from the sweeper")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The phone-only demo referral's text, in the phone sink.
	for {
		var store struct {
			Messages []struct{ To, Body string } `json:"messages"`
		}
		resp, err := http.Get("http://" + phones + "/store?since=0")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&store)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(store.Messages) == 1 {
			if m := store.Messages[0]; m.To != "+13125550123" || !strings.Contains(m.Body, "http://"+api+"/c/") {
				t.Fatalf("the text goes to %s and holds no link to this stack: %q", m.To, m.Body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d texts from the sweeper, want 1", len(store.Messages))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	stopped = true
	for _, addr := range []string{api, ddb, mail, phones} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after Stop", addr)
		}
	}
}

// TestTakenPort: a taken port is a one-line error naming it and the variable.
func TestTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = local.Start(context.Background(), local.Options{
		Root: testenv.RepoRoot(t), Getenv: env(map[string]string{"HANDOFF_ADDR": l.Addr().String()}),
		Out: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), l.Addr().String()) || !strings.Contains(err.Error(), "HANDOFF_ADDR") {
		t.Fatalf("error %q should name %s and HANDOFF_ADDR on one line", err, l.Addr())
	}
	if !errors.Is(err, local.ErrPortInUse) {
		t.Errorf("error %q is not ErrPortInUse: a caller that drew free ports cannot tell to draw again", err)
	}
}
