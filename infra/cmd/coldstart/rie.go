package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/handoff-health/handoff/infra/procmem"
)

// measurement is what one cold start gave.
type measurement struct {
	firstAnswer time.Duration // exec of the emulator to the first invocation's answer
	init        time.Duration // INIT phase as the emulator reports it; 0 if not reported
	warm        time.Duration // a second invocation, same process
	outcome     string        // what the function answered, e.g. "ok", "HTTP 503", "error: Runtime.ExitError"
	coldPeak    int64         // the function's peak resident memory (VmHWM, bytes) after its first answer; 0 if unknown
	warmPeak    int64         // the same after the warm invocations
	coldCPU     time.Duration // CPU time the function process used up to its first answer; 0 if unknown
}

const invokePath = "/2015-03-31/functions/function/invocations"

// measure starts a fresh emulator (the command line rie) running bin, invokes it with event once
// cold and warm times warm (at least once), reads the function process's peak
// resident memory after the first answer and after the last, and stops the
// emulator and the function.
func measure(ctx context.Context, rie []string, bin string, event []byte, env []string, warm int) (measurement, error) {
	var m measurement
	addr := unusedAddr()
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	// The emulator's Runtime API listens on 127.0.0.1:9001 unless told
	// otherwise: a port of its own keeps two emulators (two measurements,
	// or a measurement beside a test) from answering each other's runtime.
	api := unusedAddr()
	cmd := exec.Command(rie[0], append(rie[1:], "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", api, "./bootstrap")...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	ownGroup(cmd)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, fmt.Errorf("start emulator: %w", err)
	}
	defer func() {
		stopGroup(cmd)
		_ = cmd.Wait()
	}()

	// The emulator opens its two listeners side by side; an invocation that
	// arrives before the Runtime API listens starts a runtime that finds no
	// API and exits (about one start in ten on a busy machine).
	if err := listening(ctx, api); err != nil {
		return m, fmt.Errorf("%w (emulator log: %s)", err, firstLine(logs.String()))
	}
	client := &http.Client{}
	body, err := invoke(ctx, client, addr, event, true)
	if err != nil {
		return m, fmt.Errorf("%w (emulator log: %s)", err, firstLine(logs.String()))
	}
	m.firstAnswer = time.Since(start)
	m.outcome = outcome(body)
	if m.outcome != "ok" {
		if why := emulatorError(logs.String()); why != "" {
			m.outcome += " (" + why + ")"
		}
	}
	if p, ok := procmem.Find(cmd.Process.Pid, "bootstrap"); ok {
		m.coldPeak, m.coldCPU = p.Peak, p.CPU
	}

	for i := range max(warm, 1) {
		warmStart := time.Now()
		if _, err := invoke(ctx, client, addr, event, false); err != nil {
			break
		}
		if i == 0 {
			m.warm = time.Since(warmStart)
		}
	}
	if p, ok := procmem.Find(cmd.Process.Pid, "bootstrap"); ok {
		m.warmPeak = p.Peak
	}
	m.init = waitInit(ctx, logs)
	return m, nil
}

// invoke posts event to the emulator. With retry it keeps trying while the
// emulator is not listening yet.
func invoke(ctx context.Context, client *http.Client, addr string, event []byte, retry bool) ([]byte, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+invokePath, bytes.NewReader(event))
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err == nil {
			defer resp.Body.Close()
			return io.ReadAll(resp.Body)
		}
		var op *net.OpError
		if !retry || !errors.As(err, &op) || op.Op != "dial" {
			return nil, fmt.Errorf("invoke: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("emulator never answered: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// listening waits until something accepts connections at addr.
func listening(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the emulator's Runtime API never listened: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// The emulator logs "INIT REPORT(durationMs: 19.805000)" when the runtime
// finished initialising; its REPORT line may also carry "Init Duration: 0.50 ms".
var (
	initReport   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	initDuration = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)
)

// parseInit returns the INIT duration logged by the emulator, or false.
func parseInit(log string) (time.Duration, bool) {
	for _, re := range []*regexp.Regexp{initReport, initDuration} {
		if m := re.FindStringSubmatch(log); m != nil {
			ms, err := strconv.ParseFloat(m[1], 64)
			if err == nil {
				return time.Duration(ms * float64(time.Millisecond)), true
			}
		}
	}
	return 0, false
}

// waitInit gives the emulator a moment to flush its log, then parses it.
func waitInit(ctx context.Context, logs *syncBuffer) time.Duration {
	deadline := time.Now().Add(time.Second)
	for {
		if d, ok := parseInit(logs.String()); ok || time.Now().After(deadline) || ctx.Err() != nil {
			return d
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// outcome summarises a function's answer without repeating its content.
func outcome(body []byte) string {
	var v struct {
		StatusCode int    `json:"statusCode"`
		ErrorType  string `json:"errorType"`
		OK         *bool  `json:"ok"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "answered"
	}
	switch {
	case v.ErrorType != "":
		return "error: " + v.ErrorType
	case v.StatusCode != 0:
		return "HTTP " + strconv.Itoa(v.StatusCode)
	case v.OK != nil && *v.OK:
		return "ok"
	}
	return "answered"
}

// emulatorError returns the emulator's own first error line, such as
// "Init failed error=Runtime exited with error: exit status 1", or "".
// The function's own log lines are never repeated.
func emulatorError(log string) string {
	for line := range strings.Lines(log) {
		if _, after, ok := strings.Cut(line, "[ERROR] (rapid) "); ok {
			return firstLine(after)
		}
	}
	return ""
}

// unusedAddr returns a 127.0.0.1 address that nothing listens on, for a
// server about to start. Its port is drawn at random from below the kernel's
// ephemeral range, which no listener on port 0 and no outgoing connection
// ever gets: until the server binds it, only another such draw could take
// it.
func unusedAddr() string {
	if low := ephemeralLow(); low-20000 >= 1000 {
		for range 100 {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(low-20000)))
			if l, err := net.Listen("tcp", addr); err == nil {
				l.Close()
				return addr
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:9"
	}
	defer l.Close()
	return l.Addr().String()
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768,
// Linux's default, when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	if f := strings.Fields(string(b)); len(f) == 2 {
		if low, err := strconv.Atoi(f[0]); err == nil {
			return low
		}
	}
	return 32768
}

// syncBuffer collects the output of a process while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
