package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"

	"github.com/handoff-health/handoff/shared/ical"
	"github.com/handoff-health/handoff/shared/listing"
	"github.com/handoff-health/handoff/shared/meeting"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
)

// Consent returns the patient pages' handler (/c/{token} and /assets/).
func (s *Server) Consent() http.Handler {
	mux := http.NewServeMux()
	s.routeConsent(mux)
	mux.HandleFunc("/", s.pageNotFound)
	return pages.Headers(pages.Protect(mux))
}

// Respond returns the group pages' handler (/g/{token}, and the listing
// check pages /l/{token}).
func (s *Server) Respond() http.Handler {
	mux := http.NewServeMux()
	s.routeRespond(mux)
	mux.HandleFunc("/", s.pageNotFound)
	return pages.Headers(pages.Protect(mux))
}

func (s *Server) routeConsent(mux *http.ServeMux) {
	mux.HandleFunc("/c/{token}", s.pageMethods(s.getConsent, s.postConsent))
	mux.HandleFunc("/c/{token}/meeting.ics", s.getCalendar)
	mux.Handle("/assets/", pages.AssetHandler())
}

func (s *Server) routeRespond(mux *http.ServeMux) {
	mux.HandleFunc("/g/{token}", s.pageMethods(s.getGroupPage, s.postGroupPage))
	mux.HandleFunc("/l/{token}", s.pageMethods(s.getListingPage, s.postListingPage))
}

func (s *Server) pageMethods(get, post http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			get(w, r)
		case http.MethodPost:
			post(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			s.pageError(w, r, problem.Errorf(problem.MethodNotAllowed, "method not allowed"))
		}
	}
}

func (s *Server) pageNotFound(w http.ResponseWriter, r *http.Request) {
	s.pageError(w, r, problem.Errorf(problem.NotFound, "not found"))
}

// pageError answers with a plain page that says nothing about the link.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	code := problem.CodeOf(err)
	if code == problem.Internal || code == problem.Unavailable {
		s.logFailure(r, "page failed", err)
		code = problem.CodeOf(classify(err))
	}
	status := problem.Status(code)
	switch status {
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden, http.StatusMethodNotAllowed:
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "2")
	default:
		if status < 500 {
			status = http.StatusBadRequest
		} else {
			status = http.StatusInternalServerError
		}
	}
	var buf bytes.Buffer
	pages.RenderError(&buf, pages.RequestLang(r, ""), status)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// render writes a rendered page, or a 500 page if rendering failed.
func (s *Server) render(w http.ResponseWriter, r *http.Request, fn func(*bytes.Buffer) error) {
	s.renderStatus(w, r, http.StatusOK, fn)
}

// renderStatus is render with another status (a form given back with 400).
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, fn func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := fn(&buf); err != nil {
		s.pageError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// explicitLang is a ?lang= the page's switch links set, or "".
func explicitLang(r *http.Request) string {
	switch l := r.URL.Query().Get("lang"); l {
	case "en", "es":
		return l
	}
	return ""
}

// seeOther answers a form post with a redirect to the page, carrying the notice.
func seeOther(w http.ResponseWriter, r *http.Request, path, lang, notice string) {
	q := url.Values{}
	if lang != "" {
		q.Set("lang", lang)
	}
	if notice != "" {
		q.Set("notice", notice)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func (s *Server) getConsent(w http.ResponseWriter, r *http.Request) {
	v, err := s.App.ConsentPage(r.Context(), r.PathValue("token"), explicitLang(r), r.URL.Query().Get("notice"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, func(b *bytes.Buffer) error { return pages.RenderConsent(b, v) })
}

// getCalendar serves the patient's first meeting as an iCalendar file: the
// file the plan's email carries.
func (s *Server) getCalendar(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		s.pageError(w, r, problem.Errorf(problem.MethodNotAllowed, "method not allowed"))
		return
	}
	b, err := meeting.New(s.App).Calendar(r.Context(), r.PathValue("token"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ical.ContentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+ical.FileName+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func (s *Server) postConsent(w http.ResponseWriter, r *http.Request) {
	f, err := pages.ParseConsentForm(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	token := r.PathValue("token")
	notice, err := s.App.ConsentAction(r.Context(), token, explicitLang(r), f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	seeOther(w, r, "/c/"+token, explicitLang(r), notice)
}

func (s *Server) getGroupPage(w http.ResponseWriter, r *http.Request) {
	v, err := s.App.GroupPage(r.Context(), r.PathValue("token"), explicitLang(r), r.URL.Query().Get("notice"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, func(b *bytes.Buffer) error { return pages.RenderGroup(b, v) })
}

func (s *Server) postGroupPage(w http.ResponseWriter, r *http.Request) {
	f, err := pages.ParseGroupForm(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	token := r.PathValue("token")
	notice, err := s.App.GroupAction(r.Context(), token, f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	seeOther(w, r, "/g/"+token, explicitLang(r), notice)
}

// All returns every route on one handler: the local stack's server.
func (s *Server) All() http.Handler {
	api := http.NewServeMux()
	s.routeIntake(api)
	s.routeAdmin(api)
	api.HandleFunc("/", notFound)
	pagesMux := http.NewServeMux()
	s.routeConsent(pagesMux)
	s.routeRespond(pagesMux)
	s.routeAdminPage(pagesMux)
	if s.Room != nil {
		s.routeClinic(pagesMux)
	}
	pagesMux.HandleFunc("/", s.pageNotFound)
	pageHandler := pages.Headers(pages.Protect(pagesMux))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) >= 3 && (p[:3] == "/c/" || p[:3] == "/g/" || p[:3] == "/l/") || len(p) >= 8 && p[:8] == "/assets/" || isAdminPage(p) || isClinicPage(p) {
			pageHandler.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func (s *Server) getListingPage(w http.ResponseWriter, r *http.Request) {
	v, err := listing.New(s.App).Page(r.Context(), r.PathValue("token"), explicitLang(r), r.URL.Query().Get("notice"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, func(b *bytes.Buffer) error { return pages.RenderListing(b, v) })
}

func (s *Server) postListingPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	f, err := pages.ParseListingForm(r)
	if err == nil {
		var notice string
		if notice, err = listing.New(s.App).Action(r.Context(), token, f); err == nil {
			seeOther(w, r, "/l/"+token, explicitLang(r), notice)
			return
		}
	}
	var pe *problem.Error
	switch f.Action {
	case pages.ActionListingUpdate, pages.ActionListingPause, pages.ActionHandover:
		if errors.As(err, &pe) && pe.Code == problem.Invalid {
			// The page again, with what the contact entered and what is
			// wrong with it: nothing they typed is lost, nothing changed.
			v, perr := listing.New(s.App).Page(r.Context(), token, explicitLang(r), "")
			if perr != nil {
				s.pageError(w, r, perr)
				return
			}
			v.Entered, v.Errors = &f.Entered, pages.ListingFieldErrors(f, pe.Fields)
			s.renderStatus(w, r, http.StatusBadRequest, func(b *bytes.Buffer) error { return pages.RenderListing(b, v) })
			return
		}
	}
	s.pageError(w, r, err)
}
