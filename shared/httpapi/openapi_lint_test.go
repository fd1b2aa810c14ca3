package httpapi_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/handoff-health/handoff/shared/testenv"
)

// TestOpenAPILint runs Redocly's linter with its recommended rules
// (redocly.yaml) over docs/openapi.yaml: the API description must be clean,
// not only match the routes.
func TestOpenAPILint(t *testing.T) {
	root := testenv.RepoRoot(t)
	redocly := filepath.Join(root, "infra", "ses", "node_modules", ".bin", "redocly")
	_, err := os.Stat(redocly)
	testenv.RequireTool(t, err == nil, "Redocly CLI (the pinned npm tree)", "run `make node_modules`")
	cmd := exec.Command(redocly, "lint", "--format=stylish")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redocly lint: %v\n%s", err, out)
	}
}
