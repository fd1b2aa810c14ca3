package apptest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/handoff-health/handoff/shared/apptest"
)

// TestBrowserAdminPage: the operator signs in with the admin token, sees the
// funnel, the weekly trend, the time to connect, to a group's first answer
// and to the first meeting as charts with their text equivalents, and the groups' table (axe-clean), and signs out; a wrong
// token and a cross-site post are refused; the session cookie is HttpOnly,
// SameSite=Strict and lasts 12 hours.
func TestBrowserAdminPage(t *testing.T) {
	t.Parallel()
	b := newChromium(t)
	w := newWorld(t, "")
	b.use(w.Harness)
	_, link := w.refer(t, "adm@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	g := w.groupLink(t, w.groups[0], 1)
	w.answer(t, g, url.Values{"action": {"accept"}})
	w.answer(t, g, url.Values{"action": {"connected"}})
	w.refer(t, "adm2@patient.example")

	if st := b.open("/admin"); st != http.StatusOK {
		t.Fatalf("GET /admin: %d", st)
	}
	if got := b.text("h1"); got != "Sign in" {
		t.Fatalf("without a session: h1 %q", got)
	}
	b.check("admin sign-in")

	// Refused: a cross-site post, and a wrong token.
	st, _, _ := w.Do(http.MethodPost, "/admin/login", []byte("token="+apptest.AdminToken), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://elsewhere.example"}, "Sec-Fetch-Site": {"cross-site"}})
	if st != http.StatusForbidden {
		t.Errorf("a cross-site sign-in: %d, want 403", st)
	}
	_, _, page := w.Do(http.MethodGet, "/admin", nil, nil)
	form := apptest.HiddenFields(page)
	form.Set("token", "not-the-token")
	st, hd, body := w.Do(http.MethodPost, "/admin/login", []byte(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}})
	if st != http.StatusUnauthorized || hd.Get("Set-Cookie") != "" || !strings.Contains(string(body), "not the admin token") {
		t.Errorf("a wrong token: %d, cookie %q", st, hd.Get("Set-Cookie"))
	}
	form.Set("token", apptest.AdminToken)
	st, hd, _ = w.Do(http.MethodPost, "/admin/login", []byte(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}})
	cookie := hd.Get("Set-Cookie")
	if st != http.StatusSeeOther || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") ||
		!strings.Contains(cookie, "Max-Age=43200") || !strings.Contains(cookie, "Path=/admin") || strings.Contains(cookie, "Secure") {
		t.Errorf("sign-in: %d, cookie %q (want HttpOnly, SameSite=Strict, 12 hours, not Secure on http)", st, cookie)
	}

	// In the browser.
	b.do("type the token", chromedp.SendKeys(chromedp.CSS("#token"), apptest.AdminToken))
	b.submit(`form[action="/admin/login"] button`)
	if got := b.text("h1"); got != "Outcomes" {
		t.Fatalf("after sign-in: h1 %q", got)
	}
	charts := eval[int](b, `document.querySelectorAll('svg[role="img"]').length`)
	descs := eval[[]string](b, `Array.from(document.querySelectorAll('svg[role="img"] desc'), d => d.textContent)`)
	if charts != 5 || len(descs) != 5 {
		t.Fatalf("%d charts and %d descriptions, want 5 and 5", charts, len(descs))
	}
	if !strings.Contains(descs[0], "Received 2") || !strings.Contains(descs[0], "Connected 1") || !strings.Contains(descs[0], "Attended 0") {
		t.Errorf("the funnel's description: %q", descs[0])
	}
	if !strings.Contains(descs[3], "1 hour: 1") || strings.Contains(descs[4], ": 1") {
		t.Errorf("the first answer's and the first meeting's descriptions: %q, %q", descs[3], descs[4])
	}
	if n := eval[int](b, `document.querySelectorAll('table').length`); n != 6 {
		t.Errorf("%d tables, want the five charts' and the groups'", n)
	}
	if got := b.texts("tbody th"); !strings.Contains(strings.Join(got, ","), "mission-a") {
		t.Errorf("the groups' table lacks the group: %q", got)
	}
	if !b.fitsPhone() {
		t.Error("the operator's page scrolls sideways on a 390 px screen")
	}
	b.check("admin outcomes")
	if strings.Contains(eval[string](b, `document.body.innerText`), "adm@patient.example") {
		t.Error("the operator's page shows a patient's address")
	}

	b.submit(`form[action="/admin/logout"] button`)
	if got := b.text("h1"); got != "Sign in" {
		t.Fatalf("after sign-out: h1 %q", got)
	}
	if got := b.text(`[role="status"]`); got != "You are signed out." {
		t.Errorf("notice %q", got)
	}
	if st := b.open("/admin"); st != http.StatusOK || b.text("h1") != "Sign in" {
		t.Error("the session outlived the sign-out")
	}
}
