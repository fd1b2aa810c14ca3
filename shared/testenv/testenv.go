// Package testenv holds what handoff's tests share about their environment:
// where the repository is, and how a test that needs a missing tool skips — or,
// under CI=true, fails.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
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
