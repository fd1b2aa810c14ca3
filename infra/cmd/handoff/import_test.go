package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
)

// TestImportCommand runs `handoff import` against a whole handoff (the
// embedded DynamoDB behind the real handlers, the dispatcher sweeping as the
// local stack's does): a real feed in parts of 2 KB, followed to its end
// with a progress bar, then a smaller edition of it with -withdraw-missing,
// which withdraws what the feed dropped.
func TestImportCommand(t *testing.T) {
	h := apptest.New(t)
	h.Imports.ChunkBytes = 2 << 10
	ctx, stop := context.WithCancel(h.SweepContext())
	swept := make(chan struct{})
	go func() { h.Dispatcher.Loop(ctx, 20*time.Millisecond); close(swept) }()
	t.Cleanup(func() { stop(); <-swept })
	feed := filepath.Join("..", "..", "seed", "feeds", "atlantaaa.json")
	common := []string{"-url", h.Server.URL, "-token", apptest.AdminToken, "-format", "meeting-guide", "-poll", "20ms", "-part-size", "2048",
		"-topic", "alcohol", "-fellowship", "aa", "-contact-email", "intergroup@aa.example", "-source", "atlanta-aa"}
	run := func(t *testing.T, args ...string) (string, string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := importFeed(args, &out, &errOut)
		return out.String(), errOut.String(), err
	}

	out, progress, err := run(t, append(common, feed)...)
	if err != nil || out != "created 5, updated 0, skipped 0\n" || !strings.Contains(progress, "[##############################] 5/5 groups 100%") ||
		!strings.Contains(progress, "sending part 2 of") {
		t.Fatalf("in parts: %v\nstdout %q\nstderr %q", err, out, progress)
	}

	raw, err := os.ReadFile(feed)
	if err != nil {
		t.Fatal(err)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	one, _ := json.Marshal(rows[:1])
	smaller := filepath.Join(t.TempDir(), "one-meeting.json")
	if err := os.WriteFile(smaller, one, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, append(common, "-withdraw-missing", smaller)...)
	if err != nil || !strings.Contains(out, "created 0, updated 1, skipped 0, withdrawn 4\n") || strings.Count(out, "  withdrawn: atlanta-aa-") != 4 {
		t.Fatalf("withdrawing: %v\n%s", err, out)
	}

	if _, _, err := run(t, "-url", h.Server.URL, "-token", apptest.AdminToken, "-topic", "alcohol", "-withdraw-missing", feed); err == nil || !strings.Contains(err.Error(), "needs -source") {
		t.Errorf("-withdraw-missing without -source: %v", err)
	}
	if _, _, err := run(t, "-url", h.Server.URL, "-token", "", feed); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no token: %v", err)
	}
	if _, _, err := run(t, append(common[:len(common)-2], "-source", "atlanta-aa", "-token", "wrong", "-withdraw-missing", feed)...); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a wrong token: %v", err)
	}
}

// TestNothingAnswers: with no stack at the address, the command says how to
// start one.
func TestNothingAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	feed := filepath.Join("..", "..", "seed", "feeds", "atlantaaa.json")
	err = importFeed([]string{"-url", "http://" + addr, "-token", "x", "-topic", "alcohol", "-contact-email", "a@b.example", feed}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "make run") {
		t.Errorf("import with nothing listening: %v", err)
	}
}
