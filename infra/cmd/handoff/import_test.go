package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
)

// TestImportCommand runs `handoff import` against a whole handoff (the
// embedded DynamoDB behind the real handlers): a real feed group by group
// with its progress line, then a smaller edition of it sent whole with
// -withdraw-missing, which withdraws what the feed dropped.
func TestImportCommand(t *testing.T) {
	h := apptest.New(t)
	feed := filepath.Join("..", "..", "seed", "feeds", "atlantaaa.json")
	common := []string{"-url", h.Server.URL, "-token", apptest.AdminToken, "-format", "meeting-guide",
		"-topic", "alcohol", "-fellowship", "aa", "-contact-email", "intergroup@aa.example", "-source", "atlanta-aa"}
	run := func(t *testing.T, args ...string) (string, string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := importFeed(args, &out, &errOut)
		return out.String(), errOut.String(), err
	}

	out, progress, err := run(t, append(common, feed)...)
	if err != nil || out != "created 5, updated 0, skipped 0\n" || !strings.Contains(progress, "imported 5/5 groups") {
		t.Fatalf("group by group: %v\nstdout %q\nstderr %q", err, out, progress)
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
		t.Fatalf("whole, withdrawing: %v\n%s", err, out)
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
