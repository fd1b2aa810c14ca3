package repotest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/testenv"
)

const module = "github.com/handoff-health/handoff/"

// goList runs go list in the repository and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = testenv.RepoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// TestIntakeCarriesNoEHR: the intake function, which every signed referral
// webhook wakes, links no JOSE, no SMART or OAuth, and no FHIR search: the
// EHR's surface is the ehr function's. (It does decode FHIR resources: a
// webhook may carry a ServiceRequest.)
func TestIntakeCarriesNoEHR(t *testing.T) {
	for _, d := range goList(t, "-deps", "./functions/intake") {
		if strings.HasPrefix(d, "github.com/go-jose/") || strings.HasPrefix(d, "github.com/golang-jwt/") ||
			slices.Contains([]string{module + "shared/smart", module + "shared/ehr", module + "shared/ehrapi"}, d) {
			t.Errorf("functions/intake links %s", d)
		}
	}
	ehr := strings.Join(goList(t, "-deps", "./functions/ehr"), " ")
	for _, want := range []string{"github.com/go-jose/go-jose/v4", module + "shared/smart", module + "shared/ehrapi"} {
		if !strings.Contains(ehr, want) {
			t.Errorf("functions/ehr does not link %s: is the check above still looking at the right packages?", want)
		}
	}
}

// TestCoreSpeaksTheDomain: shared/app, the use cases, imports no protocol
// and no outside system: no JOSE, no net/http, no syscall, no AWS SDK.
func TestCoreSpeaksTheDomain(t *testing.T) {
	for _, imp := range goList(t, "-f", `{{join .Imports " "}}`, "./shared/app") {
		switch {
		case strings.HasPrefix(imp, "github.com/go-jose/"), imp == "net/http", strings.HasPrefix(imp, "net/http/"),
			imp == "syscall", strings.HasPrefix(imp, "github.com/aws/"):
			t.Errorf("shared/app imports %s", imp)
		}
	}
}
