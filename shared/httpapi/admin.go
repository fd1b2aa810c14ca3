package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/listing"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/topics"
)

// maxImportBody bounds an import feed.
const maxImportBody = 16 << 20

// Admin returns the operator API's handler (and /healthz).
func (s *Server) Admin() http.Handler {
	mux := http.NewServeMux()
	s.routeAdmin(mux)
	mux.HandleFunc("/", notFound)
	page := s.AdminPages()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAdminPage(r.URL.Path) {
			page.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// isAdminPage reports whether a path is the operator's page's.
func isAdminPage(p string) bool { return p == "/admin" || strings.HasPrefix(p, "/admin/") }

func (s *Server) routeAdmin(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", methods(map[string]http.HandlerFunc{http.MethodGet: s.healthz}))
	mux.HandleFunc("/v1/admin/clinics", s.admin(methods(map[string]http.HandlerFunc{http.MethodPost: s.createClinic})))
	mux.HandleFunc("/v1/admin/clinics/{id}", s.admin(methods(map[string]http.HandlerFunc{http.MethodDelete: s.removeClinic})))
	mux.HandleFunc("/v1/admin/groups/import", s.admin(methods(map[string]http.HandlerFunc{http.MethodPost: s.importGroups})))
	s.routeImports(mux)
	mux.HandleFunc("/v1/admin/groups/{id}", s.admin(methods(map[string]http.HandlerFunc{
		http.MethodPut: s.putGroup, http.MethodGet: s.getGroup,
	})))
	mux.HandleFunc("/v1/admin/groups/{id}/check", s.admin(methods(map[string]http.HandlerFunc{http.MethodPost: s.checkListing})))
	mux.HandleFunc("/v1/admin/match", s.admin(methods(map[string]http.HandlerFunc{http.MethodGet: s.match})))
	mux.HandleFunc("/v1/admin/outcomes", s.admin(methods(map[string]http.HandlerFunc{http.MethodGet: s.adminOutcomes})))
	mux.HandleFunc("/v1/admin/clinics/{id}/staff", s.admin(methods(map[string]http.HandlerFunc{http.MethodPost: s.inviteStaff})))
	mux.HandleFunc("/v1/admin/clinics/{id}/staff/{staff_id}", s.admin(methods(map[string]http.HandlerFunc{http.MethodDelete: s.removeStaff})))
}

// admin requires the operator's bearer token.
func (s *Server) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.App.CheckAdmin(r.Context(), bearer(r)); err != nil {
			s.fail(w, r, err)
			return
		}
		next(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.App.Healthy(r.Context()); err != nil {
		s.fail(w, r, problem.Errorf(problem.Unavailable, "a dependency is not answering"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) createClinic(w http.ResponseWriter, r *http.Request) {
	var in app.NewClinic
	if err := decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.App.CreateClinic(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) removeClinic(w http.ResponseWriter, r *http.Request) {
	// Its staff first: the clinic's partition lists them.
	if s.Room != nil {
		if _, err := s.Room.RemoveAll(r.Context(), r.PathValue("id")); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	out, err := s.App.RemoveClinic(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// groupRequest is a listing as PUT. contact.texts may be left out: the
// stored agreement of the same contact is then kept.
type groupRequest struct {
	directory.Group
	Contact struct {
		directory.Contact
		Texts *bool `json:"texts"`
	} `json:"contact"`
}

func (s *Server) putGroup(w http.ResponseWriter, r *http.Request) {
	var req groupRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	g := req.Group
	g.Contact = req.Contact.Contact
	if req.Contact.Texts != nil {
		g.Contact.Texts = *req.Contact.Texts
	}
	id := r.PathValue("id")
	if g.ID == "" {
		g.ID = id
	}
	if g.ID != id {
		s.fail(w, r, problem.Invalidf([]problem.FieldError{{Field: "id", Detail: "must match the id in the path"}}, "the listing is not valid"))
		return
	}
	created, err := s.App.PutGroup(r.Context(), g, req.Contact.Texts == nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	got, err := s.App.Directory.GetGroup(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, adminGroup(got))
}

// groupAnswer is a listing as the admin API gives it: the listing-check
// dates are always there, null when unset, and so is contact.texts.
type groupAnswer struct {
	directory.Group
	Contact         contactAnswer `json:"contact"`
	LastConfirmedAt *time.Time    `json:"last_confirmed_at"`
	PausedUntil     *time.Time    `json:"paused_until"`
}

type contactAnswer struct {
	directory.Contact
	Texts bool `json:"texts"`
}

func adminGroup(g directory.Group) groupAnswer {
	a := groupAnswer{Group: g, Contact: contactAnswer{Contact: g.Contact, Texts: g.Contact.Texts}}
	if !g.LastConfirmedAt.IsZero() {
		a.LastConfirmedAt = &g.LastConfirmedAt
	}
	if g.TimedPause() {
		a.PausedUntil = &g.PausedUntil
	}
	return a
}

func (s *Server) checkListing(w http.ResponseWriter, r *http.Request) {
	if err := listing.New(s.App).RequestCheck(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "listing check sent"})
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	g, err := s.App.Directory.GetGroup(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminGroup(g))
}

// importOptions reads an import's options from its query.
func importOptions(q url.Values) (directory.ImportOptions, error) {
	// Naming the feed makes it the authority on its groups: those it no
	// longer carries are withdrawn, unless withdraw_missing=false.
	withdraw := q.Get("source") != ""
	switch q.Get("withdraw_missing") {
	case "":
	case "true":
		withdraw = true
	case "false":
		withdraw = false
	default:
		return directory.ImportOptions{}, problem.Invalidf([]problem.FieldError{{Field: "withdraw_missing", Detail: "must be true or false"}}, "bad withdraw_missing")
	}
	return directory.ImportOptions{
		Topic: q.Get("topic"), Fellowship: q.Get("fellowship"), ContactEmail: q.Get("contact_email"),
		Source: q.Get("source"), Timezone: q.Get("timezone"), Language: q.Get("language"),
		WithdrawMissing: withdraw,
	}, nil
}

func (s *Server) importGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	body, err := readBody(w, r, maxImportBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	opt, err := importOptions(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.App.ImportGroups(r.Context(), q.Get("format"), body, opt)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) match(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var fields []problem.FieldError
	dq := directory.Query{Now: s.App.Clock()}
	// Each topic costs a Query per cell read: only known topics, each once.
	for _, tp := range q["topic"] {
		if !topics.Valid(tp) {
			fields = append(fields, problem.FieldError{Field: "topic", Detail: "must be a topic code of the published vocabulary"})
			break
		}
		if !slices.Contains(dq.Topics, tp) {
			dq.Topics = append(dq.Topics, tp)
		}
	}
	if len(q["topic"]) == 0 {
		fields = append(fields, problem.FieldError{Field: "topic", Detail: "is required (a topic code, e.g. alcohol)"})
	}
	switch {
	case q.Get("lat") != "" || q.Get("lon") != "":
		lat, err1 := strconv.ParseFloat(q.Get("lat"), 64)
		lon, err2 := strconv.ParseFloat(q.Get("lon"), 64)
		if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			fields = append(fields, problem.FieldError{Field: "lat", Detail: "lat and lon must be decimal degrees"})
		}
		dq.Lat, dq.Lon, dq.HasLocation = lat, lon, true
	case q.Get("postal_code") != "":
		lat, lon, ok := geo.PostalCentroid(q.Get("country"), q.Get("postal_code"))
		if !ok {
			fields = append(fields, problem.FieldError{Field: "postal_code", Detail: "is not a known US ZIP code"})
		}
		dq.Lat, dq.Lon, dq.HasLocation = lat, lon, ok
		dq.Zone = geo.ZoneOfPostal(q.Get("country"), q.Get("postal_code"))
	}
	if tz := q.Get("timezone"); tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			fields = append(fields, problem.FieldError{Field: "timezone", Detail: "must be an IANA time zone such as America/Chicago"})
		}
		dq.Zone = tz
	}
	if f := q.Get("format"); f != "" {
		dq.Prefs.Formats = strings.Split(f, ",")
	}
	dq.Prefs.Spirituality = q.Get("spirituality")
	dq.Language = q.Get("preferred_language")
	if l := q.Get("language"); l != "" {
		dq.Prefs.Languages = strings.Split(l, ",")
	}
	for _, p := range []struct {
		name string
		dst  *[]string
	}{{"days", &dq.Prefs.Days}, {"times", &dq.Prefs.Times}, {"accessibility", &dq.Prefs.Accessibility}, {"audience", &dq.Prefs.Audience}} {
		if v := q.Get(p.name); v != "" {
			*p.dst = strings.Split(v, ",")
		}
	}
	dq.Limit = 3
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 50 {
			fields = append(fields, problem.FieldError{Field: "limit", Detail: "must be a whole number from 1 to 50"})
		}
		dq.Limit = n
	}
	if len(fields) > 0 {
		s.fail(w, r, problem.Invalidf(fields, "the match query is not valid"))
		return
	}
	matches, err := s.App.Directory.Match(r.Context(), dq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if matches == nil {
		matches = []directory.Match{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"matches": matches})
}

// inviteStaff adds a staff member to a clinic: 201 {"staff_id"}; the
// person gets an invitation by email.
func (s *Server) inviteStaff(w http.ResponseWriter, r *http.Request) {
	if s.Room == nil {
		notFound(w, r)
		return
	}
	var in room.Invitation
	if err := decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.Room.Invite(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"staff_id": id})
}

// removeStaff removes a staff member: their sessions end and their
// passkeys stop working. 204.
func (s *Server) removeStaff(w http.ResponseWriter, r *http.Request) {
	if s.Room == nil {
		notFound(w, r)
		return
	}
	if err := s.Room.Remove(r.Context(), r.PathValue("id"), r.PathValue("staff_id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
