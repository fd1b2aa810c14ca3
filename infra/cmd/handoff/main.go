// Command handoff is the operator's tool, for a local stack and a deployed one:
//
//	handoff run                 start the whole stack (what `make run` does)
//	handoff send [flags] FILE   sign a referral with a clinic's webhook secret and POST it
//	handoff import [flags] FILE import a Meeting Guide or HSDS feed through the admin API
//	handoff smoke -url … -token …   walk one synthetic referral through a deployed stack
//
// Run `handoff COMMAND -h` for a command's flags.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/handoff-health/handoff/infra/local"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "handoff:", err)
		os.Exit(1)
	}
}

const usage = `usage: handoff COMMAND [flags]

commands:
  run      start the whole local stack (API and pages, DynamoDB, SES emulator, sweeper)
  send     sign a referral file with a clinic's webhook secret and POST it
  import   import a Meeting Guide or HSDS feed through the admin API, with progress
  fhir-keygen  make an EHR's ES384 key pair: the private key to a PEM file, the JWKS to stdout
  fhir-token   sign a SMART Backend Services assertion with an EHR's key and get an access token
  smoke    walk one synthetic referral through a deployed stack (SES's mailbox simulator), step by step
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "run":
		return runStack(args[1:], stdout, stderr)
	case "send":
		return send(args[1:], stdout)
	case "import":
		return importFeed(args[1:], stdout, stderr)
	case "fhir-keygen":
		return fhirKeygen(args[1:], stdout)
	case "fhir-token":
		return fhirToken(args[1:], stdout)
	case "smoke":
		return smoke(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func runStack(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	root := fs.String("root", ".", "the repository's root (template.yaml, infra/ses)")
	noSeed := fs.Bool("no-seed", false, "start empty: no demo clinic or directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	start := time.Now()
	fmt.Fprintln(stdout, "handoff local stack")
	o := local.Options{Root: *root, Getenv: os.Getenv, Out: stdout, Log: log}
	if !*noSeed {
		o.Seed = local.SeedDemo
	}
	s, err := local.Start(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ready in %.1fs — Ctrl-C stops everything\n", time.Since(start).Seconds())
	select {
	case <-ctx.Done():
	case err = <-s.Err():
	}
	fmt.Fprintln(stdout, "stopping…")
	s.Stop()
	return err
}

// do sends one request to the stack; when nothing answers there, the error
// says how to start it or point at another.
func do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("nothing answers at %s: start the stack with `make run`, or give its address with -url", req.URL.Host)
	}
	return resp, err
}

// call sends one request with do and reads at most limit bytes of the
// answer.
func call(req *http.Request, limit int64) (*http.Response, []byte, error) {
	resp, err := do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp, body, err
}

// httpError is an answer outside 2xx: its status and the start of its body
// (a problem+json detail, or a proxy's page).
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

// exchange sends one request with call and reads its JSON answer into into,
// when into is not nil. It returns call's error (nothing answers), an
// *httpError for an answer outside 2xx, or an error saying the answer was
// not JSON.
func exchange(req *http.Request, into any) error {
	resp, body, err := call(req, 1<<20)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		body = bytes.TrimSpace(body)
		return &httpError{status: resp.StatusCode, body: string(body[:min(len(body), 1024)])}
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			return fmt.Errorf("unreadable answer: %w", err)
		}
	}
	return nil
}
