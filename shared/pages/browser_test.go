package pages

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/testenv/browsertest"
)

// newBrowser opens a phone-sized tab, in a browser context of its own, in
// the test binary's one Chromium, bounded by timeout. It closes when the test
// ends.
func newBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(browsertest.Tab(t), timeout)
	t.Cleanup(cancel)
	return ctx
}

// TestMain closes the test binary's Chromium once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	browsertest.Close()
	os.Exit(code)
}

// pageServer serves one consent page and one group page the way the
// handlers do: GET shows, POST parses, checks the CSRF token, records and
// answers 303 to the same URL.
type pageServer struct {
	csrf CSRF

	mu           sync.Mutex
	consent      ConsentView
	group        GroupView
	consentPosts []ConsentForm
	groupPosts   []GroupForm
	fetchSites   []string // Sec-Fetch-Site of every POST
}

const (
	consentToken = "consent-link-token"
	groupToken   = "group-link-token"
)

func newPageServer() *pageServer {
	s := &pageServer{csrf: CSRF{Key: []byte("browser-test-key-0123456789abcdef")}}
	s.consent = testConsentView(English, ConsentOpen)
	s.consent.ActionURL, s.consent.CSRFToken = "/c/"+consentToken, s.csrf.Token(consentToken)
	s.group = testGroupView(English, referral.RouteNotified)
	s.group.ActionURL, s.group.CSRFToken = "/g/"+groupToken, s.csrf.Token(groupToken)
	return s
}

func (s *pageServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/assets/", AssetHandler())
	mux.HandleFunc("GET /c/"+consentToken, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		v := s.consent
		s.mu.Unlock()
		v.Lang = RequestLang(r, "en")
		if err := RenderConsent(w, v); err != nil {
			RenderError(w, v.Lang, http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /c/"+consentToken, func(w http.ResponseWriter, r *http.Request) {
		lang := RequestLang(r, "en")
		f, err := ParseConsentForm(r)
		if err != nil {
			RenderError(w, lang, problem.Status(problem.CodeOf(err)))
			return
		}
		if !s.csrf.Check(consentToken, f.CSRF) {
			RenderError(w, lang, http.StatusForbidden)
			return
		}
		s.mu.Lock()
		s.consentPosts = append(s.consentPosts, f)
		s.fetchSites = append(s.fetchSites, r.Header.Get("Sec-Fetch-Site"))
		switch f.Action {
		case ActionConfirm:
			s.consent.State, s.consent.Mode, s.consent.Chosen, s.consent.Notice = ConsentConfirmed, f.Mode, f.Groups, NoticeConfirmed
		case ActionDecline:
			s.consent.State, s.consent.Notice = ConsentDeclined, NoticeDeclined
		case ActionRevoke:
			s.consent.State, s.consent.Notice = ConsentRevoked, NoticeRevoked
		}
		s.mu.Unlock()
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /g/"+groupToken, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		v := s.group
		s.mu.Unlock()
		v.Lang = RequestLang(r, "en")
		if err := RenderGroup(w, v); err != nil {
			RenderError(w, v.Lang, http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /g/"+groupToken, func(w http.ResponseWriter, r *http.Request) {
		lang := RequestLang(r, "en")
		f, err := ParseGroupForm(r)
		if err != nil {
			RenderError(w, lang, problem.Status(problem.CodeOf(err)))
			return
		}
		if !s.csrf.Check(groupToken, f.CSRF) {
			RenderError(w, lang, http.StatusForbidden)
			return
		}
		s.mu.Lock()
		s.groupPosts = append(s.groupPosts, f)
		s.fetchSites = append(s.fetchSites, r.Header.Get("Sec-Fetch-Site"))
		s.group.State = map[string]referral.RouteStatus{
			ActionAccept: referral.RouteAccepted, ActionDecline: referral.RouteDeclined,
			ActionConnected: referral.RouteConnected, ActionNotConnected: referral.RouteNotConnected,
		}[f.Action]
		s.group.Notice = map[string]string{
			ActionAccept: NoticeAccepted, ActionDecline: NoticeDeclined,
			ActionConnected: NoticeConnected, ActionNotConnected: NoticeNotConnected,
		}[f.Action]
		s.mu.Unlock()
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusSeeOther)
	})
	return Headers(Protect(mux))
}

// TestPagesInChromium drives the real pages in a phone-sized Chromium: the
// stylesheet loads under the CSP, nothing overflows sideways, and the forms
// post exactly what the parsers accept, through Protect and the CSRF check.
func TestPagesInChromium(t *testing.T) {
	srv := newPageServer()
	ts := httptest.NewServer(srv.handler())
	defer ts.Close()

	ctx := newBrowser(t, 2*time.Minute)

	h1 := func(t *testing.T) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
		if err != nil {
			t.Fatalf("read h1: %v", err)
		}
		return s
	}
	click := func(t *testing.T, css string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css))); err != nil {
			t.Fatalf("click %s: %v", css, err)
		}
	}
	submit := func(t *testing.T, css string) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
		if err != nil {
			t.Fatalf("submit %s: %v", css, err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("submit %s: status %d", css, resp.Status)
		}
	}
	eval := func(t *testing.T, js string) bool {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return ok
	}

	t.Run("consent page loads with its stylesheet and fits a phone", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/c/"+consentToken)); err != nil {
			t.Fatal(err)
		}
		if got := h1(t); got != "Your referral from Lakeside Health Center" {
			t.Errorf("h1 %q", got)
		}
		if !eval(t, `getComputedStyle(document.querySelector('.btn-primary')).backgroundColor === 'rgb(28, 78, 140)'`) {
			t.Error("the stylesheet did not apply (blocked by the CSP?)")
		}
		if !eval(t, `document.documentElement.scrollWidth <= window.innerWidth`) {
			t.Error("the page scrolls sideways on a 390 px screen")
		}
	})

	t.Run("language switch link", func(t *testing.T) {
		submit(t, `nav a[hreflang="es"]`)
		if got := h1(t); got != "Su referencia de Lakeside Health Center" {
			t.Errorf("h1 %q", got)
		}
		if !eval(t, `document.documentElement.lang === 'es'`) {
			t.Error("html lang is not es")
		}
		submit(t, `nav a[hreflang="en"]`)
	})

	t.Run("confirm posts the picked groups in page order", func(t *testing.T) {
		click(t, `label[for="group-3"]`)
		click(t, `label[for="group-1"]`)
		click(t, `label[for="mode-self"]`)
		submit(t, `button[value="confirm"]`)
		if got := h1(t); got != "You said yes" {
			t.Errorf("h1 %q", got)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.consentPosts) != 1 {
			t.Fatalf("%d posts", len(srv.consentPosts))
		}
		got := srv.consentPosts[0]
		if got.Action != ActionConfirm || got.Mode != ModeSelf || !slices.Equal(got.Groups, []string{"grp-01", "grp-03"}) {
			t.Errorf("posted %+v", got)
		}
	})

	t.Run("revoke after confirming", func(t *testing.T) {
		submit(t, `button[value="revoke"]`)
		if got := h1(t); got != "Sharing is stopped" {
			t.Errorf("h1 %q", got)
		}
	})

	t.Run("group declines with a reason", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/g/"+groupToken+"?lang=es")); err != nil {
			t.Fatal(err)
		}
		if !eval(t, `document.documentElement.scrollWidth <= window.innerWidth`) {
			t.Error("the group page scrolls sideways on a 390 px screen")
		}
		click(t, `label[for="reason-out-of-area"]`)
		submit(t, `button[value="decline"]`)
		if got := h1(t); got != "Gracias por su respuesta" {
			t.Errorf("h1 %q", got)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.groupPosts) != 1 || srv.groupPosts[0] != (GroupForm{Action: ActionDecline, Reason: "out-of-area", CSRF: srv.csrf.Token(groupToken)}) {
			t.Errorf("posted %+v", srv.groupPosts)
		}
	})

	t.Run("every post came from the same origin", func(t *testing.T) {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.fetchSites) != 3 {
			t.Fatalf("%d posts recorded", len(srv.fetchSites))
		}
		for _, s := range srv.fetchSites {
			if s != "same-origin" {
				t.Errorf("Sec-Fetch-Site %q", s)
			}
		}
	})
}

// pageStates serves every state of every page in both languages, for checks
// that run on each of them. It returns the server and the page paths.
func pageStates(t *testing.T) (*httptest.Server, []string) {
	mux := http.NewServeMux()
	mux.Handle("/assets/", AssetHandler())
	var paths []string
	add := func(path string, render func(w http.ResponseWriter, lang string) error) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			if err := render(w, RequestLang(r, "")); err != nil {
				t.Errorf("render %s: %v", path, err)
			}
		})
		paths = append(paths, path+"?lang=en", path+"?lang=es")
	}
	for _, st := range []ConsentState{ConsentOpen, ConsentConfirmed, ConsentDeclined, ConsentRevoked, ConsentUnmatched} {
		add("/c/"+string(st), func(w http.ResponseWriter, lang string) error {
			v := testConsentView(lang, st)
			v.ActionURL = "/c/" + string(st)
			switch st {
			case ConsentOpen:
				v.Notice = NoticeChooseGroup
			case ConsentConfirmed:
				v.Chosen, v.Notice, v.ConfirmedAt = []string{"grp-02", "grp-01"}, NoticeConfirmed, testSigned
			}
			return RenderConsent(w, v)
		})
	}
	for _, st := range []referral.RouteStatus{
		referral.RouteNotified, referral.RouteAccepted, referral.RouteDeclined, referral.RouteConnected,
		referral.RouteNotConnected, referral.RouteTimedOut, referral.RouteWithdrawn,
	} {
		add("/g/"+string(st), func(w http.ResponseWriter, lang string) error {
			v := testGroupView(lang, st)
			v.ActionURL = "/g/" + string(st)
			return RenderGroup(w, v)
		})
	}
	meetingStates(t, add)
	add("/l/listing", func(w http.ResponseWriter, lang string) error {
		v := testListingView(lang)
		v.ActionURL = "/l/listing"
		return RenderListing(w, v)
	})
	for _, status := range []int{400, 403, 404, 405, 410, 500} {
		add("/error/"+strconv.Itoa(status), func(w http.ResponseWriter, lang string) error {
			RenderError(w, lang, status)
			return nil
		})
	}
	return httptest.NewServer(Headers(mux)), paths
}

// TestPagesAxe runs axe-core on every page state in Chromium and fails on any
// violation of WCAG 2.2 A/AA or axe's best practices, naming each violation's
// rule, impact and elements.
func TestPagesAxe(t *testing.T) {
	axe := browsertest.Axe(t)
	ts, paths := pageStates(t)
	defer ts.Close()
	ctx := newBrowser(t, 5*time.Minute)

	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+path)); err != nil {
				t.Fatal(err)
			}
			// DevTools evaluation is not subject to the page's CSP.
			if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](string(axe))); err != nil {
				t.Fatalf("inject axe: %v", err)
			}
			res, err := chromedp.Run(ctx, chromedp.Evaluate[browsertest.AxeResult](browsertest.AxeRun, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("run axe: %v", err)
			}
			if res.Rules == 0 {
				t.Fatal("axe ran no rules")
			}
			for _, v := range res.Violations {
				t.Errorf("axe %s (%s): %s — %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
			}
		})
	}
}
