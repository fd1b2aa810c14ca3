package apptest_test

import (
	"bytes"
	"context"
	"image"
	_ "image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/testenv/browsertest"
)

var staffLinkRE = regexp.MustCompile(`/s/[A-Za-z0-9_-]{43}`)

// staffLink is the /s/ link of the last email to addr.
func staffLink(t *testing.T, w *world, addr string) string {
	t.Helper()
	m := w.LastMailTo(t, addr)
	l := staffLinkRE.FindString(m.Body.Text)
	if l == "" {
		t.Fatalf("no /s/ link in %q", m.Subject)
	}
	return l
}

// invite invites a staff member of a clinic through the admin API.
func invite(t *testing.T, w *world, clinic, name, addr string) string {
	t.Helper()
	st, b := w.Admin(http.MethodPost, "/v1/admin/clinics/"+clinic+"/staff", map[string]string{"name": name, "email": addr})
	if st != http.StatusCreated || !strings.Contains(string(b), `"staff_id"`) {
		t.Fatalf("invite: %d %s", st, b)
	}
	return string(b[strings.Index(string(b), `"staff_id":"`)+12 : strings.LastIndex(string(b), `"`)])
}

// clinicCookie returns the clinic session cookie a response set.
func sessionCookie(h http.Header, name string) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	return ""
}

// signInByEmail asks for a sign-in link and uses it, over HTTP; it returns
// the session cookie.
func signInByEmail(t *testing.T, w *world, addr string) string {
	t.Helper()
	if st, loc := askLink(t, w, addr, "127.0.0.1:1"); st != http.StatusSeeOther || !strings.Contains(loc, "clinic-signin-sent") {
		t.Fatalf("ask for a sign-in link: %d %s", st, loc)
	}
	link := staffLink(t, w, addr)
	_, _, page := w.Do(http.MethodGet, link, nil, nil)
	st, hd, _ := w.Do(http.MethodPost, link, []byte(apptest.HiddenFields(page).Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}})
	c := sessionCookie(hd, "handoff_clinic")
	if st != http.StatusSeeOther || c == "" {
		t.Fatalf("sign in by link: %d", st)
	}
	return c
}

// askLink posts the sign-in page's "email me a sign-in link" form.
func askLink(t *testing.T, w *world, addr, _ string) (int, string) {
	t.Helper()
	_, _, page := w.Do(http.MethodGet, "/clinic", nil, nil)
	f := apptest.HiddenFields(page)
	f.Set("email", addr)
	st, hd, _ := w.Do(http.MethodPost, "/clinic/signin-link", []byte(f.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}})
	return st, hd.Get("Location")
}

// signedIn reports whether a cookie opens the clinic's list.
func signedIn(t *testing.T, w *world, cookie string) bool {
	t.Helper()
	st, _, page := w.Do(http.MethodGet, "/clinic", nil, http.Header{"Cookie": {cookie}})
	if st != http.StatusOK {
		t.Fatalf("GET /clinic: %d", st)
	}
	return strings.Contains(string(page), `action="/clinic/logout"`)
}

// TestBrowserReferInTheRoom: a staff member invited by the operator opens
// the invitation, registers a passkey (Chromium's virtual authenticator),
// signs out and in again with it, refers a patient who gives no contact,
// and shows the QR code; decoded from a screenshot, it opens the consent
// page in a second browser context, where the patient agrees; the staff page
// shows consented, then routed. Every page is axe-clean in English and
// Spanish. Then the passkey's failures: another origin, a replayed answer, a
// copied authenticator (its sign count), and a removed staff member — each
// refused.
func TestBrowserReferInTheRoom(t *testing.T) {
	b := newChromium(t)
	w := newWorld(t, "")
	b.use(w.Harness)
	b.base = w.Room.Origin // passkeys need a name, not an address: localhost
	ctx, cancel := b.ctx()
	_, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	var auth cdpwebauthn.AuthenticatorID
	if err == nil {
		auth, err = addAuthenticator(ctx)
	}
	cancel()
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}

	staffID := invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	link := staffLink(t, w, "rivera@clinic.example")
	if st := b.open(link); st != http.StatusOK {
		t.Fatalf("invitation page: %d", st)
	}
	b.check("invitation")
	if st := b.open(link + "?lang=es"); st != http.StatusOK {
		t.Fatalf("invitation page (es): %d", st)
	}
	b.check("invitation es")
	b.open(link)
	b.click(`form[data-passkey] button`)
	waitPath(b, "/clinic")
	if got := b.text("h1"); got != "Referrals" {
		t.Fatalf("after registering: h1 %q", got)
	}
	b.check("list empty")
	creds := credentials(b, auth)
	if len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("the authenticator holds %d passkeys, want 1 discoverable", len(creds))
	}
	if st, _, _ := w.Do(http.MethodGet, link, nil, nil); st != http.StatusGone {
		t.Errorf("the invitation after use: %d, want 410", st)
	}
	cookie := browserCookie(b, "handoff_clinic")
	if !signedIn(t, w, cookie) {
		t.Fatal("the session cookie does not open /clinic")
	}

	// Sign out: a copy of the cookie saved before no longer works.
	b.submit(`form[action="/clinic/logout"] button`)
	if signedIn(t, w, cookie) {
		t.Error("a session cookie copied before signing out still works")
	}
	b.check("sign-in")
	if st := b.open("/clinic?lang=es"); st != http.StatusOK {
		t.Fatal("sign-in page (es)")
	}
	b.check("sign-in es")
	b.open("/clinic")
	b.click(`form[data-passkey] button`)
	waitFor(b, `form[action="/clinic/logout"]`)

	// The form: errors next to their fields, in the page's language.
	b.open("/clinic/new?lang=es")
	b.check("form es")
	b.open("/clinic/new")
	b.check("form")
	b.do("fill", chromedp.SetValue(chromedp.CSS("#postal_code"), "9411", chromedp.NodeVisible))
	b.click(`form[action^="/clinic/referrals"] button[type=submit]`)
	waitFor(b, ".error")
	if got := b.texts(".error"); len(got) < 3 || !strings.Contains(strings.Join(got, "|"), "Enter a first name") {
		t.Errorf("field errors %q", got)
	}
	b.check("form errors")
	b.do("fill", chromedp.SetValue(chromedp.CSS("#given_name"), "Ana", chromedp.NodeVisible),
		chromedp.SetValue(chromedp.CSS("#topic"), "alcohol", chromedp.NodeVisible),
		chromedp.SetValue(chromedp.CSS("#postal_code"), "94110", chromedp.NodeVisible))
	b.submit(`form[action^="/clinic/referrals"] button[type=submit]`)
	id := strings.TrimPrefix(eval[string](b, `location.pathname`), "/clinic/referrals/")
	if len(id) != 26 {
		t.Fatalf("after the form: %s", eval[string](b, `location.pathname`))
	}
	w.Settle() // the offers are fixed
	b.open("/clinic/referrals/" + id)
	if got := eval[string](b, `document.getElementById('status').dataset.status`); got != "awaiting-consent" {
		t.Fatalf("status %q", got)
	}
	b.check("referral with QR")
	b.open("/clinic/referrals/" + id + "?lang=es")
	b.check("referral with QR es")
	qrLink := decodeQR(b)
	if want := b.text("#qr-link"); qrLink != want || !strings.Contains(qrLink, "/q/") {
		t.Fatalf("the QR code says %q, the page %q", qrLink, want)
	}

	// The patient's phone: another browser context.
	phone := &chromium{t: t, tab: browsertest.Tab(t), axe: b.axe, screens: b.screens}
	if st := phone.open(qrLink); st != http.StatusOK {
		t.Fatalf("the QR link: %d", st)
	}
	if !strings.Contains(eval[string](phone, `location.pathname`), "/c/") {
		t.Fatalf("the QR link led to %s", apptest.Redact(eval[string](phone, `location.pathname`)))
	}
	phone.pick("mission-a")
	phone.click(`#mode-self + label`)
	phone.submit(`button[value="confirm"]`)
	if st, _, _ := w.Do(http.MethodGet, strings.TrimPrefix(qrLink, w.Server.URL), nil, nil); st != http.StatusGone {
		t.Errorf("the QR link opened twice: %d, want 410", st)
	}
	b.open("/clinic/referrals/" + id)
	if got := eval[string](b, `document.getElementById('status').dataset.status`); got != "consented" {
		t.Errorf("after the patient agreed: %q, want consented", got)
	}
	if !b.has("#qr-opened") || !b.has("#viewed") {
		t.Error("the page does not say when the QR code and the consent page were opened")
	}
	w.Settle()
	b.open("/clinic/referrals/" + id)
	if got := eval[string](b, `document.getElementById('status').dataset.status`); got != "shared-with-patient" && got != "routed" {
		t.Errorf("after routing: %q, want routed (shared-with-patient in self mode)", got)
	}
	b.check("referral routed")
	b.open("/clinic")
	if got := b.text("tbody th"); got != "Ana" {
		t.Errorf("the list's first referral %q", got)
	}
	b.check("list")

	// Passkey failures. Another origin (the same pages on another port).
	other := httptest.NewServer(w.Server.Config.Handler)
	t.Cleanup(other.Close)
	b.submit(`form[action="/clinic/logout"] button`)
	b.base = strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	b.open("/clinic")
	b.click(`form[data-passkey] button`)
	waitText(b, "#passkey-status", "That did not work")
	if !strings.Contains(w.Logs.String(), "origin") {
		t.Error("the refusal's log line does not name the origin")
	}
	b.base = w.Room.Origin

	// A replayed answer: the same assertion sent twice.
	b.open("/clinic")
	replay := evalAwait[[]int](b, `(async () => {
		const csrf = document.querySelector('form[data-passkey] input[name=csrf]').value;
		const h = {'X-CSRF-Token': csrf, 'Content-Type': 'application/json'};
		const c = await (await fetch('/clinic/passkey/options', {method: 'POST', headers: h, body: '{}'})).json();
		const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(c.publicKey)});
		const body = JSON.stringify({ceremony: c.ceremony, credential: cred.toJSON()});
		const a = await fetch('/clinic/passkey', {method: 'POST', headers: h, body});
		const b = await fetch('/clinic/passkey', {method: 'POST', headers: h, body});
		return [a.status, b.status];
	})()`)
	if len(replay) != 2 || replay[0] != 200 || replay[1] != 401 {
		t.Errorf("an answer sent twice: %v, want [200 401]", replay)
	}

	// A copied authenticator: the same passkey with a sign count that did not grow.
	cred := credentials(b, auth)[0]
	copyAuth := swapAuthenticator(b, auth, cred, 0)
	b.open("/clinic") // signed in by the first of the two answers
	b.submit(`form[action="/clinic/logout"] button`)
	b.click(`form[data-passkey] button`)
	waitText(b, "#passkey-status", "That did not work")
	if !strings.Contains(w.Logs.String(), "sign count") {
		t.Error("the refusal's log line does not name the sign count")
	}

	// A removed staff member: their passkey and their session stop working.
	swapAuthenticator(b, copyAuth, cred, cred.SignCount+100)
	session := signInByEmail(t, w, "rivera@clinic.example")
	if st, _, _ := w.Do(http.MethodDelete, "/v1/admin/clinics/lakeside/staff/"+staffID, nil, http.Header{"Authorization": {"Bearer " + apptest.AdminToken}}); st != http.StatusNoContent {
		t.Fatalf("remove staff: %d", st)
	}
	if signedIn(t, w, session) {
		t.Error("a removed staff member's session still works")
	}
	b.open("/clinic")
	b.click(`form[data-passkey] button`)
	waitText(b, "#passkey-status", "That did not work")
}

// waitPath waits until the tab shows path. Each of these waits ends at a
// deadline, not after a count of tries: on a busy machine every try is slow
// too.
func waitPath(b *chromium, path string) {
	b.t.Helper()
	for deadline := time.Now().Add(stepTimeout); time.Now().Before(deadline); {
		if eval[string](b, `document.readyState === 'complete' ? location.pathname : ''`) == path {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("the page did not reach %s (at %s: %q)", path, eval[string](b, `location.pathname`), eval[string](b, `(document.getElementById('passkey-status')||{}).textContent||''`))
}

// waitFor waits until an element matching css is on the page.
func waitFor(b *chromium, css string) {
	b.t.Helper()
	for deadline := time.Now().Add(stepTimeout); time.Now().Before(deadline); {
		if eval[bool](b, `document.readyState === 'complete' && !!document.querySelector(`+jsString(css)+`)`) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s never showed (at %s: %q)", css, eval[string](b, `location.pathname`), eval[string](b, `(document.getElementById('passkey-status')||{}).textContent||''`))
}

// waitText waits until an element's text holds want.
func waitText(b *chromium, css, want string) {
	b.t.Helper()
	for deadline := time.Now().Add(stepTimeout); time.Now().Before(deadline); {
		if strings.Contains(eval[string](b, `(document.querySelector(`+jsString(css)+`)||{}).textContent||''`), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s never said %q (at %s)", css, want, eval[string](b, `location.pathname`))
}

func addAuthenticator(ctx context.Context) (cdpwebauthn.AuthenticatorID, error) {
	r, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
		Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		HasCmtgKey: true, // else AddCredential refuses its cmtg field, which the protocol always sends
	}})
	return r.AuthenticatorID, err
}

func credentials(b *chromium, auth cdpwebauthn.AuthenticatorID) []*cdpwebauthn.Credential {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	r, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: auth})
	if err != nil {
		b.t.Fatalf("read the authenticator: %v", err)
	}
	return r.Credentials
}

// swapAuthenticator replaces an authenticator with one holding a copy of
// cred whose sign count is count.
func swapAuthenticator(b *chromium, old cdpwebauthn.AuthenticatorID, cred *cdpwebauthn.Credential, count float64) cdpwebauthn.AuthenticatorID {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	_, err := chromedp.Call(ctx, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: old})
	var id cdpwebauthn.AuthenticatorID
	if err == nil {
		id, err = addAuthenticator(ctx)
	}
	if err == nil {
		c := cdpwebauthn.Credential{
			CredentialID: cred.CredentialID, IsResidentCredential: cred.IsResidentCredential, RpID: cred.RpID,
			PrivateKey: cred.PrivateKey, UserHandle: cred.UserHandle, SignCount: count,
			BackupEligibility: cred.BackupEligibility, BackupState: cred.BackupState,
		}
		_, err = chromedp.Call(ctx, cdpwebauthn.AddCredential, cdpwebauthn.AddCredentialParams{AuthenticatorID: id, Credential: &c})
	}
	if err != nil {
		b.t.Fatalf("copy the passkey: %v", err)
	}
	return id
}

// browserCookie is a cookie of the tab, as a Cookie header's pair.
func browserCookie(b *chromium, name string) string {
	b.t.Helper()
	got := eval[string](b, `document.cookie`) // HttpOnly: not visible here
	if strings.Contains(got, name) {
		b.t.Errorf("the session cookie is readable by scripts")
	}
	ctx, cancel := b.ctx()
	defer cancel()
	r, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		b.t.Fatalf("read the cookies: %v", err)
	}
	for _, c := range r.Cookies {
		if c.Name == name {
			return c.Name + "=" + c.Value
		}
	}
	b.t.Fatalf("no %s cookie", name)
	return ""
}

// decodeQR screenshots the page's QR code and decodes it.
func decodeQR(b *chromium) string {
	b.t.Helper()
	// Drawn at a whole number of pixels a module (8), so that the
	// screenshot's modules are all alike: at the page's own width a module
	// is a fraction of a pixel wide.
	if n := eval[float64](b, `(() => { const s = document.querySelector('svg.qr'); const n = s.viewBox.baseVal.width;
		s.style.width = (n * 8) + 'px'; s.style.maxWidth = 'none'; return n; })()`); n < 21 {
		b.t.Fatalf("the QR code's viewBox is %v modules wide", n)
	}
	ctx, cancel := b.ctx()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("svg.qr"), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("screenshot the QR code: %v", err)
	}
	img, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		b.t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		b.t.Fatal(err)
	}
	// The screenshot is the code alone, quiet zone and all: read it as a
	// pure barcode. The general detector, which looks for the code in a
	// larger picture, fails on about one random link in a hundred.
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		b.t.Fatalf("decode the QR code: %v", err)
	}
	return res.GetText()
}

// evalAwait evaluates a JavaScript promise in the page.
func evalAwait[T any](b *chromium, js string) T {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate: %v", err)
	}
	return v
}

// TestBrowserConsentWithoutContact: a patient referred in the room with no
// email or phone opens the consent page by the QR code; it offers only "I
// will contact them myself" (the groups could not reach them), says why,
// shares nothing, and is axe-clean in English and Spanish. An
// "introduce me" posted anyway changes nothing; agreeing in self mode
// shares the groups' details with the patient.
func TestBrowserConsentWithoutContact(t *testing.T) {
	b := newChromium(t)
	w := newWorld(t, "")
	b.use(w.Harness)
	invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	st := staffSession(t, w, "rivera@clinic.example")
	id, err := w.Room.Refer(t.Context(), st, intake.Form{GivenName: "Ana", PostalCode: "94110", Topic: "alcohol", Language: "es"}, strings.Repeat("n", 43))
	if err != nil {
		t.Fatal(err)
	}
	w.Settle()
	v, err := w.Room.Referral(t.Context(), st, id, "en")
	if err != nil || v.QRLink == "" {
		t.Fatalf("the QR code: %v", err)
	}
	code, hd, _ := w.Do(http.MethodGet, strings.TrimPrefix(v.QRLink, w.Server.URL), nil, nil)
	consent := hd.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(consent, "/c/") {
		t.Fatalf("the QR link: %d", code)
	}
	for _, lang := range []string{"en", "es"} {
		if st := b.open(consent + "?lang=" + lang); st != http.StatusOK {
			t.Fatalf("consent page (%s): %d", lang, st)
		}
		if b.has("#mode-introduce") || !eval[bool](b, `document.getElementById('mode-self').checked`) || !b.has("#mode-only-self") {
			t.Errorf("(%s) the page offers to introduce a patient who gave no contact, or does not say why", lang)
		}
		if b.has("ul.shared") {
			t.Errorf("(%s) the page lists a contact to share", lang)
		}
		b.check("consent without contact " + lang)
	}

	// An introduction posted anyway (a forged or stale form) changes nothing.
	if st, loc := w.Form(consent, url.Values{"action": {"confirm"}, "mode": {"introduce"}, "groups": {"mission-a"}}); st != http.StatusSeeOther || !strings.Contains(loc, "try-again") {
		t.Errorf("introduce without a contact: %d %s, want the page again with try-again", st, apptest.Redact(loc))
	}
	if rec, err := w.App.Referrals.Get(t.Context(), id); err != nil || rec.Status != "awaiting-consent" {
		t.Fatalf("after introduce was refused: %v %v, want awaiting-consent", rec.Status, err)
	}

	b.open(consent + "?lang=en")
	b.pick("mission-a")
	b.submit(`button[value="confirm"]`)
	if !strings.Contains(b.text("main"), "Group mission-a") {
		t.Error("the confirmed page does not show the chosen group's details")
	}
	b.check("consent without contact confirmed")
	w.Settle()
	rec, err := w.App.Referrals.Get(t.Context(), id)
	if err != nil || rec.Consent == nil || rec.Consent.Mode != "self" || rec.Consent.Channel != "" {
		t.Fatalf("the consent record: %+v %v, want self mode with no channel", rec.Consent, err)
	}
	if rec.Status != "shared-with-patient" {
		t.Errorf("status %s, want shared-with-patient", rec.Status)
	}
}
