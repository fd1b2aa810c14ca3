// Package testenv holds what handoff's tests share about their environment:
// where the repository is, and how a test that needs a missing tool skips — or,
// under CI=true, fails.
package testenv

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// RequireTool skips the test with a message saying how to install what is
// missing; under CI (CI=true) the same condition fails the test instead, so a
// CI run can never pass by skipping.
func RequireTool(t testing.TB, ok bool, what, howToInstall string) {
	t.Helper()
	if ok {
		return
	}
	msg := what + " is not available; " + howToInstall
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg)
}

// RepoRoot returns the repository's root: the nearest folder above the working
// directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a 127.0.0.1 port that nothing listened on a moment ago,
// for a server the test starts as a process.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a host:port address on 127.0.0.1.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// StartServer starts cmd, kills it when the test ends, and waits up to wait
// for url to answer HTTP (with a status ok accepts); the test fails if it
// never does.
func StartServer(t testing.TB, cmd *exec.Cmd, what, url string, wait time.Duration, ok func(status int) bool) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(wait)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on %s within %s", what, url, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CI reports whether the tests run under CI=true, where a missing tool is a
// failure rather than a skip.
func CI() bool { return os.Getenv("CI") == "true" }
