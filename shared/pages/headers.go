package pages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ContentSecurityPolicy is the policy of every page: nothing but this origin's
// own files, no framing, forms post only here, no <base>. Pages therefore carry
// no inline style or script at all.
const ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// FramedBy lets the origins given — the registered origins of a clinic's
// EHR, for the pages of a launch inside a frame of the EHR's page — frame
// the page being answered, and no one else: the Content-Security-Policy's
// frame-ancestors names them instead of 'none', and X-Frame-Options (which
// can name no origin) is dropped. Every other directive stays. With no
// origins it changes nothing: the page stays unframeable. Call it after
// Headers has set the page's headers and before the answer is written. The
// origins must be serialized origins (scheme://host[:port]), as
// registration keeps them.
func FramedBy(h http.Header, origins []string) {
	if len(origins) == 0 {
		return
	}
	h.Set("Content-Security-Policy", strings.Replace(ContentSecurityPolicy, "frame-ancestors 'none'",
		"frame-ancestors "+strings.Join(origins, " "), 1))
	h.Del("X-Frame-Options")
}

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

// StylesheetPath is where AssetHandler serves the pages' one stylesheet, and
// ScriptPath their one script: the passkey ceremony of the clinic's pages.
const ScriptPath = "/assets/passkey.js"

//go:embed assets/handoff.css assets/passkey.js
var assetFS embed.FS

// asset is an embedded file, its type and its ETag.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assets reads the embedded files on first use.
var assets = sync.OnceValues(func() (map[string]asset, error) {
	out := map[string]asset{}
	for path, ctype := range map[string]string{StylesheetPath: "text/css; charset=utf-8", ScriptPath: "text/javascript; charset=utf-8"} {
		b, err := assetFS.ReadFile(path[1:])
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		sum := sha256.Sum256(b)
		out[path] = asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out, nil
})

// AssetHandler serves the pages' stylesheet at /assets/handoff.css and the
// passkey script at /assets/passkey.js (mount it at /assets/). It answers
// GET and HEAD with an ETag and a one-hour cache life, 304 to a matching
// If-None-Match, 405 to other methods and the plain 404 page for any other
// path.
func AssetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all, err := assets()
		if err != nil {
			RenderError(w, RequestLang(r, ""), http.StatusInternalServerError)
			return
		}
		a, ok := all[r.URL.Path]
		if !ok {
			RenderError(w, RequestLang(r, ""), http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			RenderError(w, RequestLang(r, ""), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(a.body))
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
