package apptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/cdshooks/cdshookstest"
	"github.com/handoff-health/handoff/shared/smartlaunch"
	"github.com/handoff-health/handoff/shared/testenv"
)

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// TestEHRGuide runs docs/EHR.md's commands as they are written (its sh
// blocks, in order, with bash and curl) against a stack, for a clinic
// whose EHR is the test EHR (oidc-provider) publishing its keys at a URL;
// then does what the EHR's team does with the answers: the EHR launches
// handoff at the launch URL and redirect URI they give, to the form filled
// in from the chart, and calls the CDS service at its URL with a JWT whose
// iss is the client id they give, and gets the card.
func TestEHRGuide(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		_, err := exec.LookPath(tool)
		testenv.RequireTool(t, err == nil, tool, "apt-get install "+tool)
	}
	guide, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "EHR.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range shBlock.FindAllStringSubmatch(string(guide), -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) != 4 || !strings.Contains(blocks[1], "/smart-app") || !strings.Contains(blocks[2], "/fhir-client") || !strings.Contains(blocks[3], "/cds-services") {
		t.Fatalf("docs/EHR.md's commands are not the four this test knows (the variables, smart-app, fhir-client, discovery): %q", blocks)
	}

	w := newWorld(t, "")
	lw := launchWorldOf(w)
	lw.ehr = ehrtest.Start(t, ehrtest.Standard(lw.redirect))
	keys := newEHR(t)
	jwks := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(keys.jwks())
	}))
	t.Cleanup(jwks.Close)

	env := append(os.Environ(), "HANDOFF="+w.Server.URL, "ADMIN_TOKEN="+apptest.AdminToken, "CLINIC=lakeside",
		"EHR_FHIR="+lw.ehr.FHIR, "CLIENT_ID="+lw.ehr.ClientID, "EHR_JWKS="+jwks.URL)
	outs := make([][]byte, len(blocks))
	for i, block := range blocks {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if outs[i], err = cmd.Output(); err != nil {
			t.Fatalf("docs/EHR.md's command %d failed: %v\n%s\n%s%s", i, err, block, outs[i], stderr.String())
		}
	}

	var reg struct {
		ClinicID      string `json:"clinic_id"`
		ISS           string `json:"iss"`
		ClientID      string `json:"client_id"`
		LaunchURL     string `json:"launch_url"`
		RedirectURI   string `json:"redirect_uri"`
		Scope         string `json:"scope"`
		CDSServiceURL string `json:"cds_service_url"`
	}
	if err := json.Unmarshal(outs[1], &reg); err != nil || reg.ClinicID != "lakeside" || reg.ISS != lw.ehr.FHIR || reg.ClientID != lw.ehr.ClientID ||
		reg.LaunchURL != lw.origin+"/launch" || reg.RedirectURI != lw.redirect || reg.Scope != smartlaunch.Scope ||
		reg.CDSServiceURL != w.Server.URL+"/cds-services/handoff-peer-support" {
		t.Fatalf("the smart-app answer: %s (%v)", outs[1], err)
	}
	var client struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(outs[2], &client); err != nil || client.ClientID != "lakeside" {
		t.Fatalf("the fhir-client answer: %s (%v)", outs[2], err)
	}
	hw := &hookWorld{launchWorld: lw, keys: keys, service: reg.CDSServiceURL, spec: cdshookstest.Load(t)}
	conforms(t, hw.spec.Discovery, "the discovery the guide shows", outs[3])

	// The EHR launches handoff at the launch URL, and its redirect URI is
	// the one it was given (the test EHR refuses any other).
	b := newBrowser(t)
	st, h, body := b.get(lw.ehr.LaunchURL(reg.LaunchURL, ehrtest.Launch))
	if st != http.StatusFound {
		t.Fatalf("the launch URL: %d %s", st, body)
	}
	cb, err := ehrtest.SignIn(context.Background(), h.Get("Location"), reg.RedirectURI, "dr-rivera", b.jar)
	if err != nil {
		t.Fatalf("at the EHR: %v", err)
	}
	if st, _, body := b.get(cb.String()); st != http.StatusSeeOther {
		t.Fatalf("the callback: %d %s", st, body)
	}
	if _, _, page := b.get(lw.origin + "/clinic/new"); formValues(page)["given_name"] != "Colin" || formValues(page)["topic"] != "alcohol" {
		t.Fatalf("the form from the launch: %v", formValues(page))
	}

	// The EHR calls the CDS service with a JWT whose iss and sub are the
	// client id it was given (hw.jwt's: lakeside), signed by a key of the
	// set at its URL.
	all := []string{ehrtest.AlcoholUse, ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve}
	if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), hw.patientView(t, "pat-guide", all)); st != http.StatusOK || len(cards(t, out)) != 1 {
		t.Fatalf("the CDS service with the registered keys: %d %v, want one card", st, out)
	}
}
