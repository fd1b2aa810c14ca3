package room_test

import (
	"os"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
)

// TestMain runs the tests with the stacks they share (apptest.Main: one SES
// emulator for the package).
func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
