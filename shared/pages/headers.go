package pages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// ContentSecurityPolicy is the policy of every page: nothing but this origin's
// own files, no framing, forms post only here, no <base>. Pages therefore carry
// no inline style or script at all.
const ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// StylesheetPath is where AssetHandler serves the pages' one stylesheet.
const StylesheetPath = "/assets/handoff.css"

// setPageHeaders sets the security headers of a page response.
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// Headers sets on every response, before next runs: the Content-Security-Policy
// above, Referrer-Policy no-referrer (a link's token never leaks to another
// site), Cache-Control no-store, X-Content-Type-Options nosniff, X-Frame-Options
// DENY and a default Content-Type of text/html; charset=utf-8, which next may
// replace.
func Headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

//go:embed assets/handoff.css
var assetFS embed.FS

// asset is an embedded file and its ETag.
type asset struct {
	body []byte
	etag string
}

// stylesheet reads the embedded stylesheet on first use.
var stylesheet = sync.OnceValues(func() (asset, error) {
	css, err := assetFS.ReadFile("assets/handoff.css")
	if err != nil {
		return asset{}, fmt.Errorf("read stylesheet: %w", err)
	}
	sum := sha256.Sum256(css)
	return asset{body: css, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}, nil
})

// AssetHandler serves the pages' stylesheet at /assets/handoff.css (mount it at
// /assets/). It answers GET and HEAD with an ETag and a one-hour cache life,
// 304 to a matching If-None-Match, 405 to other methods and the plain 404 page
// for any other path.
func AssetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != StylesheetPath {
			RenderError(w, RequestLang(r, ""), http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			RenderError(w, RequestLang(r, ""), http.StatusMethodNotAllowed)
			return
		}
		css, err := stylesheet()
		if err != nil {
			RenderError(w, RequestLang(r, ""), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", css.etag)
		http.ServeContent(w, r, "handoff.css", time.Time{}, bytes.NewReader(css.body))
	})
}

// Protect refuses cross-site form posts with the plain 403 page: a non-GET
// request whose Sec-Fetch-Site says cross-site, or whose Origin is not this
// host (net/http's CrossOriginProtection). Requests without either header (not
// from a browser) pass; the per-page CSRF token still guards them.
func Protect(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		RenderError(w, RequestLang(r, ""), http.StatusForbidden)
	}))
	return p.Handler(next)
}
