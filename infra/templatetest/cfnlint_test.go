package templatetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/handoff-health/handoff/shared/testenv"
)

// TestCfnLint runs cfn-lint, which applies the SAM transform the way
// CloudFormation will and checks the result against the resource
// specifications (the checks `sam validate --lint` makes, without AWS).
func TestCfnLint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs cfn-lint; skipped with -short")
	}
	bin, err := exec.LookPath("cfn-lint")
	testenv.RequireTool(t, err == nil, "cfn-lint", "pipx install cfn-lint==1.51.0 (.ci/run installs it)")
	cmd := exec.Command(bin, filepath.Join(root, "template.yaml"))
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}
