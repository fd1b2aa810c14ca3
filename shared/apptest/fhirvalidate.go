package apptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/handoff-health/handoff/shared/testenv"
)

// ValidateFHIR validates FHIR R4 resources against the base specification
// with the npm `fhir` package (infra/ses/validate-fhir.js) and fails the
// test on any error, an unexpected property included. Without Node or the
// package it skips (fails under CI=true) saying how to install them.
func ValidateFHIR(t testing.TB, resources ...any) {
	t.Helper()
	root := testenv.RepoRoot(t)
	script := filepath.Join(root, "infra", "ses", "validate-fhir.js")
	_, pkgErr := os.Stat(filepath.Join(root, "infra", "ses", "node_modules", "fhir"))
	_, nodeErr := exec.LookPath("node")
	testenv.RequireTool(t, pkgErr == nil && nodeErr == nil, "the FHIR validator (npm fhir)", "install Node 20 and run `make node_modules` (npm ci in infra/ses)")
	raw, err := json.Marshal(resources)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "resources.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("node", script, file).Output()
	if err != nil {
		t.Fatalf("validate-fhir: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		var r struct {
			Index    int  `json:"index"`
			Valid    bool `json:"valid"`
			Messages []struct {
				Location, Severity, Message string
			} `json:"messages"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("validate-fhir printed %q", sc.Text())
		}
		n++
		for _, m := range r.Messages {
			if m.Severity == "error" {
				kind, _ := resources[r.Index].(map[string]any)["resourceType"].(string)
				t.Errorf("not valid FHIR R4: %s #%d: %s: %s", kind, r.Index, m.Location, m.Message)
			}
		}
	}
	if n != len(resources) {
		t.Fatalf("validate-fhir checked %d of %d resources", n, len(resources))
	}
}
