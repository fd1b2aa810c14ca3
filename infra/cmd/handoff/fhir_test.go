package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
)

// TestFHIRCommands: fhir-keygen makes a key and its JWKS, the operator
// registers the JWKS, and fhir-token gets an access token with the key.
func TestFHIRCommands(t *testing.T) {
	h := apptest.New(t)
	h.SetNow(time.Now()) // the command signs its assertion with the real clock
	h.NewClinic("lakeside", "")
	pemFile := filepath.Join(t.TempDir(), "ehr.pem")
	var jwks bytes.Buffer
	if err := fhirKeygen([]string{"-out", pemFile, "-kid", "k7"}, &jwks); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(pemFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the private key file: %v %v", st, err)
	}
	before, _ := os.ReadFile(pemFile)
	if err := fhirKeygen([]string{"-out", pemFile}, io.Discard); err == nil || !strings.Contains(err.Error(), "-out") {
		t.Errorf("a second keygen over the key: %v, want an error naming -out", err)
	}
	if after, _ := os.ReadFile(pemFile); !bytes.Equal(before, after) {
		t.Error("a second keygen replaced the key")
	}
	var reg map[string]json.RawMessage
	if err := json.Unmarshal(jwks.Bytes(), &reg); err != nil || reg["jwks"] == nil {
		t.Fatalf("fhir-keygen printed %q", jwks.String())
	}
	if strings.Contains(jwks.String(), `"d":`) {
		t.Fatal("the printed JWKS holds the private key")
	}
	if st, b := h.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/fhir-client", reg); st != http.StatusOK {
		t.Fatalf("register: %d %s", st, b)
	}
	var out bytes.Buffer
	if err := fhirToken([]string{"-url", h.Server.URL, "-client", "lakeside", "-key", pemFile, "-kid", "k7"}, &out); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String())
	g, err := h.EHR.Access.Check(t.Context(), token)
	if err != nil || g.ClinicID != "lakeside" {
		t.Fatalf("the token: %+v %v", g, err)
	}
	// The README's demo Task, with that token.
	task, err := os.ReadFile(filepath.Join("..", "..", "local", "demo", "task.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, _, b := h.Do(http.MethodPost, "/fhir/Task", task, http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/fhir+json"}})
	if st != http.StatusCreated || !strings.Contains(string(b), `"status":"requested"`) {
		t.Errorf("the demo Task: %d %s", st, b)
	}
	if err := fhirToken([]string{"-url", h.Server.URL, "-client", "lakeside", "-key", pemFile, "-kid", "other"}, &out); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("a wrong kid: %v, want the endpoint's invalid_client", err)
	}
}
