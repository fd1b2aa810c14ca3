// Command coldstart measures how fast each handoff function starts.
//
// It builds every function under functions/ and the bare aws-lambda-go
// handler in infra/floor for this machine (same flags as the Lambda build:
// CGO_ENABLED=0, -tags lambda.norpc, -trimpath, -ldflags='-s -w -buildid='),
// installs the Lambda Runtime Interface Emulator at a pinned version into
// build/tools, and runs each binary under it -runs times. Every run is a fresh
// emulator process on a free 127.0.0.1 port, invoked once with the function's
// sample event from events/ (then once more, warm), in rounds: one cold start
// of every binary per round, so that the machine's changing load falls on all
// of them alike. The functions talk to the local stack (infra/local) started
// on free loopback ports — the embedded DynamoDB server with the template's
// tables and the sample clinic, the SES emulator, local-kms when installed —
// so nothing leaves the machine and the first answer includes the function's
// real first calls.
//
// For each function it prints the median and 90th percentile time from exec to
// the first answer, the median INIT duration the emulator reports, the median
// warm invocation, the ratio of the median first answer to the floor's, and
// the function process's peak resident memory (VmHWM, from /proc on Linux):
// the largest after a cold first answer, and after -warm more invocations of
// the first run.
// A function that does not build is reported in the table.
//
// With -arch arm64 (make coldstart-arm64) the functions are built as they
// ship (GOARCH=arm64) and run, with the emulator also built for arm64, under
// qemu-aarch64-static (Debian's qemu-user-static): proof that each arm64
// bootstrap starts and answers its sample event. The emulator starts the
// bootstrap through a two-line shell script that runs it under qemu, so no
// binfmt_misc registration is needed. Times under qemu are the emulator's
// translation, several times Lambda's; peak memory is not read. A function
// that does not answer, or answers an error, fails the run.
//
// Usage:
//
//	go run ./infra/cmd/coldstart [-runs 20] [-warm 100] [-only intake,dispatch] [-arch arm64]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// rieModule is the pinned Lambda Runtime Interface Emulator.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// sampleEvents maps a function folder to the event it is invoked with.
var sampleEvents = map[string]string{
	"intake":    "events/intake-post-referral.json",
	"ehr":       "events/ehr-token.json",
	"consent":   "events/consent-get.json",
	"respond":   "events/respond-get.json",
	"admin":     "events/admin-healthz.json",
	"dispatch":  "events/dispatch-stream.json",
	"sesevents": "events/sesevents-bounce.json",
	"smsevents": "events/smsevents-blocked.json",
	"clinic":    "events/clinic-get.json",
}

const floorName = "floor"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coldstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 20, "cold starts per function")
	only := fs.String("only", "", "comma-separated function folders to measure (the floor is always measured)")
	warm := fs.Int("warm", 100, "warm invocations after the first cold start of each function, before its peak memory is read again")
	arch := fs.String("arch", "", "arm64: build for arm64 and run the arm64 emulator and bootstraps under qemu-aarch64-static")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var qemu string
	switch *arch {
	case "":
	case "arm64":
		var err error
		if qemu, err = findQemu(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-arch %q: only arm64 is emulated", *arch)
	}
	if *runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	rie, err := ensureRIE(ctx, root, stderr, *arch)
	if err != nil {
		return err
	}
	targets, err := findTargets(root, *only)
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "starting the local stack the functions talk to")
	be, err := startBackend(ctx, root)
	if err != nil {
		return err
	}
	defer be.stop()

	// Build everything first, then measure in rounds — one cold start of
	// each binary per round — so that a change in the machine's load falls on
	// every row alike instead of on whichever ran at the time.
	results := make([]result, len(targets))
	bins := make([]string, len(targets))
	events := make([][]byte, len(targets))
	for i, tg := range targets {
		fmt.Fprintf(stderr, "build %s\n", tg.name)
		results[i].name = tg.name
		bin, size, err := build(ctx, root, tg, filepath.Join(root, "build", "coldstart"+*arch), qemu)
		if err != nil {
			results[i].failure = "build failed: " + firstLine(err.Error())
			continue
		}
		bins[i], results[i].binary = bin, size
		if events[i], err = os.ReadFile(filepath.Join(root, tg.event)); err != nil {
			return fmt.Errorf("read sample event of %s: %w", tg.name, err)
		}
	}
	for round := range *runs {
		fmt.Fprintf(stderr, "\rround %d/%d", round+1, *runs)
		for i := range targets {
			if results[i].failure != "" {
				continue
			}
			// The first round also invokes each function warm -warm times,
			// for its peak memory after use; later rounds once, for timing.
			warmRuns := 1
			if round == 0 {
				warmRuns = *warm
			}
			m, err := measure(ctx, emulator(qemu, rie), bins[i], events[i], be.env, warmRuns)
			if err != nil {
				results[i].failure = "run failed: " + firstLine(err.Error())
				continue
			}
			results[i].add(m)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	fmt.Fprintln(stderr)
	printTable(stdout, results, *runs)
	if qemu != "" {
		return answeredAll(results)
	}
	return nil
}

// answeredAll returns an error naming each function that failed to build,
// to start or to answer its sample event without an error.
func answeredAll(results []result) error {
	var bad []string
	for _, r := range results {
		if r.failure != "" {
			bad = append(bad, r.name+": "+r.failure)
		}
		for o := range r.outcomes {
			if strings.HasPrefix(o, "error") {
				bad = append(bad, r.name+": "+o)
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("not every bootstrap answered: %s", strings.Join(bad, "; "))
	}
	return nil
}

// findQemu returns Debian's qemu-user-static for arm64.
func findQemu() (string, error) {
	for _, name := range []string{"qemu-aarch64-static", "qemu-aarch64"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("qemu-aarch64-static is not installed: apt-get install qemu-user-static")
}

// emulator is the command line that starts the runtime interface emulator:
// under qemu for arm64.
func emulator(qemu, rie string) []string {
	if qemu != "" {
		return []string{qemu, rie}
	}
	return []string{rie}
}

// target is one binary to measure.
type target struct {
	name  string // function folder, or "floor"
	pkg   string // import path relative to the root, e.g. ./functions/intake
	event string // sample event, relative to the root
}

func findTargets(root, only string) ([]target, error) {
	targets := []target{{name: floorName, pkg: "./infra/floor", event: "events/dispatch-schedule.json"}}
	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	var want []string
	if only != "" {
		want = strings.Split(only, ",")
	}
	for _, d := range dirs {
		if !d.IsDir() || (want != nil && !slices.Contains(want, d.Name())) {
			continue
		}
		event, ok := sampleEvents[d.Name()]
		if !ok {
			event = "events/dispatch-schedule.json"
		}
		targets = append(targets, target{name: d.Name(), pkg: "./functions/" + d.Name(), event: event})
	}
	return targets, nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run coldstart inside the handoff module")
	}
	return filepath.Dir(mod), nil
}

// ensureRIE returns the emulator under build/tools, installing the pinned
// version there first if it is missing; for arch arm64, the emulator built
// for linux/arm64 (under build/tools/arm64).
func ensureRIE(ctx context.Context, root string, log io.Writer, arch string) (string, error) {
	dir := filepath.Join(root, "build", "tools")
	bin := filepath.Join(dir, "aws-lambda-rie")
	if arch != "" {
		// go install cannot write a cross-compiled binary to GOBIN: it goes
		// to $GOPATH/bin/linux_arm64 of a GOPATH of its own (the module
		// cache stays the usual one).
		gopath := filepath.Join(dir, arch)
		bin = filepath.Join(gopath, "bin", "linux_"+arch, "aws-lambda-rie")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
		cache, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
		if err != nil {
			return "", fmt.Errorf("go env GOMODCACHE: %w", err)
		}
		fmt.Fprintf(log, "installing %s for linux/%s into %s\n", rieModule, arch, filepath.Dir(bin))
		cmd := exec.CommandContext(ctx, "go", "install", rieModule)
		cmd.Env = append(os.Environ(), "GOBIN=", "GOPATH="+gopath, "GOMODCACHE="+strings.TrimSpace(string(cache)),
			"GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("install the runtime interface emulator for %s: %w\n%s", arch, err, out)
		}
		return bin, nil
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	fmt.Fprintf(log, "installing %s into %s\n", rieModule, dir)
	cmd := exec.CommandContext(ctx, "go", "install", rieModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("install the runtime interface emulator: %w\n%s", err, out)
	}
	return bin, nil
}

// build compiles tg into dir/<name>/bootstrap: for this machine, or, with
// qemu set, for linux/arm64 as bootstrap.arm64 beside a bootstrap script
// that runs it under qemu.
func build(ctx context.Context, root string, tg target, dir, qemu string) (string, int64, error) {
	out := filepath.Join(dir, tg.name, "bootstrap")
	goos, goarch := runtime.GOOS, runtime.GOARCH
	if qemu != "" {
		out += ".arm64"
		goos, goarch = "linux", "arm64"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath",
		"-ldflags=-s -w -buildid=", "-o", out, tg.pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", 0, fmt.Errorf("%s (%w)", compilerError(stderr.String()), err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return "", 0, err
	}
	if qemu != "" {
		script := filepath.Join(filepath.Dir(out), "bootstrap")
		text := fmt.Sprintf("#!/bin/sh\nexec %q %q \"$@\"\n", qemu, out)
		if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
			return "", 0, err
		}
		return script, fi.Size(), nil
	}
	return out, fi.Size(), nil
}

// compilerError returns the first message of go build's output, skipping the
// "# package" headers.
func compilerError(out string) string {
	for line := range strings.Lines(out) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return strings.TrimSpace(out)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(line) > 120 {
		line = line[:117] + "..."
	}
	return line
}
