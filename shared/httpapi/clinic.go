package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/session"
)

// clinicCookie holds a staff member's session on the clinic's pages.
const clinicCookie = "handoff_clinic"

// landingCookie carries the session a SMART launch opened to the page it
// lands on (GET /clinic/new), once, within two minutes. The launch ends on
// handoff's pages through a redirect chain the EHR's site started, and a
// browser sends no SameSite=Strict cookie on such a chain: this one is
// SameSite=Lax, on that one path, for that one page. Once there, the
// clinician is on handoff's own site, and the Strict session cookie goes
// with every request from it.
const (
	landingCookie = "handoff_clinic_landing"
	landingTTL    = 2 * time.Minute
)

// LandingCookie is the Lax, one-page cookie a SMART launch's callback sets
// beside the session cookie (see landingCookie).
func LandingCookie(value string, secure bool) *http.Cookie {
	return &http.Cookie{Name: landingCookie, Value: value, Path: "/clinic/new", MaxAge: int(landingTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure}
}

// embedCookie holds the session of a SMART launch the EHR opened inside a
// frame of its own page: a cross-site context, where the browser sends
// neither the Strict session cookie nor the Lax landing cookie. It is
// partitioned (session.PartitionedCookie): kept under the EHR's site and
// sent under no other top-level site. Its session (room.Staff.Embedded)
// reaches the launch's form, the referral made from it, and that
// referral's QR code and link: the pages embeddedPage serves, which only
// the clinic's registered EHR origins may frame.
const embedCookie = "handoff_clinic_embed"

// EmbeddedCookie is the cookie of the session an embedded launch's
// callback opens (see embedCookie).
func EmbeddedCookie(value string, exp time.Time) *http.Cookie {
	return session.PartitionedCookie(embedCookie, "/clinic", value, exp)
}

// The forms of the clinic's pages are bound to these names (and, signed in,
// to the session): the sign-in page's, and each one-time link's.
const (
	clinicForm = "clinic"
	linkForm   = "staff-link"
)

// Clinic returns the clinic's pages' handler (/clinic, /s/{token},
// /q/{token}) with the page family's headers and cross-site protection: the
// clinic function's.
func (s *Server) Clinic() http.Handler {
	mux := http.NewServeMux()
	s.routeClinic(mux)
	mux.HandleFunc("/", s.pageNotFound)
	return pages.Headers(pages.Protect(mux))
}

func isClinicPage(p string) bool {
	return p == "/clinic" || strings.HasPrefix(p, "/clinic/") || strings.HasPrefix(p, "/s/") || strings.HasPrefix(p, "/q/")
}

func (s *Server) routeClinic(mux *http.ServeMux) {
	post := func(h http.HandlerFunc) http.HandlerFunc { return s.pageMethod(http.MethodPost, h) }
	mux.HandleFunc("/clinic", s.pageMethod(http.MethodGet, s.getClinic))
	mux.HandleFunc("/clinic/signin-link", post(s.postSignInLink))
	mux.HandleFunc("/clinic/passkey/options", post(s.postSignInOptions))
	mux.HandleFunc("/clinic/passkey", post(s.postSignIn))
	mux.HandleFunc("/clinic/logout", post(s.postClinicLogout))
	mux.HandleFunc("/clinic/new", s.pageMethod(http.MethodGet, s.getClinicForm))
	mux.HandleFunc("/clinic/referrals", post(s.postClinicReferral))
	mux.HandleFunc("/clinic/referrals/{id}", s.pageMethod(http.MethodGet, s.getClinicReferral))
	mux.HandleFunc("/clinic/referrals/{id}/qr", post(s.postNewQR))
	mux.HandleFunc("/clinic/referrals/{id}/send", post(s.postSendLink))
	mux.HandleFunc("/s/{token}", s.pageMethods(s.getStaffLink, s.postStaffLink))
	mux.HandleFunc("/s/{token}/passkey/options", post(s.postRegisterOptions))
	mux.HandleFunc("/s/{token}/passkey", post(s.postRegister))
	mux.HandleFunc("/q/{token}", s.pageMethod(http.MethodGet, s.getQR))
}

// staff returns the signed-in staff member, or answers with the sign-in
// page (a GET) or a 401 page and returns false.
func (s *Server) staff(w http.ResponseWriter, r *http.Request) (room.Staff, bool) {
	return s.staffFrom(w, r, clinicCookie)
}

// embeddedPage is staff for a page an embedded launch's session may
// reach too (its form, its referral, that referral's QR code and link):
// the session cookie, else the embedded one. An embedded session's page
// may be framed by the clinic's registered EHR origins.
func (s *Server) embeddedPage(w http.ResponseWriter, r *http.Request) (room.Staff, bool) {
	return s.staffFrom(w, r, clinicCookie, embedCookie)
}

// staffFrom is staff reading the session from the cookies named, in
// order: the first that names a live session is used. A landing cookie
// used is dropped. An embedded session counts only from the embedded
// cookie, and any other only from another cookie; an embedded session's
// page is made frameable by the clinic's EHR (pages.FramedBy).
func (s *Server) staffFrom(w http.ResponseWriter, r *http.Request, names ...string) (room.Staff, bool) {
	for _, name := range names {
		c, err := r.Cookie(name)
		if err != nil {
			continue
		}
		st, err := s.Room.Session(r.Context(), c.Value)
		if err == nil && st.Embedded != (name == embedCookie) {
			continue
		}
		if err == nil && st.Embedded {
			clinic, err := s.App.Clinic(r.Context(), st.Member.ClinicID)
			if err != nil {
				s.pageError(w, r, err)
				return room.Staff{}, false
			}
			pages.FramedBy(w.Header(), clinic.SMARTFrameOrigins)
			return st, true
		}
		if err == nil {
			if name == landingCookie {
				gone := LandingCookie("", s.secureCookies())
				gone.MaxAge = -1
				http.SetCookie(w, gone)
			}
			return st, true
		}
		if !problem.Is(err, problem.Unauthorized) {
			s.pageError(w, r, err)
			return room.Staff{}, false
		}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.renderSignIn(w, r, r.URL.Query().Get("notice"), http.StatusOK)
		return room.Staff{}, false
	}
	// A form posted without a live session (signed out, or the session
	// ended meanwhile): 401, with the sign-in page and what happened.
	s.renderSignIn(w, r, pages.NoticeClinicSignInAgain, http.StatusUnauthorized)
	return room.Staff{}, false
}

// shared is what every signed-in page shows.
func (s *Server) shared(r *http.Request, st room.Staff, path string) (pages.ClinicPage, error) {
	token, err := s.Room.Sessions.FormToken(r.Context(), clinicForm, st.SessionHash)
	if err != nil {
		return pages.ClinicPage{}, err
	}
	c, err := s.App.Clinic(r.Context(), st.Member.ClinicID)
	if err != nil {
		return pages.ClinicPage{}, err
	}
	return pages.ClinicPage{
		Lang: pages.RequestLang(r, ""), ClinicName: c.Name, StaffName: st.Member.Name, CSRFToken: token, Path: path,
		Notice: r.URL.Query().Get("notice"), Embedded: st.Embedded,
	}, nil
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, notice string, status int) {
	token, err := s.Room.Sessions.FormToken(r.Context(), clinicForm, "")
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	switch notice {
	case pages.NoticeClinicSignInSent, pages.NoticeClinicSignedOut, pages.NoticeClinicRefused, pages.NoticeClinicTooMany, pages.NoticeClinicSignInAgain:
	default:
		notice = ""
	}
	v := pages.ClinicSignInView{ClinicPage: pages.ClinicPage{Lang: pages.RequestLang(r, ""), CSRFToken: token, Path: "/clinic", Notice: notice}}
	var buf bytes.Buffer
	if err := pages.RenderClinicSignIn(&buf, v); err != nil {
		s.pageError(w, r, err)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// checkForm checks a signed-in page's anti-CSRF token.
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request, st room.Staff, got string) bool {
	if s.Room.Sessions.CheckForm(r.Context(), clinicForm, st.SessionHash, got) {
		return true
	}
	s.pageError(w, r, problem.Errorf(problem.Forbidden, "the form has expired"))
	return false
}

func (s *Server) getClinic(w http.ResponseWriter, r *http.Request) {
	st, ok := s.staff(w, r)
	if !ok {
		return
	}
	p, err := s.shared(r, st, "/clinic")
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v, err := s.Room.List(r.Context(), st, r.URL.Query().Get("before"), p.Lang)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v.ClinicPage = p
	v.Notice = ""
	s.render(w, r, func(b *bytes.Buffer) error { return pages.RenderClinicList(b, v) })
}

// source is the client's address, for the sign-in links' rate limit.
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) postSignInLink(w http.ResponseWriter, r *http.Request) {
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if !s.Room.Sessions.CheckForm(r.Context(), clinicForm, "", f.Get("csrf")) {
		s.pageError(w, r, problem.Errorf(problem.Forbidden, "the form has expired"))
		return
	}
	lang := pages.RequestLang(r, "")
	err = s.Room.RequestSignInLink(r.Context(), f.Get("email"), source(r), lang)
	if problem.Is(err, problem.TooManyRequests) {
		s.Log.InfoContext(r.Context(), "sign-in links refused: too many")
		s.renderSignIn(w, r, pages.NoticeClinicTooMany, http.StatusTooManyRequests)
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	seeOther(w, r, "/clinic", explicitLang(r), pages.NoticeClinicSignInSent)
}

// ceremonyJSON answers a ceremony's step: JSON, or problem+json.
func (s *Server) ceremonyJSON(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// ceremonyForm checks a ceremony request's anti-CSRF header (the page's
// form token: form, bound to bind) and reads its answer, when it has one.
func (s *Server) ceremonyForm(w http.ResponseWriter, r *http.Request, form, bind string, answer *room.Answer) bool {
	if !s.Room.Sessions.CheckForm(r.Context(), form, bind, r.Header.Get("X-CSRF-Token")) {
		s.fail(w, r, problem.Errorf(problem.Forbidden, "the page has expired: reload it"))
		return false
	}
	if s.Room.Passkeys == nil {
		s.fail(w, r, problem.Errorf(problem.NotFound, "no passkeys here"))
		return false
	}
	if answer == nil {
		return true
	}
	b, err := readBody(w, r, 16<<10)
	if err == nil && json.Unmarshal(b, answer) != nil {
		err = problem.Errorf(problem.Malformed, "the answer is not JSON")
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

func (s *Server) postSignInOptions(w http.ResponseWriter, r *http.Request) {
	if !s.ceremonyForm(w, r, clinicForm, "", nil) {
		return
	}
	c, err := s.Room.BeginSignIn(r.Context())
	s.ceremonyJSON(w, r, c, err)
}

func (s *Server) postSignIn(w http.ResponseWriter, r *http.Request) {
	var a room.Answer
	if !s.ceremonyForm(w, r, clinicForm, "", &a) {
		return
	}
	value, exp, err := s.Room.FinishSignIn(r.Context(), a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, session.Cookie(clinicCookie, "/clinic", value, exp, s.secureCookies()))
	writeJSON(w, http.StatusOK, map[string]string{"next": "/clinic"})
}

func (s *Server) postClinicLogout(w http.ResponseWriter, r *http.Request) {
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if c, err := r.Cookie(clinicCookie); err == nil {
		if st, err := s.Room.Session(r.Context(), c.Value); err == nil {
			if !s.checkForm(w, r, st, f.Get("csrf")) {
				return
			}
			if err := s.Room.SignOut(r.Context(), c.Value); err != nil {
				s.pageError(w, r, err)
				return
			}
			s.Log.InfoContext(r.Context(), "staff signed out", "clinic", st.Member.ClinicID, "staff", st.Member.ID)
		}
	}
	http.SetCookie(w, session.Clear(clinicCookie, "/clinic", s.secureCookies()))
	seeOther(w, r, "/clinic", explicitLang(r), pages.NoticeClinicSignedOut)
}

func (s *Server) getClinicForm(w http.ResponseWriter, r *http.Request) {
	st, ok := s.staffFrom(w, r, clinicCookie, landingCookie, embedCookie)
	if !ok {
		return
	}
	if st.Embedded && st.Launch == nil && st.Referral != "" {
		// The launch's referral is made: its page is this session's.
		seeOther(w, r, "/clinic/referrals/"+st.Referral, explicitLang(r), "")
		return
	}
	p, err := s.shared(r, st, "/clinic/new")
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	key, _ := session.Token()
	v := pages.ClinicFormView{ClinicPage: p, FormKey: key}
	v.Notice = ""
	if f, ok := room.LaunchForm(st); ok {
		v.Values, v.Notice = f, pages.NoticeClinicFromEHR
	}
	s.render(w, r, func(b *bytes.Buffer) error { return pages.RenderClinicForm(b, v) })
}

func (s *Server) postClinicReferral(w http.ResponseWriter, r *http.Request) {
	st, ok := s.embeddedPage(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		s.pageError(w, r, problem.Errorf(problem.UnsupportedMedia, "send the form"))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, problem.Errorf(problem.Malformed, "the form cannot be read"))
		return
	}
	f := r.PostForm
	if !s.checkForm(w, r, st, f.Get("csrf")) {
		return
	}
	values := pages.ClinicForm{
		GivenName: f.Get("given_name"), Email: f.Get("email"), Phone: f.Get("phone"), Language: f.Get("language"),
		PostalCode: f.Get("postal_code"), Topic: f.Get("topic"), Formats: f["format"], Spirituality: f.Get("spirituality"),
		Accessibility: f["accessibility"],
	}
	id, err := s.Room.Refer(r.Context(), st, intake.Form{
		GivenName: values.GivenName, Email: values.Email, Phone: values.Phone, Language: values.Language,
		PostalCode: values.PostalCode, Topic: values.Topic, Formats: values.Formats, Spirituality: values.Spirituality,
		Accessibility: values.Accessibility,
	}, f.Get("form_key"))
	var pe *problem.Error
	if errors.As(err, &pe) && pe.Code == problem.Invalid {
		p, err := s.shared(r, st, "/clinic/new")
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		p.Notice = pages.NoticeClinicFixFields
		v := pages.ClinicFormView{ClinicPage: p, FormKey: f.Get("form_key"), Values: values, Errors: pages.ClinicFormErrors(pe.Fields)}
		if !validKey(v.FormKey) {
			v.FormKey, _ = session.Token()
		}
		var buf bytes.Buffer
		if err := pages.RenderClinicForm(&buf, v); err != nil {
			s.pageError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write(buf.Bytes())
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	seeOther(w, r, "/clinic/referrals/"+id, explicitLang(r), "")
}

func validKey(k string) bool { return len(k) == 43 && !strings.ContainsAny(k, "+/=") }

func (s *Server) getClinicReferral(w http.ResponseWriter, r *http.Request) {
	st, ok := s.embeddedPage(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	p, err := s.shared(r, st, "/clinic/referrals/"+url.PathEscape(id))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v, err := s.Room.Referral(r.Context(), st, id, p.Lang)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	switch p.Notice {
	case pages.NoticeClinicLinkSent, pages.NoticeClinicNotAwaiting, pages.NoticeClinicNewQR:
	default:
		p.Notice = ""
	}
	v.ClinicPage = p
	s.render(w, r, func(b *bytes.Buffer) error { return pages.RenderClinicReferral(b, v) })
}

// staffForm reads a signed-in page's small form and checks its anti-CSRF
// token; on failure it has answered and returns false.
func (s *Server) staffForm(w http.ResponseWriter, r *http.Request) (room.Staff, bool) {
	st, ok := s.embeddedPage(w, r)
	if !ok {
		return st, false
	}
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return st, false
	}
	return st, s.checkForm(w, r, st, f.Get("csrf"))
}

func (s *Server) postNewQR(w http.ResponseWriter, r *http.Request) {
	st, ok := s.staffForm(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	notice := pages.NoticeClinicNewQR
	if err := s.Room.NewQR(r.Context(), st, id); problem.Is(err, problem.Conflict) {
		notice = pages.NoticeClinicNotAwaiting
	} else if err != nil {
		s.pageError(w, r, err)
		return
	}
	seeOther(w, r, "/clinic/referrals/"+id, explicitLang(r), notice)
}

func (s *Server) postSendLink(w http.ResponseWriter, r *http.Request) {
	st, ok := s.staffForm(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	notice, err := s.Room.SendLink(r.Context(), st, id, r.PostForm.Get("channel"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	seeOther(w, r, "/clinic/referrals/"+id, explicitLang(r), notice)
}

func (s *Server) getStaffLink(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	l, err := s.Room.OpenLink(r.Context(), token)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	csrf, err := s.Room.Sessions.FormToken(r.Context(), linkForm, token)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := pages.ClinicLinkView{
		ClinicPage: pages.ClinicPage{Lang: pages.RequestLang(r, ""), CSRFToken: csrf, Path: "/s/" + token},
		Invite:     l.Kind == "invite", ActionURL: "/s/" + token, Name: l.Member.Name, Clinic: l.Clinic,
	}
	s.render(w, r, func(b *bytes.Buffer) error { return pages.RenderClinicLink(b, v) })
}

// postStaffLink signs in with a sign-in link, once.
func (s *Server) postStaffLink(w http.ResponseWriter, r *http.Request) {
	f, err := readAdminForm(w, r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	token := r.PathValue("token")
	if !s.Room.Sessions.CheckForm(r.Context(), linkForm, token, f.Get("csrf")) {
		s.pageError(w, r, problem.Errorf(problem.Forbidden, "the form has expired"))
		return
	}
	value, exp, err := s.Room.SignInByLink(r.Context(), token)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.SetCookie(w, session.Cookie(clinicCookie, "/clinic", value, exp, s.secureCookies()))
	seeOther(w, r, "/clinic", explicitLang(r), "")
}

func (s *Server) postRegisterOptions(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if !s.ceremonyForm(w, r, linkForm, token, nil) {
		return
	}
	c, err := s.Room.BeginRegistration(r.Context(), token)
	s.ceremonyJSON(w, r, c, err)
}

func (s *Server) postRegister(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	var a room.Answer
	if !s.ceremonyForm(w, r, linkForm, token, &a) {
		return
	}
	value, exp, err := s.Room.FinishRegistration(r.Context(), token, a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, session.Cookie(clinicCookie, "/clinic", value, exp, s.secureCookies()))
	writeJSON(w, http.StatusOK, map[string]string{"next": "/clinic"})
}

// getQR opens a QR link, once: 303 to the patient's consent page. A HEAD
// (a link preview) opens nothing and learns nothing.
func (s *Server) getQR(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	path, err := s.Room.OpenQR(r.Context(), r.PathValue("token"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}
