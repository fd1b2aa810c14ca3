package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/outcomes"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/session"
)

// adminCookie holds the operator's page session.
const adminCookie = "handoff_admin"

// adminForm binds the operator's page forms (with the session's hash once
// signed in).
const adminForm = "admin"

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
	mux.HandleFunc("/admin/staff", s.pageMethod(http.MethodPost, s.postAdminStaff))
}

// pageMethod serves one method (GET also answers HEAD); another is a 405
// page.
func (s *Server) pageMethod(method string, h http.HandlerFunc) http.HandlerFunc {
	return methodsWith(map[string]http.HandlerFunc{method: h}, s.pageError)
}

// sessions are the server-side sessions of /admin and /clinic.
func (s *Server) sessions() *session.Manager {
	if s.Room != nil {
		return s.Room.Sessions
	}
	return room.New(s.App, nil, nil).Sessions
}

// session returns the request's live operator session's hash, or "".
func (s *Server) session(r *http.Request) string {
	c, err := r.Cookie(adminCookie)
	if err != nil {
		return ""
	}
	cur, err := s.sessions().Check(r.Context(), c.Value, s.App.AdminBind())
	if err != nil {
		if !problem.Is(err, problem.Unauthorized) {
			s.logFailure(r, "read the operator's session", err)
		}
		return ""
	}
	return cur.Hash
}

func (s *Server) getAdminPage(w http.ResponseWriter, r *http.Request) {
	s.renderAdmin(w, r, s.session(r), r.URL.Query().Get("notice"), http.StatusOK)
}

func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, session, notice string, status int) {
	v := pages.AdminView{}
	if session != "" {
		var err error
		if v, err = outcomes.New(s.App).Dashboard(r.Context()); err != nil {
			s.pageError(w, r, err)
			return
		}
		v.Staff = s.Room != nil
		if notice != "staff-invited" && notice != "staff-refused" {
			notice = ""
		}
	} else if notice != "bad-token" && notice != "signed-out" {
		notice = ""
	}
	v.Notice = notice
	token, err := s.sessions().FormToken(r.Context(), adminForm, session)
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

var errAdminFormExpired = problem.Errorf(problem.Forbidden, "The form has expired: reload /admin and sign in again.")

func (s *Server) postAdminLogin(w http.ResponseWriter, r *http.Request) {
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if !s.sessions().CheckForm(r.Context(), adminForm, "", f.Get("csrf")) {
		s.pageError(w, r, errAdminFormExpired)
		return
	}
	if err := s.App.CheckAdmin(r.Context(), f.Get("token")); err != nil {
		s.Log.InfoContext(r.Context(), "operator sign-in refused")
		s.renderAdmin(w, r, "", "bad-token", http.StatusUnauthorized)
		return
	}
	value, exp, err := s.sessions().Start(r.Context(), dynamo.Member{}, s.App.AdminBind())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.SetCookie(w, session.Cookie(adminCookie, "/admin", value, exp, s.secureCookies()))
	s.Log.InfoContext(r.Context(), "operator signed in")
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// postAdminLogout ends the session on the server — every copy of its
// cookie stops working — and drops the cookie.
func (s *Server) postAdminLogout(w http.ResponseWriter, r *http.Request) {
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if h := s.session(r); h != "" {
		if !s.sessions().CheckForm(r.Context(), adminForm, h, f.Get("csrf")) {
			s.pageError(w, r, errAdminFormExpired)
			return
		}
		c, _ := r.Cookie(adminCookie)
		if err := s.sessions().End(r.Context(), c.Value); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.Log.InfoContext(r.Context(), "operator signed out")
	}
	http.SetCookie(w, session.Clear(adminCookie, "/admin", s.secureCookies()))
	http.Redirect(w, r, "/admin?notice=signed-out", http.StatusSeeOther)
}

// postAdminStaff invites a staff member from the operator's page.
func (s *Server) postAdminStaff(w http.ResponseWriter, r *http.Request) {
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	h := s.session(r)
	if h == "" || s.Room == nil || !s.sessions().CheckForm(r.Context(), adminForm, h, f.Get("csrf")) {
		s.pageError(w, r, errAdminFormExpired)
		return
	}
	_, err = s.Room.Invite(r.Context(), f.Get("clinic"), room.Invitation{Name: f.Get("name"), Email: f.Get("email"), Language: f.Get("language")})
	switch code := problem.CodeOf(err); code {
	case "":
		http.Redirect(w, r, "/admin?notice=staff-invited", http.StatusSeeOther)
	case problem.Invalid, problem.NotFound, problem.Conflict:
		http.Redirect(w, r, "/admin?notice=staff-refused", http.StatusSeeOther)
	default:
		s.pageError(w, r, err)
	}
}

// secureCookies is true unless the stack's links point at this machine over
// plain http (the local stack).
func (s *Server) secureCookies() bool {
	return strings.HasPrefix(s.App.Config.PublicURL, "https://")
}
