package main

import (
	"os"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
)

// TestMain runs the tests with the stacks their harnesses share (one SES
// emulator, see apptest.Main).
func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
