package apptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/testenv"
	"github.com/handoff-health/handoff/shared/testenv/browsertest"
)

// The browser tests drive the whole system — intake, dispatcher, SES emulator,
// pages — through a phone-sized headless Chromium, starting each walk from the
// link the patient or group contact finds in their email. Every page state
// they reach is checked with axe-core.

// stepTimeout bounds one browser step (a navigation, a click and the page it
// loads, an axe run). It is far above what a step takes: it only ends a test
// that is truly stuck.
const stepTimeout = 30 * time.Second

// chromium is one headless Chromium tab for one test, pointed at a harness.
type chromium struct {
	t       *testing.T
	tab     context.Context
	base    string // the harness's server URL
	axe     string // axe.min.js
	screens string // where screenshots go
}

// newChromium opens a phone-sized Chromium tab for the test. Without Chromium
// or axe-core it skips saying how to install them; under CI=true it fails
// instead.
func newChromium(t *testing.T) *chromium {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	axe := browsertest.Axe(t)
	screens := os.Getenv("HANDOFF_SCREENS")
	if screens == "" {
		screens = filepath.Join(testenv.RepoRoot(t), "build", "screens")
	}
	if err := os.MkdirAll(screens, 0o755); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	return &chromium{t: t, tab: browsertest.Tab(t), axe: string(axe), screens: screens}
}

// use points the browser at a harness's server; if the test fails, the
// system's warnings and errors are logged.
func (b *chromium) use(h *apptest.Harness) {
	b.base = h.Server.URL
	t := b.t
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, line := range strings.Split(h.Logs.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
				t.Log(line)
			}
		}
	})
}

// ctx is a context for one step.
func (b *chromium) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.tab, stepTimeout)
}

// do runs steps that return nothing.
func (b *chromium) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *chromium, js string) T {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// open navigates to a path of the harness's server and returns the HTTP
// status of the document.
func (b *chromium) open(path string) int64 {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", apptest.Redact(path), err)
	}
	return resp.Status
}

// load runs steps that make the page navigate (a form post and its 303, a
// link) and waits for the new document, which must answer 200.
func (b *chromium) load(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.loadStatus(what, http.StatusOK, steps...)
}

// loadStatus is load for a page that must answer status.
func (b *chromium) loadStatus(what string, status int64, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != status {
		b.t.Fatalf("%s: the next page answered %d, want %d", what, resp.Status, status)
	}
}

// submitStatus clicks a form's button and waits for the page the post
// answers with, which must have the given status (a refused form's 400).
func (b *chromium) submitStatus(css string, status int64) {
	b.t.Helper()
	b.loadStatus("submit "+css, status, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// click clicks the first element matching css.
func (b *chromium) click(css string) {
	b.t.Helper()
	b.do("click "+css, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// submit clicks a form's button and waits for the page the post leads to.
func (b *chromium) submit(css string) {
	b.t.Helper()
	b.load("submit "+css, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// text is the visible text of the first element matching css.
func (b *chromium) text(css string) string {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("read %s: %v", css, err)
	}
	return strings.TrimSpace(s)
}

// texts is the text of every element matching css, in page order.
func (b *chromium) texts(css string) []string {
	b.t.Helper()
	return eval[[]string](b, `Array.from(document.querySelectorAll(`+jsString(css)+`), e => e.innerText.trim())`)
}

// has reports whether an element matching css is in the page.
func (b *chromium) has(css string) bool {
	b.t.Helper()
	return eval[bool](b, `document.querySelector(`+jsString(css)+`) !== null`)
}

// lang is the page's <html lang>.
func (b *chromium) lang() string {
	b.t.Helper()
	return eval[string](b, `document.documentElement.lang`)
}

// key sends one key (down, char, up) to whatever has focus.
func (b *chromium) key(k string) {
	b.t.Helper()
	b.do("press "+kb.Keys[rune(k[0])].Code, chromedp.KeyEvent(k))
}

// tabTo presses Tab until the element matching css has focus.
func (b *chromium) tabTo(css string) {
	b.t.Helper()
	for range 60 {
		b.key(kb.Tab)
		if eval[bool](b, `document.activeElement !== null && document.activeElement.matches(`+jsString(css)+`)`) {
			return
		}
	}
	b.t.Fatalf("Tab never reached %s", css)
}

// focusShown reports whether the focused element is drawn with a visible
// focus outline, and — for a checkbox or radio drawn as a card — its label
// too.
func (b *chromium) focusShown() bool {
	b.t.Helper()
	return eval[bool](b, `(() => {
		const outlined = e => {
			const s = getComputedStyle(e);
			return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
		};
		const e = document.activeElement;
		if (!e || e === document.body || !e.matches(':focus-visible') || !outlined(e)) return false;
		const card = e.matches('.choice input') ? e.nextElementSibling : null;
		return card === null || outlined(card);
	})()`)
}

// fitsPhone reports whether the page fits the 390 px screen without
// scrolling sideways.
func (b *chromium) fitsPhone() bool {
	b.t.Helper()
	return eval[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`)
}

// check runs axe-core on the current page and fails the test on any
// violation, then saves a full-page screenshot named after the state.
func (b *chromium) check(state string) {
	b.t.Helper()
	b.checkA11y(state)
	b.screenshot(state)
}

// checkA11y is check without the screenshot: for a page inside a frame,
// which a screenshot of its own cannot take.
func (b *chromium) checkA11y(state string) {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	// DevTools evaluation is not subject to the page's CSP, which allows no
	// inline script: axe is injected as the page loaded it.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](b.axe)); err != nil {
		b.t.Fatalf("%s: inject axe: %v", state, err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[browsertest.AxeResult](browsertest.AxeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: run axe: %v", state, err)
	}
	if res.Rules == 0 {
		b.t.Fatalf("%s: axe ran no rules", state)
	}
	for _, v := range res.Violations {
		b.t.Errorf("%s: axe %s (%s): %s — %s", state, v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
	}
	b.t.Logf("axe: %s: %d rules, %d violations", state, res.Rules, len(res.Violations))
}

var nameRE = regexp.MustCompile(`[^a-z0-9]+`)

// screenshot saves the whole page as a PNG in the screenshot folder.
func (b *chromium) screenshot(state string) {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", state, err)
	}
	name := strings.Trim(nameRE.ReplaceAllString(strings.ToLower(b.t.Name()+"-"+state), "-"), "-") + ".png"
	if err := os.WriteFile(filepath.Join(b.screens, name), png, 0o644); err != nil {
		b.t.Fatalf("%s: save screenshot: %v", state, err)
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// openConsent starts Chromium on a world with its three nearby groups, sends
// a referral whose patient (email) prefers lang, and opens its consent page,
// which must answer 200. It returns the referral's id.
func openConsent(t *testing.T, email, lang string) (*chromium, *world, string) {
	t.Helper()
	b := newChromium(t)
	w := newWorld(t, "")
	b.use(w.Harness)
	id, link := w.referIn(t, email, lang)
	if st := b.open(link); st != http.StatusOK {
		t.Fatalf("consent page: %d", st)
	}
	return b, w, id
}

// referIn sends a referral whose patient prefers lang and returns its id and
// consent link.
func (w *world) referIn(t *testing.T, email, lang string) (string, string) {
	t.Helper()
	var ref map[string]any
	if err := json.Unmarshal(referralFor(email, "Diaz"), &ref); err != nil {
		t.Fatal(err)
	}
	patient, ok := ref["patient"].(map[string]any)
	if !ok {
		t.Fatal("the sample referral has no patient")
	}
	patient["preferred_language"] = lang
	body, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	st, b := w.Refer(w.clinic, "application/json", body)
	if st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	var r struct{ ID string }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	mails := w.MailsTo(email)
	if len(mails) != 1 {
		t.Fatalf("%d consent emails, want 1", len(mails))
	}
	return r.ID, w.Link(mails[0], "c")
}

// pick ticks a group's card on the consent page.
func (b *chromium) pick(groupID string) {
	b.t.Helper()
	b.click(`input[name="groups"][value=` + jsString(groupID) + `] + label`)
}

// TestBrowserConfirmToConnected: the patient opens the consent link from the
// email, ticks two groups, asks to be introduced and agrees; the first group's
// contact opens their link, accepts, and reports they talked.
func TestBrowserConfirmToConnected(t *testing.T) {
	t.Parallel()
	b, w, id := openConsent(t, "b1@patient.example", "en")
	if got := b.text("h1"); got != "Your referral from Lakeside Health Center" {
		t.Errorf("h1 %q", got)
	}
	if b.lang() != "en" {
		t.Errorf("html lang %q", b.lang())
	}
	if got := b.texts(".choice-name"); len(got) < 3 || got[0] != "Group mission-a" || got[1] != "Group mission-b" {
		t.Errorf("offered %q, want the nearby groups, nearest first", got)
	}
	if wd := eval[int](b, `window.innerWidth`); wd != browsertest.PhoneWidth {
		t.Errorf("the window is %d px wide, want a %d px phone", wd, browsertest.PhoneWidth)
	}
	if !b.fitsPhone() {
		t.Error("the consent page scrolls sideways on a 390 px screen")
	}
	if !eval[bool](b, `getComputedStyle(document.querySelector('.btn-primary')).backgroundColor === 'rgb(28, 78, 140)'`) {
		t.Error("the stylesheet did not apply (blocked by the CSP?)")
	}
	b.check("consent open")

	b.pick("mission-a")
	b.pick("mission-b")
	b.click(`#mode-introduce + label`)
	if got := eval[[]string](b, `Array.from(document.querySelectorAll('input[name=groups]:checked'), e => e.value)`); strings.Join(got, ",") != "mission-a,mission-b" {
		t.Fatalf("ticked %q", got)
	}
	b.submit(`button[value="confirm"]`)
	if got := b.text("h1"); got != "You said yes" {
		t.Fatalf("after confirming, h1 %q", got)
	}
	if got := b.text(`[role="status"]`); got != "Thank you. Your answer is saved." {
		t.Errorf("notice %q", got)
	}
	if got := b.text(`button[value="revoke"]`); got != "Stop sharing" {
		t.Errorf("revoke button %q", got)
	}
	if got := b.texts("ol.groups .choice-name"); strings.Join(got, ",") != "Group mission-a,Group mission-b" {
		t.Errorf("confirmed groups %q", got)
	}
	b.check("consent confirmed")

	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "routed" || len(v.Routes) != 1 || v.Routes[0].Group.ID != "mission-a" || v.Routes[0].Status != "notified" {
		t.Fatalf("after confirming: %+v", v)
	}
	notices := w.MailsTo(w.groups[0].Contact.Email)
	if len(notices) != 1 {
		t.Fatalf("the first group got %d emails, want its notice", len(notices))
	}
	if n := len(w.MailsTo(w.groups[1].Contact.Email)); n != 0 {
		t.Fatalf("the second group got %d emails before the first answered", n)
	}

	if st := b.open(w.Link(notices[0], "g")); st != http.StatusOK {
		t.Fatalf("group page: %d", st)
	}
	if got := b.text("h1"); got != "A referral for Group mission-a" {
		t.Errorf("group page h1 %q", got)
	}
	if got := b.texts("dl.shared dd"); len(got) < 2 || got[0] != "Ana" || got[1] != "b1@patient.example" {
		t.Errorf("the group page shares %q, want the given name and email", got)
	}
	if !b.fitsPhone() {
		t.Error("the group page scrolls sideways on a 390 px screen")
	}
	b.check("group notified")

	b.submit(`button[value="accept"]`)
	if got := b.text("h1"); got != "Thank you for saying yes" {
		t.Fatalf("after accepting, h1 %q", got)
	}
	b.check("group accepted")
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "accepted" {
		t.Fatalf("after accepting: %s", v.Status)
	}

	b.submit(`button[value="connected"]`)
	if got := b.text("h1"); got != "Thank you" {
		t.Fatalf("after connecting, h1 %q", got)
	}
	if b.has("form") || strings.Contains(b.text("main"), "b1@patient.example") {
		t.Error("the closed group page still offers a form or shows the contact")
	}
	b.check("group connected")
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "connected" || v.Routes[0].Status != "connected" {
		t.Fatalf("after connecting: %+v", v)
	}
}

// TestBrowserDecline: the patient says no; nothing is shared with anyone.
func TestBrowserDecline(t *testing.T) {
	t.Parallel()
	b, w, id := openConsent(t, "b2@patient.example", "en")
	b.submit(`button[value="decline"]`)
	if got := b.text("h1"); got != "You said no" {
		t.Fatalf("after declining, h1 %q", got)
	}
	if b.has("form") {
		t.Error("the declined page still offers a form")
	}
	b.check("consent declined")
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "declined" || len(v.Routes) != 0 {
		t.Fatalf("after declining: %+v", v)
	}
	for _, g := range w.groups {
		if n := len(w.MailsTo(g.Contact.Email)); n != 0 {
			t.Errorf("group %s got %d emails after the patient declined", g.ID, n)
		}
	}
}

// TestBrowserRevoke: the patient agrees, then stops sharing; the group that
// was asked is told and its page no longer shows the patient.
func TestBrowserRevoke(t *testing.T) {
	t.Parallel()
	b, w, id := openConsent(t, "b3@patient.example", "en")
	b.pick("mission-a")
	b.submit(`button[value="confirm"]`)
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "routed" {
		t.Fatalf("after confirming: %s", v.Status)
	}
	b.submit(`button[value="revoke"]`)
	if got := b.text("h1"); got != "Sharing is stopped" {
		t.Fatalf("after revoking, h1 %q", got)
	}
	if got := b.text(`[role="status"]`); got != "Done. Sharing is stopped." {
		t.Errorf("notice %q", got)
	}
	if b.has(`button[value="revoke"]`) {
		t.Error("the revoked page still offers to revoke")
	}
	b.check("consent revoked")
	w.Settle()
	v := w.Status(w.clinic, id)
	if v.Status != "revoked" || len(v.Routes) != 1 || v.Routes[0].Status != "withdrawn" {
		t.Fatalf("after revoking: %+v", v)
	}
	mails := w.MailsTo(w.groups[0].Contact.Email)
	if len(mails) != 2 {
		t.Fatalf("the group got %d emails, want the notice and the withdrawal", len(mails))
	}
	if st := b.open(w.Link(mails[0], "g")); st != http.StatusOK {
		t.Fatalf("group page after revoking: %d", st)
	}
	if got := b.text("h1"); got != "This referral is no longer open" {
		t.Errorf("group page h1 %q", got)
	}
	if main := b.text("main"); strings.Contains(main, "b3@patient.example") || strings.Contains(main, "Ana") {
		t.Error("the group page still shows the patient after they revoked")
	}
	b.check("group withdrawn")
}

// TestBrowserLinkErrors: an expired consent link gets the plain 410 page, an
// unknown one the plain 404 page; neither says anything about the referral.
func TestBrowserLinkErrors(t *testing.T) {
	t.Parallel()
	b := newChromium(t)
	w := newWorld(t, "", func(c *config.Config) { c.ConsentTTL = time.Hour })
	b.use(w.Harness)
	id, link := w.referIn(t, "b4@patient.example", "en")
	w.Advance(2 * time.Hour)
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "expired" {
		t.Fatalf("after the consent TTL: %s", v.Status)
	}
	tests := []struct {
		name   string
		path   string
		status int64
	}{
		{"expired consent link", link, http.StatusGone},
		{"unknown consent link", "/c/" + strings.Repeat("A", 43), http.StatusNotFound},
		{"unknown group link", "/g/" + strings.Repeat("B", 43), http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := *b
			b.t = t
			if st := b.open(tc.path); st != tc.status {
				t.Fatalf("status %d, want %d", st, tc.status)
			}
			if got := b.text("h1"); got != "This link does not work" {
				t.Errorf("h1 %q", got)
			}
			if main := b.text("main"); strings.Contains(main, "Lakeside") || strings.Contains(main, "Ana") {
				t.Errorf("the error page names the clinic or patient: %q", main)
			}
			if b.has("form") || b.has("nav") {
				t.Error("the error page offers a form or a language switch")
			}
			b.check(fmt.Sprint(tc.status))
		})
	}
}

// TestBrowserSpanish: a patient who prefers Spanish gets the page in Spanish,
// can switch to English and back, and agrees in Spanish.
func TestBrowserSpanish(t *testing.T) {
	t.Parallel()
	b, w, id := openConsent(t, "b5@patient.example", "es")
	spanish := func(t *testing.T) {
		t.Helper()
		if b.lang() != "es" {
			t.Errorf("html lang %q, want es", b.lang())
		}
		if got := b.text("h1"); got != "Su referencia de Lakeside Health Center" {
			t.Errorf("h1 %q", got)
		}
		if got := b.text(`button[value="confirm"]`); got != "Sí, acepto" {
			t.Errorf("confirm button %q", got)
		}
		if got := b.text(`button[value="decline"]`); got != "No, gracias" {
			t.Errorf("decline button %q", got)
		}
	}
	spanish(t)
	b.check("consent open es")

	b.load("switch to English", chromedp.Click(chromedp.CSS(`nav a[hreflang="en"]`), chromedp.NodeVisible))
	if b.lang() != "en" || b.text("h1") != "Your referral from Lakeside Health Center" || b.text(`button[value="confirm"]`) != "Yes, I agree" {
		t.Errorf("after switching to English: lang %q, h1 %q", b.lang(), b.text("h1"))
	}
	b.load("switch to Spanish", chromedp.Click(chromedp.CSS(`nav a[hreflang="es"]`), chromedp.NodeVisible))
	spanish(t)

	b.pick("mission-b")
	b.submit(`button[value="confirm"]`)
	if b.lang() != "es" {
		t.Errorf("after confirming, html lang %q", b.lang())
	}
	if got := b.text("h1"); got != "Usted dijo que sí" {
		t.Fatalf("after confirming, h1 %q", got)
	}
	if got := b.text(`button[value="revoke"]`); got != "Dejar de compartir" {
		t.Errorf("revoke button %q", got)
	}
	b.check("consent confirmed es")
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "routed" || v.Routes[0].Group.ID != "mission-b" {
		t.Fatalf("after confirming: %+v", v)
	}
}

// TestBrowserKeyboardOnly: the whole consent form works with Tab, Space and
// Enter alone, and the focused control is always drawn with an outline.
func TestBrowserKeyboardOnly(t *testing.T) {
	t.Parallel()
	b, w, id := openConsent(t, "b6@patient.example", "en")

	b.key(kb.Tab)
	if !eval[bool](b, `document.activeElement.matches('a.skip') && document.activeElement.getBoundingClientRect().top >= 0`) {
		t.Error("the first Tab does not show the skip link")
	}
	if !b.focusShown() {
		t.Error("the focused skip link has no visible outline")
	}
	steps := []struct {
		name  string
		focus string
		key   string
	}{
		{"tick the first group", `input[value="mission-a"]`, " "},
		{"tick the second group", `input[value="mission-b"]`, " "},
		{"choose to be introduced", `#mode-introduce`, " "},
	}
	for _, s := range steps {
		b.tabTo(s.focus)
		if !b.focusShown() {
			t.Errorf("%s: the focused control has no visible outline", s.name)
		}
		b.key(s.key)
		if !eval[bool](b, `document.querySelector(`+jsString(s.focus)+`).checked`) {
			t.Errorf("%s: not checked after Space", s.name)
		}
	}
	b.tabTo(`button[value="confirm"]`)
	if !b.focusShown() {
		t.Error("the focused confirm button has no visible outline")
	}
	b.load("press Enter on the confirm button", chromedp.KeyEvent(kb.Enter))
	if got := b.text("h1"); got != "You said yes" {
		t.Fatalf("after Enter, h1 %q", got)
	}
	if got := b.texts("ol.groups .choice-name"); strings.Join(got, ",") != "Group mission-a,Group mission-b" {
		t.Errorf("confirmed groups %q", got)
	}
	b.tabTo(`button[value="revoke"]`)
	if !b.focusShown() {
		t.Error("the focused revoke button has no visible outline")
	}
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "routed" || v.Routes[0].Group.ID != "mission-a" {
		t.Fatalf("after confirming by keyboard: %+v", v)
	}
}

// TestBrowserGroupDeclines: a group contact says no with a reason; the next
// group the patient chose is asked.
func TestBrowserGroupDeclines(t *testing.T) {
	t.Parallel()
	b := newChromium(t)
	w := newWorld(t, "")
	b.use(w.Harness)
	id, link := w.referIn(t, "b7@patient.example", "en")
	w.confirm(t, link, "introduce", "mission-a", "mission-c")
	if st := b.open(w.groupLink(t, w.groups[0], 1)); st != http.StatusOK {
		t.Fatalf("group page: %d", st)
	}
	if eval[bool](b, `document.querySelector('button[value="decline"]').form.checkValidity()`) {
		t.Error("the decline form is valid with no reason picked")
	}
	b.click(`#reason-not-a-fit + label`)
	b.submit(`button[value="decline"]`)
	if got := b.text("h1"); got != "Thank you for your answer" {
		t.Fatalf("after declining, h1 %q", got)
	}
	if b.has("form") || strings.Contains(b.text("main"), "b7@patient.example") {
		t.Error("the declined group page still offers a form or shows the contact")
	}
	b.check("group declined")
	w.Settle()
	v := w.Status(w.clinic, id)
	if v.Status != "routed" || len(v.Routes) != 2 || v.Routes[0].Status != "declined" || v.Routes[0].Reason != "not-a-fit" ||
		v.Routes[1].Group.ID != "mission-c" || v.Routes[1].Status != "notified" {
		t.Fatalf("after the group declined: %+v", v)
	}
}

// TestBrowserUnmatched: with no group near the patient, the page says so and
// offers the crisis lines, and nothing to agree to.
func TestBrowserUnmatched(t *testing.T) {
	t.Parallel()
	b := newChromium(t)
	h := apptest.New(t)
	w := &world{Harness: h, clinic: h.NewClinic("lakeside", "")}
	b.use(h)
	id, link := w.referIn(t, "b8@patient.example", "en")
	if v := w.Status(w.clinic, id); v.Status != "unmatched" {
		t.Fatalf("status %s, want unmatched", v.Status)
	}
	if st := b.open(link); st != http.StatusOK {
		t.Fatalf("consent page: %d", st)
	}
	if got := b.text("h1"); got != "We could not find a group that fits right now" {
		t.Errorf("h1 %q", got)
	}
	if b.has("form") {
		t.Error("the unmatched page offers a form")
	}
	if !b.has(`.crisis a[href="tel:988"]`) {
		t.Error("the unmatched page does not offer to call 988")
	}
	b.check("consent unmatched")
}

// TestBrowserFromAText: a patient with only a phone number reads the text on
// the phone sink's page (axe-clean), follows its link to the consent page,
// picks a group and agrees; the group is notified with the number the page
// named, masked, as what it would get.
func TestBrowserFromAText(t *testing.T) {
	t.Parallel()
	b := newChromium(t)
	w := newWorld(t, "")
	b.use(w.Harness)
	const phone = "+14155550141"
	body := strings.Replace(string(referralWith(t, "", phone, "")), `"preferred_language":"es"`, `"preferred_language":"en"`, 1)
	id := w.referTo(t, []byte(body))
	if n := len(w.TextsTo(phone)); n != 1 {
		t.Fatalf("%d texts, want 1", n)
	}
	b.base = w.PhonesURL
	if st := b.open("/"); st != http.StatusOK {
		t.Fatalf("phone sink page: %d", st)
	}
	if got := b.text("section h2"); got != phone {
		t.Errorf("the phone's heading %q, want %s", got, phone)
	}
	if !b.fitsPhone() {
		t.Error("the phone sink's page scrolls sideways on a 390 px screen")
	}
	b.check("phone sink")
	b.load("follow the text's link", chromedp.Click(`section a[href*="/c/"]`, chromedp.NodeVisible))
	b.base = w.Server.URL
	if got := b.text("h1"); got != "Your referral from Lakeside Health Center" {
		t.Fatalf("the text's link opened %q", got)
	}
	if body := b.text("main"); !strings.Contains(body, "•••• 41") {
		t.Errorf("the consent page does not name the masked number the group would get")
	}
	b.check("consent from a text")
	b.pick("mission-a")
	b.click(`#mode-introduce + label`)
	b.submit(`button[value="confirm"]`)
	if got := b.text("h1"); got != "You said yes" {
		t.Fatalf("after confirming, h1 %q", got)
	}
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != referral.Routed {
		t.Errorf("status %s, want routed", v.Status)
	}
	if n := len(w.MailsTo(w.groups[0].Contact.Email)); n != 1 {
		t.Errorf("the group got %d notices, want 1", n)
	}
}
