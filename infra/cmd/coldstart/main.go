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
// Usage:
//
//	go run ./infra/cmd/coldstart [-runs 20] [-warm 100] [-only intake,dispatch]
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	rie, err := ensureRIE(ctx, root, stderr)
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
		bin, size, err := build(ctx, root, tg, filepath.Join(root, "build", "coldstart"))
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
			m, err := measure(ctx, rie, bins[i], events[i], be.env, warmRuns)
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
	return nil
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
// version there first if it is missing.
func ensureRIE(ctx context.Context, root string, log io.Writer) (string, error) {
	dir := filepath.Join(root, "build", "tools")
	bin := filepath.Join(dir, "aws-lambda-rie")
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

// build compiles tg for this machine into dir/<name>/bootstrap.
func build(ctx context.Context, root string, tg target, dir string) (string, int64, error) {
	out := filepath.Join(dir, tg.name, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath",
		"-ldflags=-s -w -buildid=", "-o", out, tg.pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", 0, fmt.Errorf("%s (%w)", compilerError(stderr.String()), err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return "", 0, err
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
