// Package browsertest holds what handoff's browser tests share: finding
// Chromium and axe-core, the headless Chromium flags this machine needs, one
// Chromium per test binary with a browser context per tab (Tab, Close), and
// the axe-core run every page must pass.
package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/handoff-health/handoff/shared/testenv"
)

// PhoneWidth and PhoneHeight are a small phone's viewport, in CSS pixels.
const PhoneWidth, PhoneHeight = 390, 844

// Chromium returns the browser to drive — HANDOFF_CHROMIUM, the Debian
// package's /usr/bin/chromium, or one on PATH — or skips the test saying how to
// install one (under CI=true it fails instead). -short skips browser tests.
func Chromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, name := range []string{os.Getenv("HANDOFF_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.RequireTool(t, false, "Chromium", "apt-get install -y chromium (or set HANDOFF_CHROMIUM to a Chrome binary)")
	return ""
}

// Options are the allocator options for a headless Chromium with a phone's
// window and its own profile folder. The networking flags keep it from
// calling out of this machine (its connections would be refused).
func Options(execPath, profile string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(PhoneWidth, PhoneHeight),
	}
}

// Axe returns axe.min.js — HANDOFF_AXE_JS, or the npm package `make
// node_modules` installs into infra/ses — or skips (fails under CI=true).
func Axe(t testing.TB) []byte {
	t.Helper()
	p := os.Getenv("HANDOFF_AXE_JS")
	if p == "" {
		p = filepath.Join(testenv.RepoRoot(t), "infra", "ses", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(p)
	testenv.RequireTool(t, err == nil, "axe-core (npm)", "run `make node_modules` (npm ci in infra/ses), or set HANDOFF_AXE_JS to axe.min.js")
	return b
}

// AxeRun runs axe-core for the rules every page must pass — WCAG 2.0–2.2
// A/AA and axe's best practices — and yields an AxeResult.
const AxeRun = `axe.run(document, {
	runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
	resultTypes: ['violations'],
}).then(r => ({
	rules: r.passes.length + r.violations.length + r.incomplete.length + r.inapplicable.length,
	violations: r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help,
		targets: v.nodes.map(n => n.target.map(s => [].concat(s).join(' >>> ')).join(' ')),
	})),
}))`

// AxeViolation is one failed axe rule with the elements that fail it.
type AxeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// AxeResult is what one axe run found: how many rules ran, and the violations.
type AxeResult struct {
	Rules      int            `json:"rules"`
	Violations []AxeViolation `json:"violations"`
}
