package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
)

// adminCookie holds the operator's page session.
const adminCookie = "handoff_admin"

// AdminPages returns the operator's page (/admin) with the page family's
// headers and cross-site protection.
func (s *Server) AdminPages() http.Handler {
	mux := http.NewServeMux()
	s.routeAdminPage(mux)
	mux.HandleFunc("/", s.pageNotFound)
	return pages.Headers(pages.Protect(mux))
}

func (s *Server) routeAdminPage(mux *http.ServeMux) {
	mux.HandleFunc("/admin", s.pageMethod(http.MethodGet, s.getAdminPage))
	mux.HandleFunc("/admin/login", s.pageMethod(http.MethodPost, s.postAdminLogin))
	mux.HandleFunc("/admin/logout", s.pageMethod(http.MethodPost, s.postAdminLogout))
}

// pageMethod serves one method (GET also answers HEAD); another is a 405
// page.
func (s *Server) pageMethod(method string, h http.HandlerFunc) http.HandlerFunc {
	return methodsWith(map[string]http.HandlerFunc{method: h}, s.pageError)
}

// session returns the request's valid session value, or "".
func (s *Server) session(r *http.Request) string {
	c, err := r.Cookie(adminCookie)
	if err != nil || !s.App.AdminSession(r.Context(), c.Value) {
		return ""
	}
	return c.Value
}

func (s *Server) getAdminPage(w http.ResponseWriter, r *http.Request) {
	s.renderAdmin(w, r, s.session(r), r.URL.Query().Get("notice"), http.StatusOK)
}

func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, session, notice string, status int) {
	v := pages.AdminView{}
	if session != "" {
		var err error
		if v, err = s.App.AdminDashboard(r.Context()); err != nil {
			s.pageError(w, r, err)
			return
		}
		notice = ""
	}
	if notice != "bad-token" && notice != "signed-out" {
		notice = ""
	}
	v.Notice = notice
	token, err := s.App.AdminFormToken(r.Context(), session)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v.CSRFToken = token
	w.WriteHeader(status)
	if err := pages.RenderAdmin(w, v); err != nil {
		s.logFailure(r, "render the operator's page", err)
	}
}

// readAdminForm reads a small form of the operator's page.
func readAdminForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, problem.Errorf(problem.UnsupportedMedia, "Send the form as application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		return nil, problem.Errorf(problem.Malformed, "The form cannot be read.")
	}
	return r.PostForm, nil
}

func (s *Server) postAdminLogin(w http.ResponseWriter, r *http.Request) {
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if !s.App.CheckAdminForm(r.Context(), "", f.Get("csrf")) {
		s.pageError(w, r, problem.Errorf(problem.Forbidden, "The form has expired: reload /admin and sign in again."))
		return
	}
	value, exp, err := s.App.AdminSignIn(r.Context(), f.Get("token"))
	if problem.Is(err, problem.Unauthorized) {
		s.Log.InfoContext(r.Context(), "operator sign-in refused")
		s.renderAdmin(w, r, "", "bad-token", http.StatusUnauthorized)
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: adminCookie, Value: value, Path: "/admin", Expires: exp, MaxAge: int(app.AdminSessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookies(),
	})
	s.Log.InfoContext(r.Context(), "operator signed in")
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

func (s *Server) postAdminLogout(w http.ResponseWriter, r *http.Request) {
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if session := s.session(r); session != "" && !s.App.CheckAdminForm(r.Context(), session, f.Get("csrf")) {
		s.pageError(w, r, problem.Errorf(problem.Forbidden, "The form has expired: reload /admin and sign in again."))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: adminCookie, Value: "", Path: "/admin", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookies(),
	})
	http.Redirect(w, r, "/admin?notice=signed-out", http.StatusSeeOther)
}

// secureCookies is true unless the stack's links point at this machine over
// plain http (the local stack).
func (s *Server) secureCookies() bool {
	return strings.HasPrefix(s.App.Config.PublicURL, "https://")
}
