// Command iamcheck checks the AWS calls a test run recorded (make test sets
// HANDOFF_AWS_CALLS to build/awscalls and runs this after the Go tests)
// against the IAM roles of template.yaml, with an IAM policy simulator: it
// fails on any call a function's role does not allow, and on any grant no
// call used that the template gives no reason for (see infra/iamcheck).
//
// Usage:
//
//	go run ./infra/cmd/iamcheck [-calls build/awscalls] [-template template.yaml] [-report build/iamcheck.txt]
//
// Without Node or the pinned npm packages it says how to install them and
// exits 0, or 1 under CI=true.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/handoff-health/handoff/infra/iamcheck"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "iamcheck:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("iamcheck", flag.ContinueOnError)
	calls := fs.String("calls", filepath.Join("build", "awscalls"), "the directory the tests wrote their calls to")
	tmpl := fs.String("template", "template.yaml", "the template")
	report := fs.String("report", filepath.Join("build", "iamcheck.txt"), "where to write the report too (\"\" for nowhere)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := filepath.Abs(filepath.Dir(*tmpl))
	if err != nil {
		return err
	}
	sim, err := iamcheck.NewNodeSimulator(root)
	if errors.Is(err, iamcheck.ErrNoSimulator) {
		if os.Getenv("CI") == "true" {
			return fmt.Errorf("CI=true: %w", err)
		}
		fmt.Fprintln(stdout, "iamcheck skipped:", err)
		return nil
	}
	if err != nil {
		return err
	}
	recorded, err := iamcheck.ReadCalls(*calls)
	if err != nil {
		return err
	}
	if len(recorded) == 0 {
		return fmt.Errorf("no calls recorded in %s: run the tests with %s=%s", *calls, iamcheck.CallsDirVariable, *calls)
	}
	t, err := iamcheck.Load(*tmpl, iamcheck.Sample)
	if err != nil {
		return err
	}
	res, err := iamcheck.Check(context.Background(), t, recorded, sim)
	if err != nil {
		return err
	}
	out := stdout
	if *report != "" {
		f, err := os.Create(*report)
		if err != nil {
			return err
		}
		defer f.Close()
		out = io.MultiWriter(stdout, f)
	}
	res.Report(out)
	if n := len(res.Failures()); n > 0 {
		return fmt.Errorf("%d finding(s); see above", n)
	}
	return nil
}
