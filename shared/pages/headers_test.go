package pages

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func assertPageHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Type":            "text/html; charset=utf-8",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestHeaders(t *testing.T) {
	cases := []struct {
		name   string
		next   http.HandlerFunc
		status int
	}{
		{"page", func(w http.ResponseWriter, r *http.Request) {
			_ = RenderConsent(w, testConsentView(English, ConsentOpen))
		}, http.StatusOK},
		{"redirect after a post", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
		}, http.StatusSeeOther},
		{"error page", func(w http.ResponseWriter, r *http.Request) {
			RenderError(w, English, http.StatusNotFound)
		}, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Headers(tc.next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/c/abc", nil))
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			assertPageHeaders(t, rec.Header())
		})
	}
}

func TestHeadersLetsHandlerSetContentType(t *testing.T) {
	rec := httptest.NewRecorder()
	Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if got := rec.Header().Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if rec.Header().Get("Content-Security-Policy") == "" {
		t.Error("no CSP")
	}
}

func TestAssetHandler(t *testing.T) {
	h := AssetHandler()
	get := func(method, path string, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	ok := get(http.MethodGet, StylesheetPath, nil)
	t.Run("serves the stylesheet", func(t *testing.T) {
		if ok.Code != http.StatusOK {
			t.Fatalf("status %d", ok.Code)
		}
		if ct := ok.Header().Get("Content-Type"); ct != "text/css; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if ok.Header().Get("ETag") == "" || ok.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers %v", ok.Header())
		}
		css := ok.Body.String()
		assertContains(t, "stylesheet", css, ":focus-visible", ".skip:focus", "@media")
		if regexp.MustCompile(`(?i)url\(|@import|expression\(`).MatchString(css) {
			t.Error("stylesheet loads something from elsewhere")
		}
	})

	cases := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		status int
	}{
		{"not modified", http.MethodGet, StylesheetPath, map[string]string{"If-None-Match": ok.Header().Get("ETag")}, http.StatusNotModified},
		{"head", http.MethodHead, StylesheetPath, nil, http.StatusOK},
		{"post", http.MethodPost, StylesheetPath, nil, http.StatusMethodNotAllowed},
		{"other file", http.MethodGet, "/assets/app.js", nil, http.StatusNotFound},
		{"directory", http.MethodGet, "/assets/", nil, http.StatusNotFound},
		{"traversal", http.MethodGet, "/assets/../templates/layout.html", nil, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(tc.method, tc.path, tc.hdr)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
		})
	}
}

func TestPagesUseOnlyTheStylesheet(t *testing.T) {
	page := renderConsent(t, testConsentView(English, ConsentOpen))
	links := regexp.MustCompile(`<link [^>]*>`).FindAllString(page, -1)
	if len(links) != 1 || !strings.Contains(links[0], `href="`+StylesheetPath+`"`) {
		t.Errorf("page links %q", links)
	}
	if strings.Contains(page, "style=") || strings.Contains(page, "<script") || strings.Contains(page, "<style") {
		t.Error("inline style or script on a page")
	}
}

func TestProtect(t *testing.T) {
	reached := false
	h := Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		w.WriteHeader(http.StatusSeeOther)
	}))
	cases := []struct {
		name    string
		method  string
		headers map[string]string
		status  int
	}{
		{"cross-site post", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site post from another origin", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"foreign origin post", http.MethodPost, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same-origin post", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
		{"same-origin post by Origin", http.MethodPost, map[string]string{"Origin": "https://handoff.example.org"}, http.StatusSeeOther},
		{"post from a tool without browser headers", http.MethodPost, nil, http.StatusSeeOther},
		{"cross-site get (a link in an email)", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reached = false
			req := httptest.NewRequest(tc.method, "https://handoff.example.org/c/abc?lang=es", strings.NewReader("action=confirm"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status == http.StatusForbidden {
				if reached {
					t.Error("refused request reached the handler")
				}
				assertPageHeaders(t, rec.Header())
				assertContains(t, "403 page", rec.Body.String(), `<html lang="es">`, "Por su seguridad")
			} else if !reached {
				t.Error("allowed request did not reach the handler")
			}
		})
	}
}

func TestFramedBy(t *testing.T) {
	h := http.Header{}
	setPageHeaders(h)
	FramedBy(h, nil)
	if h.Get("X-Frame-Options") != "DENY" || h.Get("Content-Security-Policy") != ContentSecurityPolicy {
		t.Fatalf("no origins changed the headers: %v", h)
	}
	FramedBy(h, []string{"https://ehr.example.org", "https://b.example.org:8443"})
	want := "default-src 'self'; frame-ancestors https://ehr.example.org https://b.example.org:8443; form-action 'self'; base-uri 'none'"
	if got := h.Get("Content-Security-Policy"); got != want || h.Get("X-Frame-Options") != "" {
		t.Errorf("CSP %q, X-Frame-Options %q; want %q and none", got, h.Get("X-Frame-Options"), want)
	}
}
