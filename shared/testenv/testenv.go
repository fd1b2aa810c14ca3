// Package testenv holds what handoff's tests share about their environment:
// where the repository is, and how a test that needs a missing tool skips — or,
// under CI=true, fails.
package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
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

// FreePort returns a 127.0.0.1 port that nothing listens on, for a server
// the test starts as a process. The port is drawn at random from below the
// kernel's ephemeral range (net.ipv4.ip_local_port_range), where no
// listener on port 0 and no outgoing connection ever gets one: between this
// call and the process binding the port, only another FreePort caller could
// take it (a port the kernel hands out could go to any of the test
// binaries' servers and connections running in parallel meanwhile).
func FreePort(t testing.TB) int {
	t.Helper()
	if low := ephemeralLow(); low-freeFrom >= 1000 {
		for range 100 {
			port := freeFrom + rand.IntN(low-freeFrom)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err == nil {
				l.Close()
				return port
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeFrom is the lowest port FreePort draws: above the fixed ports of the
// local stack and of common services.
const freeFrom = 20000

// ephemeralLow is the first port of the kernel's ephemeral range (32768,
// Linux's default, when it cannot be read).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		_, _ = fmt.Sscan(string(b), &low) // "32768\t60999"; low is kept on an error
	}
	return low
}

// FreeAddr is FreePort as a host:port address on 127.0.0.1.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// StartServer starts cmd, kills it when the test ends, and waits up to wait
// for url to answer HTTP (with a status ok accepts); the test fails if it
// never does, or if the process ends first.
func StartServer(t testing.TB, cmd *exec.Cmd, what, url string, wait time.Duration, ok func(status int) bool) {
	t.Helper()
	if err := startServer(t, cmd, url, wait, ok); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// StartServerOnFreePort is StartServer for a server on a port of
// FreePort's: command returns the command that serves on port and the URL
// to wait for. If the process ends before it answers (another process took
// the port in between), it is started again on another port, up to three
// times in all. It returns the port.
func StartServerOnFreePort(t testing.TB, what string, wait time.Duration, ok func(status int) bool, command func(port int) (*exec.Cmd, string)) int {
	t.Helper()
	var err error
	for range 3 {
		port := FreePort(t)
		cmd, url := command(port)
		if err = startServer(t, cmd, url, wait, ok); err == nil {
			return port
		}
		if !errors.Is(err, errExited) {
			break
		}
	}
	t.Fatalf("%s: %v", what, err)
	return 0
}

// errExited is startServer's error when the process ended before it
// answered.
var errExited = errors.New("the process ended before it answered")

// startServer starts cmd, kills it when the test ends, and waits up to wait
// for url to answer with a status ok accepts, while the process runs. It
// returns errExited (wrapped) if the process ended first, or an error
// saying it never answered.
func startServer(t testing.TB, cmd *exec.Cmd, url string, wait time.Duration, ok func(status int) bool) error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(wait)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			return fmt.Errorf("%w (%v)", errExited, err)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("it did not answer on %s within %s", url, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CI reports whether the tests run under CI=true, where a missing tool is a
// failure rather than a skip.
func CI() bool { return os.Getenv("CI") == "true" }
