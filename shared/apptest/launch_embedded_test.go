package apptest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/handoff-health/handoff/infra/ehrtest"
)

// TestBrowserLaunchEmbedded is a SMART launch the EHR opens inside a frame
// of its own page, in Chromium. The EHR (oidc-provider, its chart page on
// its own origin at 127.0.0.1) and the clinic's pages (localhost) are
// different sites, so the frame is a cross-site context: the browser keeps
// no SameSite=Lax or Strict cookie there and, in this browser context as in
// any that blocks third-party cookies, no unpartitioned cookie at all.
//
// The clinician is signed in at the EHR before the chart opens, as in an
// EHR: here by a first, top-level launch through oidc-provider's own
// sign-in and consent pages (which an EHR would not show inside its
// page). Then the chart page frames the launch URL; the EHR authorizes at
// once, and the frame ends on the referral form filled in from the chart,
// whose submission shows the QR code, all inside the frame, on a
// partitioned session cookie kept under the EHR's site.
//
// Then: the same pages, framed by another origin of the EHR's site (which
// the partitioned cookie goes to) and by another site, are refused by the
// browser (frame-ancestors); a cross-site post to the embedded form without
// its anti-CSRF token is refused and writes nothing; and the embedded
// session reaches nothing but its form and referral.
func TestBrowserLaunchEmbedded(t *testing.T) {
	b := newChromium(t)
	lw := newLaunchWorld(t, ehrtest.Break{})
	b.use(lw.Harness)
	b.base = ""
	ehrOrigin := lw.ehr.Issuer
	st, body := lw.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/smart-app", map[string]any{
		"iss": lw.ehr.FHIR, "client_id": lw.ehr.ClientID, "frame_origins": []string{ehrOrigin, ehrOrigin},
	})
	if st != http.StatusOK || !strings.Contains(string(body), `"frame_origins":["`+ehrOrigin+`"]`) {
		t.Fatalf("register the EHR's origin: %d %s", st, body)
	}

	// Signed in at the EHR: a top-level launch, through its own pages.
	if st := b.open(lw.ehr.LaunchURL(lw.origin+"/launch", ehrtest.Launch)); st != http.StatusOK {
		t.Fatalf("the launch URL: %d", st)
	}
	b.do("sign in at the EHR", chromedp.SetValue(chromedp.CSS(`input[name=login]`), "dr-rivera", chromedp.NodeVisible),
		chromedp.SetValue(chromedp.CSS(`input[name=password]`), "any password will do", chromedp.NodeVisible))
	b.submit(`button[type=submit]`)
	b.submit(`button[type=submit]`)
	waitPath(b, "/clinic/new")
	// handoff's own cookies go: the frame must work without them (it would
	// be sent none of them anyway).
	deleteCookies(b, lw.origin, "handoff_clinic", "handoff_clinic_landing")

	// The EHR's chart page frames the launch.
	start := time.Now()
	if st := b.open(lw.ehr.ChartURL(lw.origin+"/launch", ehrtest.Launch)); st != http.StatusOK {
		t.Fatalf("the EHR's chart page: %d", st)
	}
	f := frameAt(b, lw.origin+"/clinic/new")
	waitPath(f, "/clinic/new")
	t.Logf("chart page → filled form in the frame: %v in Chromium", time.Since(start).Round(time.Millisecond))
	for css, want := range map[string]string{"#given_name": "Colin", "#postal_code": "74048", "#topic": "alcohol"} {
		if got := eval[string](f, `document.querySelector(`+jsString(css)+`).value`); got != want {
			t.Errorf("in the frame, %s = %q, want %q", css, got, want)
		}
	}
	if !strings.Contains(f.text(".notice"), "Filled in from the patient") {
		t.Errorf("the framed form does not say it comes from the chart: %q", f.text(".notice"))
	}
	if f.has(`a[href^="/clinic?"]`) || f.has(`form[action="/clinic/logout"]`) {
		t.Errorf("the framed form links to pages its session does not reach")
	}
	f.checkA11y("form from the EHR, in its frame")

	// The session: one partitioned cookie, kept under the EHR's site.
	embed := partitionedCookie(b, lw.origin, "handoff_clinic_embed", "http://127.0.0.1")

	// A cross-site post to the form without its token, from the EHR's own
	// page (whose partition holds the cookie, so it goes along): refused,
	// and nothing written.
	before := clinicReferrals(t, lw)
	status := crossSitePost(b, lw.origin+"/clinic/referrals", url.Values{
		"given_name": {"Mallory"}, "postal_code": {"94110"}, "topic": {"alcohol"}, "language": {"en"},
		"form_key": {strings.Repeat("A", 43)},
	})
	if status != http.StatusForbidden {
		t.Errorf("a cross-site post to the embedded form answered %d, want 403", status)
	}
	// The same post with the cookie but not from a browser page (no Fetch
	// Metadata, no Origin): the token is what refuses it.
	req, _ := http.NewRequest(http.MethodPost, lw.origin+"/clinic/referrals", strings.NewReader(url.Values{
		"given_name": {"Mallory"}, "postal_code": {"94110"}, "topic": {"alcohol"}, "form_key": {strings.Repeat("B", 43)},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "handoff_clinic_embed", Value: embed})
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a post with the embedded session and no token: %v %v, want 403", res, err)
	} else {
		res.Body.Close()
	}
	if after := clinicReferrals(t, lw); after != before {
		t.Fatalf("a refused post wrote a referral: %d → %d", before, after)
	}

	// The form in the frame is submitted: the QR code, in the frame.
	f.do("fill", chromedp.SetValue(chromedp.CSS("#postal_code"), "94110", chromedp.NodeVisible))
	f.submit(`form[action^="/clinic/referrals"] button[type=submit]`)
	id := strings.TrimPrefix(eval[string](f, `location.pathname`), "/clinic/referrals/")
	if len(id) != 26 {
		t.Fatalf("after the framed form: %s", eval[string](f, `location.pathname`))
	}
	if got := eval[string](f, `document.getElementById('status').dataset.status`); got != "awaiting-consent" {
		t.Fatalf("status %q", got)
	}
	if !f.has("svg.qr") {
		t.Fatalf("no QR code in the frame")
	}
	f.checkA11y("referral from the EHR with QR, in its frame")
	if n := clinicReferrals(t, lw); n != before+1 {
		t.Errorf("referrals %d → %d, want one more", before, n)
	}

	// What the embedded session reaches, by its cookie: its referral (the
	// EHR's origin may frame it), not the list, not another referral.
	other, _ := lw.refer(t, "pat@example.org")
	for _, c := range []struct {
		path, frames string
		status       int
		has          string
	}{
		{"/clinic/referrals/" + id, "frame-ancestors " + ehrOrigin + ";", http.StatusOK, `data-status="awaiting-consent"`},
		{"/clinic/new", "", http.StatusSeeOther, ""}, // the form is used: on to its referral
		{"/clinic/referrals/" + other, "frame-ancestors " + ehrOrigin + ";", http.StatusNotFound, ""},
		{"/clinic", "frame-ancestors 'none'", http.StatusOK, `action="/clinic/passkey"`}, // the sign-in page
	} {
		req, _ := http.NewRequest(http.MethodGet, lw.origin+c.path, nil)
		req.AddCookie(&http.Cookie{Name: "handoff_clinic_embed", Value: embed})
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", c.path, err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		csp, xfo := res.Header.Get("Content-Security-Policy"), res.Header.Get("X-Frame-Options")
		if res.StatusCode != c.status || !strings.Contains(csp, c.frames) || !strings.Contains(string(page), c.has) {
			t.Errorf("GET %s with the embedded session: %d, CSP %q, want %d and %q", c.path, res.StatusCode, csp, c.status, c.frames)
		}
		if framed := strings.Contains(csp, ehrOrigin); framed == (xfo == "DENY") {
			t.Errorf("GET %s: CSP %q with X-Frame-Options %q", c.path, csp, xfo)
		}
	}

	// The same page framed by the EHR's origin (its chart page, given the
	// page's URL as the app's), by another origin of the EHR's site (the
	// partitioned cookie goes there too) and by another site: shown by the
	// first only.
	refPage := lw.origin + "/clinic/referrals/" + id
	for _, c := range []struct {
		framer string
		shown  bool
	}{
		{lw.ehr.ChartURL(refPage, ehrtest.Launch), true},
		{framingPage(t, "127.0.0.1", refPage), false},
		{framingPage(t, "127.0.0.2", refPage), false},
	} {
		if st := b.open(c.framer); st != http.StatusOK {
			t.Fatalf("the framing page %s: %d", c.framer, st)
		}
		fr := frameAt(b, refPage)
		var got string
		for i := 0; i < 100; i++ {
			got = eval[string](fr, `document.readyState === 'complete' ? location.origin + location.pathname + ' ' + (document.getElementById('status') || {dataset: {}}).dataset.status : ''`)
			if got != "" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if shown := got == refPage+" awaiting-consent"; shown != c.shown {
			t.Errorf("framed by %s: the frame shows %q; want shown %v", c.framer, got, c.shown)
		}
	}
	if strings.Contains(lw.Logs.String(), "Colin") || strings.Contains(lw.Logs.String(), "74048") {
		t.Errorf("the chart's data reached the log")
	}
}

var noRedirect = &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// frameAt waits for the tab's cross-site frame to be at a URL starting
// with prefix and returns a browser on it (Chromium runs a cross-site
// frame as a target of its own).
func frameAt(b *chromium, prefix string) *chromium {
	b.t.Helper()
	for i := 0; i < 150; i++ {
		infos, err := chromedp.Targets(b.tab)
		if err != nil {
			b.t.Fatalf("list the targets: %v", err)
		}
		for _, in := range infos {
			if in.Type == "iframe" && strings.HasPrefix(in.URL, prefix) {
				ctx, cancel := chromedp.NewContext(b.tab, chromedp.WithTargetID(in.TargetID))
				b.t.Cleanup(cancel)
				// The first run attaches to the frame for as long as the
				// context it is given lives: the frame's own, not a step's.
				if err := chromedp.Do(ctx); err != nil {
					b.t.Fatalf("attach to the frame: %v", err)
				}
				return &chromium{t: b.t, tab: ctx, axe: b.axe, screens: b.screens}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("no frame reached %s", prefix)
	return nil
}

// framingPage serves, on host, a page that frames src, and returns its URL.
func framingPage(t *testing.T, host, src string) string {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Other</title></head><body><iframe title="x" src="%s"></iframe></body></html>`, src)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/"
}

// deleteCookies drops the browser's cookies of names for origin.
func deleteCookies(b *chromium, origin string, names ...string) {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	for _, n := range names {
		if _, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: n, URL: origin + "/clinic/new"}); err != nil {
			b.t.Fatalf("delete cookie %s: %v", n, err)
		}
	}
}

// partitionedCookie is the value of the browser's cookie name for origin,
// which must be HttpOnly, Secure, SameSite=None and partitioned under the
// top-level site topSite; and no cookie of the clinic's pages may be
// unpartitioned.
func partitionedCookie(b *chromium, origin, name, topSite string) string {
	b.t.Helper()
	ctx, cancel := b.ctx()
	defer cancel()
	r, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin + "/clinic/new"}})
	if err != nil {
		b.t.Fatalf("read the cookies: %v", err)
	}
	value := ""
	for _, c := range r.Cookies {
		b.t.Logf("cookie %s: path %s, SameSite %s, Secure %v, HttpOnly %v, partition %+v, expires in %v", c.Name, c.Path, c.SameSite, c.Secure,
			c.HTTPOnly, c.PartitionKey, time.Until(time.Unix(int64(c.Expires), 0)).Round(time.Minute))
		switch {
		case c.Name == name && c.PartitionKey != nil && c.PartitionKey.TopLevelSite == topSite && c.Secure && c.HTTPOnly &&
			c.SameSite == network.CookieSameSiteNone:
			value = c.Value
		case strings.HasPrefix(c.Name, "handoff_clinic"):
			b.t.Errorf("cookie %s (partition %+v) in the browser", c.Name, c.PartitionKey)
		}
	}
	if value == "" {
		b.t.Fatalf("no partitioned %s cookie under %s", name, topSite)
	}
	return value
}

// crossSitePost posts fields to u from the tab's page, with its cookies
// (fetch, no-cors: a cross-site form post as any page can send), and
// returns the status handoff answered.
func crossSitePost(b *chromium, u string, fields url.Values) int64 {
	b.t.Helper()
	var (
		mu     sync.Mutex
		status int64
	)
	lctx, stop := context.WithCancel(b.tab)
	defer stop()
	err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Response.URL == u {
			mu.Lock()
			status = e.Response.Status
			mu.Unlock()
		}
	})
	if err != nil {
		b.t.Fatalf("watch the network: %v", err)
	}
	ctx, cancel := b.ctx()
	defer cancel()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		b.t.Fatalf("watch the network: %v", err)
	}
	js := `fetch(` + jsString(u) + `, {method: 'POST', mode: 'no-cors', credentials: 'include',
		headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: ` + jsString(fields.Encode()) + `}).then(() => true)`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)); err != nil {
		b.t.Fatalf("post: %v", err)
	}
	for i := 0; i < 50; i++ {
		mu.Lock()
		s := status
		mu.Unlock()
		if s != 0 {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("no answer seen to the post")
	return 0
}

// clinicReferrals counts the clinic's referrals.
func clinicReferrals(t *testing.T, lw *launchWorld) int {
	t.Helper()
	page, err := lw.App.Referrals.ClinicReferrals(context.Background(), "lakeside", "", 100)
	if err != nil {
		t.Fatalf("the clinic's referrals: %v", err)
	}
	return len(page.Referrals)
}
