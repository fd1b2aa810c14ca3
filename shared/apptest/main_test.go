package apptest_test

import (
	"os"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/testenv/browsertest"
)

// TestMain runs the tests with the stacks they share (apptest.Main: one SES
// emulator) and one Chromium, closed once every test has run.
//
// The slowest tests (the soak, the fault and privacy runs, the browser
// walks) call t.Parallel: each builds a stack of its own, and one test keeps
// about one core busy, so two at a time keep a two-core machine's both.
func TestMain(m *testing.M) {
	code := apptest.Main(m)
	browsertest.Close()
	os.Exit(code)
}
