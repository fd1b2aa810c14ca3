package sestest

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/testenv"
)

// shared is the emulator a test binary's tests share (see Shared).
var shared struct {
	mu    sync.Mutex
	e     *Emulator
	cmd   *exec.Cmd
	err   error
	users int
}

// Shared returns the emulator the test binary's tests share, starting it on
// first use, and holds it for t until t ends. Starting a Node process costs
// about half a second of CPU: a package whose tests each need a mailbox
// starts one, not one per test. When no test holds it any more its mailbox
// is emptied, so each test that runs alone starts with an empty one; tests
// that overlap tell their mail apart by the address they send from. The
// emulator dies with the test binary even if it is killed; StopShared, from
// TestMain, stops it once the tests have run. Without Node or the npm
// package it skips (fails under CI=true), as Start does.
func Shared(t testing.TB) *Emulator {
	t.Helper()
	bin := required(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.e == nil && shared.err == nil {
		shared.e, shared.cmd, shared.err = startShared(bin, testenv.FreePort(t))
	}
	if shared.err != nil {
		t.Fatalf("the shared SES emulator: %v", shared.err)
	}
	shared.users++
	e := shared.e
	t.Cleanup(func() {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		shared.users--
		if shared.users == 0 && shared.e == e {
			if err := clearMailbox(e.URL); err != nil {
				t.Errorf("empty the shared SES emulator's mailbox: %v", err)
			}
		}
	})
	return e
}

// StopShared stops the shared emulator, if one was started. Call it from
// TestMain after m.Run.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cmd != nil {
		_ = shared.cmd.Process.Kill()
		_ = shared.cmd.Wait()
	}
	shared.e, shared.cmd, shared.err = nil, nil, nil
}

// startShared starts the emulator on port and waits until it answers. It is
// started from a thread that stays alive as long as the test binary, so
// that the parent-death signal (on Linux) fires only when the binary ends.
func startShared(bin string, port int) (*Emulator, *exec.Cmd, error) {
	p := strconv.Itoa(port)
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", p)
	cmd.SysProcAttr = dieWithParent()
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread outlives every test
		started <- cmd.Start()
		select {}
	}()
	if err := <-started; err != nil {
		return nil, nil, fmt.Errorf("start: %w", err)
	}
	e := &Emulator{URL: "http://127.0.0.1:" + p}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(e.URL + "/health-check")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e, cmd, nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, nil, errors.New("it did not answer on " + e.URL + " within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clearMailbox empties an emulator's mailbox.
func clearMailbox(base string) error {
	resp, err := http.Post(base+"/clear-store", "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
