package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseInit(t *testing.T) {
	cases := []struct {
		name, log string
		want      time.Duration
		found     bool
	}{
		{
			name: "init report line",
			log: "25 Nov 2026 23:20:09,605 [INFO] (rapid) INIT RTDONE(status: success)\n" +
				"25 Nov 2026 23:20:09,605 [INFO] (rapid) INIT REPORT(durationMs: 19.805000)\n" +
				"REPORT RequestId: 4cf3 Init Duration: 0.50 ms Duration: 23.56 ms",
			want: 19805 * time.Microsecond, found: true,
		},
		{
			name: "report line only",
			log:  "REPORT RequestId: 4cf3\tInit Duration: 4.25 ms\tDuration: 1.09 ms",
			want: 4250 * time.Microsecond, found: true,
		},
		{name: "nothing reported", log: "START RequestId: 1\nEND RequestId: 1\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, found := parseInit(tc.log)
			if got != tc.want || found != tc.found {
				t.Fatalf("parseInit = %v, %v; want %v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		name string
		data []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 90, 7 * time.Millisecond},
		{"median of unsorted odd", ms(30, 10, 20), 50, 20 * time.Millisecond},
		{"median of even takes the lower", ms(40, 10, 30, 20), 50, 20 * time.Millisecond},
		{"p90 of twenty", ms(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 90, 18 * time.Millisecond},
		{"p100 is the max", ms(3, 9, 1), 100, 9 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.data)
			if got := percentile(tc.data, tc.p); got != tc.want {
				t.Fatalf("percentile(%v, %v) = %v, want %v", tc.data, tc.p, got, tc.want)
			}
			if !slices.Equal(in, tc.data) {
				t.Fatal("percentile reordered its input")
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	cases := []struct{ body, want string }{
		{`{"ok":true}`, "ok"},
		{`{"statusCode":503,"headers":{},"body":"{}"}`, "HTTP 503"},
		{`{"errorMessage":"boom","errorType":"Runtime.ExitError"}`, "error: Runtime.ExitError"},
		{`{"batchItemFailures":[]}`, "answered"},
		{`not json`, "answered"},
	}
	for _, tc := range cases {
		t.Run(tc.want+" "+tc.body, func(t *testing.T) {
			if got := outcome([]byte(tc.body)); got != tc.want {
				t.Fatalf("outcome(%s) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

func TestPrintTable(t *testing.T) {
	floor := result{name: floorName, binary: 6 << 20}
	fn := result{name: "intake", binary: 24 << 20}
	for i := 1; i <= 4; i++ {
		floor.add(measurement{firstAnswer: time.Duration(10*i) * time.Millisecond, init: 5 * time.Millisecond, warm: time.Millisecond, outcome: "ok",
			coldPeak: int64(i) << 20, warmPeak: int64(2*i) << 20, coldCPU: 3 * time.Millisecond})
		fn.add(measurement{firstAnswer: time.Duration(30*i) * time.Millisecond, init: 20 * time.Millisecond, outcome: "HTTP 503"})
	}
	broken := result{name: "respond", failure: "build failed: undefined: x"}
	var out bytes.Buffer
	printTable(&out, []result{floor, fn, broken}, 4)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and three rows:\n%s", out.String())
	}
	want := [][]string{
		{"floor", "6.0", "4/4", "20.0", "40.0", "5.0", "1.0", "1.00", "3.0", "4.0", "8.0", "ok", "x4"},
		{"intake", "24.0", "4/4", "60.0", "120.0", "20.0", "-", "3.00", "-", "-", "-", "HTTP", "503", "x4"},
		{"respond", "-", "0", "-", "-", "-", "-", "-", "-", "-", "-", "build", "failed:", "undefined:", "x"},
	}
	for i, w := range want {
		if got := strings.Fields(lines[i+1]); !slices.Equal(got, w) {
			t.Errorf("row %d = %q, want %q", i+1, got, w)
		}
	}
}

func TestCompilerError(t *testing.T) {
	out := "# github.com/handoff-health/handoff/shared/wire\nshared/wire/wire.go:12:2: undefined: x\nshared/wire/wire.go:13:2: undefined: y\n"
	if got, want := compilerError(out), "shared/wire/wire.go:12:2: undefined: x"; got != want {
		t.Fatalf("compilerError = %q, want %q", got, want)
	}
}

func TestFindTargets(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"functions/intake", "functions/dispatch", "functions/newone"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, only string
		want       []string
	}{
		{"all", "", []string{"floor:events/dispatch-schedule.json", "dispatch:events/dispatch-stream.json",
			"intake:events/intake-post-referral.json", "newone:events/dispatch-schedule.json"}},
		{"only one", "intake", []string{"floor:events/dispatch-schedule.json", "intake:events/intake-post-referral.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			targets, err := findTargets(root, tc.only)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tg := range targets {
				got = append(got, tg.name+":"+tg.event)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("targets %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFloorUnderEmulator builds the floor handler and cold-starts it twice
// under the pinned Runtime Interface Emulator, as `make coldstart` does.
func TestFloorUnderEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the emulator and builds; skipped with -short")
	}
	ctx := t.Context()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	rie, err := ensureRIE(ctx, root, &log, "")
	if err != nil {
		missing(t, "cannot install the Lambda Runtime Interface Emulator: "+err.Error())
	}
	bin, size, err := build(ctx, root, target{name: "floor", pkg: "./infra/floor"}, t.TempDir(), "")
	if err != nil {
		t.Fatalf("build the floor: %v", err)
	}
	if size == 0 {
		t.Fatal("empty binary")
	}
	for i := range 2 {
		m, err := measure(context.WithoutCancel(ctx), []string{rie}, bin, []byte(`{"sweep": true}`), []string{"PATH=" + os.Getenv("PATH")}, 3)
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if m.outcome != "ok" {
			t.Errorf("run %d: the floor answered %q, want ok", i+1, m.outcome)
		}
		if m.firstAnswer <= 0 || m.init <= 0 || m.init > m.firstAnswer {
			t.Errorf("run %d: first answer %v, INIT %v: want 0 < INIT <= first answer", i+1, m.firstAnswer, m.init)
		}
		if runtime.GOOS == "linux" && (m.coldPeak <= 0 || m.warmPeak < m.coldPeak || m.coldCPU <= 0) {
			t.Errorf("run %d: peak memory %d bytes cold, %d warm, cold CPU %v: want 0 < cold <= warm, CPU > 0", i+1, m.coldPeak, m.warmPeak, m.coldCPU)
		}
		t.Logf("run %d: first answer %v, INIT %v, warm %v, peak memory %d kB cold, %d kB warm", i+1, m.firstAnswer, m.init, m.warm, m.coldPeak>>10, m.warmPeak>>10)
	}
}

// missing skips a test whose tool is absent, or fails it under CI, where
// every such skip must be fixed rather than ignored.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why + " (CI is set: skips are failures)")
	}
	t.Skip(why)
}

// TestBackend starts the stack the measured functions talk to and checks it
// holds the clinic the sample events were signed for, and that the
// environment handed to the functions points at its services.
func TestBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack; skipped with -short")
	}
	ctx := t.Context()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "infra", "ses", "node_modules")); err != nil {
		missing(t, "the SES emulator is not installed: run make node_modules")
	}
	be, err := startBackend(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer be.stop()
	c, err := be.stack.App.Clinics.Get(ctx, sampleClinic)
	if err != nil || c.WebhookSecret != sampleSecret {
		t.Fatalf("sample clinic: %+v, %v", c, err)
	}
	for _, prefix := range []string{"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:", "AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:", "HANDOFF_LINK_KEY=", "HANDOFF_WEBHOOK_TOLERANCE="} {
		if !slices.ContainsFunc(be.env, func(kv string) bool { return strings.HasPrefix(kv, prefix) }) {
			t.Errorf("no %s… in the functions' environment", prefix)
		}
	}
	if slices.ContainsFunc(be.env, func(kv string) bool { return strings.HasPrefix(kv, "AWS_ENDPOINT_URL=") }) {
		t.Error("a catch-all AWS endpoint would hide a service the stack does not run")
	}
}

// TestEmulatorError: a failed cold start says why in the emulator's words,
// never in the function's.
func TestEmulatorError(t *testing.T) {
	log := "07 Dec 2026 10:58:13,539 [INFO] (rapid) INIT START(type: on-demand, phase: init)\n" +
		"2026/12/07 10:58:13 handler log naming ana@example.org\n" +
		"07 Dec 2026 10:58:13,539 [ERROR] (rapid) Init failed error=Runtime exited with error: exit status 1 InvokeID=\n" +
		"07 Dec 2026 10:58:13,539 [ERROR] (rapid) Invoke DONE failed: Sandbox.Failure\n"
	if got, want := emulatorError(log), "Init failed error=Runtime exited with error: exit status 1 InvokeID="; got != want {
		t.Errorf("emulatorError = %q, want %q", got, want)
	}
	if got := emulatorError("2026/12/07 [ERROR] (app) ana@example.org\n"); got != "" {
		t.Errorf("emulatorError repeats a line that is not the emulator's: %q", got)
	}
}
