package apptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/webhook"
)

// referralFor returns a native referral for a patient with a unique email.
func referralFor(email, family string) []byte {
	return []byte(strings.NewReplacer("ana.intake@example.org", email, "Diaz", family).Replace(nativeReferral))
}

// world is a harness with a clinic and three groups near the patient (94110).
type world struct {
	*apptest.Harness
	clinic apptest.Clinic
	groups []directory.Group
}

func newWorld(t testing.TB, callback string, opts ...apptest.Option) *world {
	h := apptest.New(t, opts...)
	w := &world{Harness: h, clinic: h.NewClinic("lakeside", callback)}
	for i, id := range []string{"mission-a", "mission-b", "mission-c"} {
		g := apptest.SampleGroup(id, 37.7599+float64(i)*0.002, -122.4148)
		h.PutGroup(g, id)
		w.groups = append(w.groups, g)
	}
	return w
}

// refer sends a referral and returns its id and the consent link.
func (w *world) refer(t testing.TB, email string) (string, string) {
	t.Helper()
	st, b := w.Refer(w.clinic, "application/json", referralFor(email, "Diaz"))
	if st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	var r struct{ ID string }
	_ = json.Unmarshal(b, &r)
	w.Settle()
	mails := w.MailsTo(email)
	if len(mails) != 1 {
		t.Fatalf("%d consent emails, want 1", len(mails))
	}
	return r.ID, w.Link(mails[0], "c")
}

func (w *world) confirm(t testing.TB, link, mode string, groups ...string) {
	t.Helper()
	st, loc := w.Form(link, url.Values{"action": {"confirm"}, "mode": {mode}, "groups": groups})
	if st != http.StatusSeeOther || !strings.Contains(loc, "notice=confirmed") {
		t.Fatalf("confirm: %d %s", st, loc)
	}
	w.Settle()
}

func (w *world) groupLink(t *testing.T, g directory.Group, nth int) string {
	t.Helper()
	mails := w.MailsTo(g.Contact.Email)
	if len(mails) < nth {
		t.Fatalf("group %s got %d emails, want at least %d", g.ID, len(mails), nth)
	}
	return w.Link(mails[nth-1], "g")
}

func (w *world) answer(t *testing.T, link string, fields url.Values) {
	t.Helper()
	st, _ := w.Form(link, fields)
	if st != http.StatusSeeOther {
		t.Fatalf("group answer %v: %d", fields, st)
	}
	w.Settle()
}

func TestIntroduceToConnected(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "p1@patient.example")
	st, _, page := w.Do(http.MethodGet, link, nil, nil)
	if st != 200 || !strings.Contains(string(page), `value="mission-a"`) {
		t.Fatalf("consent page %d does not offer the nearby groups", st)
	}
	w.confirm(t, link, "introduce", "mission-a", "mission-b")
	if v := w.Status(w.clinic, id); v.Status != "routed" || len(v.Routes) != 1 || v.Routes[0].Status != "notified" {
		t.Fatalf("after confirm: %+v", v)
	}
	receipt := w.MailsTo("p1@patient.example")
	if len(receipt) != 2 {
		t.Fatalf("patient got %d emails, want the consent link and a receipt", len(receipt))
	}
	g := w.groupLink(t, w.groups[0], 1)
	notice := w.MailsTo(w.groups[0].Contact.Email)[0]
	body := notice.Body.Text + notice.Body.HTML
	if !strings.Contains(body, "Ana") || !strings.Contains(body, "p1@patient.example") {
		t.Fatalf("the group notice lacks what the patient agreed to share")
	}
	for _, s := range []string{"Diaz", "F10", "alcohol", "+14155550100"} {
		if strings.Contains(apptest.Redact(body), s) { // a random link token may spell "F10"
			t.Errorf("the group notice carries %q, which the patient did not agree to share", s)
		}
	}
	w.answer(t, g, url.Values{"action": {"accept"}})
	if v := w.Status(w.clinic, id); v.Status != "accepted" {
		t.Fatalf("after accept: %s", v.Status)
	}
	w.answer(t, g, url.Values{"action": {"connected"}})
	v := w.Status(w.clinic, id)
	if v.Status != "connected" || v.Routes[0].Status != "connected" {
		t.Fatalf("after connected: %+v", v)
	}
	var seen []string
	for _, e := range v.Timeline {
		seen = append(seen, string(e.Status))
	}
	if got := strings.Join(seen, ","); got != "awaiting-consent,consented,routed,accepted,connected" {
		t.Fatalf("timeline %s", got)
	}
	if n := len(w.MailsTo("rivera@clinic.example")); n != 2 {
		t.Fatalf("clinician got %d emails, want 2 (accepted, connected)", n)
	}
	// A second confirm changes nothing and emits nothing.
	before := len(w.Mails())
	st, _ = w.Form(link, url.Values{"action": {"confirm"}, "groups": {"mission-c"}})
	w.Settle()
	if st != http.StatusSeeOther || len(w.Mails()) != before || w.Status(w.clinic, id).Status != "connected" {
		t.Fatal("a repeated confirm changed something")
	}
}

func TestSelfMode(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "p2@patient.example")
	w.confirm(t, link, "self", "mission-b")
	if v := w.Status(w.clinic, id); v.Status != "shared-with-patient" || len(v.Routes) != 0 {
		t.Fatalf("self mode: %+v", v)
	}
	mails := w.MailsTo("p2@patient.example")
	var details string
	for _, m := range mails {
		details += m.Body.Text
	}
	if !strings.Contains(details, "Group mission-b") || !strings.Contains(details, w.groups[1].Contact.Email) {
		t.Fatalf("the patient did not get the group's details")
	}
	for _, g := range w.groups {
		if n := len(w.MailsTo(g.Contact.Email)); n != 0 {
			t.Fatalf("group %s was emailed in self mode", g.ID)
		}
	}
}

func TestDeclineMovesOnThenUnmatched(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "p3@patient.example")
	w.confirm(t, link, "introduce", "mission-a", "mission-b")
	w.answer(t, w.groupLink(t, w.groups[0], 1), url.Values{"action": {"decline"}, "reason": {"not-a-fit"}})
	v := w.Status(w.clinic, id)
	if v.Status != "routed" || len(v.Routes) != 2 || v.Routes[0].Reason != "not-a-fit" || v.Routes[1].Status != "notified" {
		t.Fatalf("after the first decline: %+v", v)
	}
	w.answer(t, w.groupLink(t, w.groups[1], 1), url.Values{"action": {"decline"}, "reason": {"no-capacity"}})
	if v := w.Status(w.clinic, id); v.Status != "unmatched" {
		t.Fatalf("after every group declined: %s", v.Status)
	}
}

func TestGroupTimeoutMovesOn(t *testing.T) {
	w := newWorld(t, "", func(c *config.Config) { c.GroupResponseTimeout = time.Hour })
	id, link := w.refer(t, "p4@patient.example")
	w.confirm(t, link, "introduce", "mission-a", "mission-c")
	w.Advance(59 * time.Minute)
	w.Settle()
	if v := w.Status(w.clinic, id); len(v.Routes) != 1 {
		t.Fatalf("moved on before the deadline: %+v", v.Routes)
	}
	w.Advance(2 * time.Minute)
	w.Settle()
	v := w.Status(w.clinic, id)
	if len(v.Routes) != 2 || v.Routes[0].Status != "timed-out" || v.Routes[1].Group.ID != "mission-c" {
		t.Fatalf("after the deadline: %+v", v.Routes)
	}
	if n := len(w.MailsTo(w.groups[2].Contact.Email)); n != 1 {
		t.Fatalf("the next group got %d notices", n)
	}
	// The timed-out group's link no longer shows the patient.
	_, _, page := w.Do(http.MethodGet, w.groupLink(t, w.groups[0], 1), nil, nil)
	if strings.Contains(string(page), "p4@patient.example") {
		t.Fatal("a timed-out route still shows the patient's contact")
	}
}

func TestCancelAfterRoutingTellsTheGroup(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "p5@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	st, _, b := w.Do(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+id, nil, http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}})
	if st != 200 {
		t.Fatalf("cancel: %d %s", st, b)
	}
	w.Settle()
	mails := w.MailsTo(w.groups[0].Contact.Email)
	if len(mails) != 2 {
		t.Fatalf("the group got %d emails, want the notice and the withdrawal", len(mails))
	}
	// The withdrawal's link token is random: it may spell "Ana" by chance.
	if withdrawal := apptest.Redact(mails[1].Body.Text); strings.Contains(withdrawal, "p5@patient.example") || strings.Contains(withdrawal, "Ana") {
		t.Fatal("the withdrawal names the patient")
	}
	st, _, _ = w.Do(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+id, nil, http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}})
	if st != http.StatusConflict {
		t.Fatalf("cancelling twice: %d", st)
	}
}

func TestRevokeStopsDisclosure(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "p6@patient.example")
	w.confirm(t, link, "introduce", "mission-a", "mission-b")
	st, loc := w.Form(link, url.Values{"action": {"revoke"}})
	if st != http.StatusSeeOther || !strings.Contains(loc, "notice=revoked") {
		t.Fatalf("revoke: %d %s", st, loc)
	}
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "revoked" || v.Routes[0].Status != "withdrawn" {
		t.Fatalf("after revoke: %+v", v)
	}
	_, _, page := w.Do(http.MethodGet, w.groupLink(t, w.groups[0], 1), nil, nil)
	if strings.Contains(string(page), "p6@patient.example") {
		t.Fatal("the group page still shows the contact after the patient revoked")
	}
	if n := len(w.MailsTo(w.groups[1].Contact.Email)); n != 0 {
		t.Fatal("the second group was approached after the patient revoked")
	}
}

func TestDeclineAndExpiry(t *testing.T) {
	w := newWorld(t, "", func(c *config.Config) { c.ConsentTTL = time.Hour })
	id, link := w.refer(t, "p7@patient.example")
	st, loc := w.Form(link, url.Values{"action": {"decline"}})
	if st != http.StatusSeeOther || !strings.Contains(loc, "notice=declined") {
		t.Fatalf("decline: %d %s", st, loc)
	}
	w.Settle()
	if v := w.Status(w.clinic, id); v.Status != "declined" {
		t.Fatalf("after decline: %s", v.Status)
	}
	id2, link2 := w.refer(t, "p8@patient.example")
	w.Advance(61 * time.Minute)
	w.Settle()
	if v := w.Status(w.clinic, id2); v.Status != "expired" {
		t.Fatalf("after the consent TTL: %s", v.Status)
	}
	if st, _, _ := w.Do(http.MethodGet, link2, nil, nil); st != http.StatusGone {
		t.Fatalf("expired link: %d, want 410", st)
	}
	if st, _, _ := w.Do(http.MethodGet, "/c/"+strings.Repeat("A", 43), nil, nil); st != http.StatusNotFound {
		t.Fatalf("unknown link: %d, want 404", st)
	}
}

func TestNothingInReachIsUnmatched(t *testing.T) {
	h := apptest.New(t)
	c := h.NewClinic("lakeside", "")
	st, b := h.Refer(c, "application/json", referralFor("p9@patient.example", "Diaz"))
	if st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	var r struct{ ID string }
	_ = json.Unmarshal(b, &r)
	h.Settle()
	if v := h.Status(c, r.ID); v.Status != "unmatched" {
		t.Fatalf("status %s, want unmatched", v.Status)
	}
	mails := h.MailsTo("p9@patient.example")
	if len(mails) != 1 {
		t.Fatalf("%d emails", len(mails))
	}
	st, _, page := h.Do(http.MethodGet, h.Link(mails[0], "c"), nil, nil)
	if st != 200 || !strings.Contains(string(page), "988") || strings.Contains(string(page), `value="confirm"`) {
		t.Fatalf("the unmatched page (%d) should offer the crisis line and nothing to confirm", st)
	}
}

// TestStatusWebhooks: signed, in order per referral, retried after a 500.
func TestStatusWebhooks(t *testing.T) {
	var (
		mu       sync.Mutex
		got      []string
		failOnce = true
		secret   []byte
	)
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if secret != nil {
			v := webhook.Verifier{Now: time.Now, Tolerance: 24 * time.Hour}
			if err := v.Verify(body, r.Header, secret); err != nil {
				t.Errorf("status webhook signature: %v", err)
			}
		}
		if failOnce {
			failOnce = false
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		var msg struct {
			Type string
			Data struct{ Status string }
		}
		_ = json.Unmarshal(body, &msg)
		got = append(got, msg.Data.Status)
	}))
	defer hook.Close()
	w := newWorld(t, hook.URL)
	key, err := webhook.ParseSecret(w.clinic.CallbackSecret)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = key
	mu.Unlock()
	_, link := w.refer(t, "p10@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	for range 10 { // retries are scheduled with backoff: move time past them
		w.Advance(time.Minute)
		w.Settle()
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "awaiting-consent,consented,routed" {
		t.Fatalf("status webhooks received %v", got)
	}
}

// TestDatesInLocalTime checks that the dates people read are in their local
// time: the patient's (taken from the groups offered near them) in the
// consent email, page and receipt, the group's in its notice and on its
// page — never in UTC when a zone is known.
func TestDatesInLocalTime(t *testing.T) {
	w := newWorld(t, "")
	_, link := w.refer(t, "tz@patient.example")
	pacific := regexp.MustCompile(`\b(PST|PDT)\b`)
	// "UTC" as a word: a link token or a form's random token may spell it
	// inside itself by chance (a page or email carries several).
	utc := regexp.MustCompile(`\bUTC\b`)
	check := func(what, text string) {
		t.Helper()
		if !pacific.MatchString(text) || utc.MatchString(apptest.Redact(text)) {
			t.Errorf("%s does not show Pacific time: %q", what, excerpt(text, pacific))
		}
	}
	check("the consent email", w.MailsTo("tz@patient.example")[0].Body.Text)
	_, _, page := w.Do(http.MethodGet, link, nil, nil)
	check("the consent page", string(page))
	w.confirm(t, link, "introduce", "mission-a")
	check("the receipt", w.MailsTo("tz@patient.example")[1].Body.Text)
	check("the group notice", w.MailsTo(w.groups[0].Contact.Email)[0].Body.Text)
	_, _, page = w.Do(http.MethodGet, w.groupLink(t, w.groups[0], 1), nil, nil)
	check("the group page", string(page))
}

// excerpt returns the text around the first match of re, or its start.
func excerpt(s string, re *regexp.Regexp) string {
	i := 0
	if loc := re.FindStringIndex(s); loc != nil {
		i = max(0, loc[0]-60)
	}
	return s[i:min(len(s), i+160)]
}

// TestRevokeThatStopsNothing: a revoke posted by hand where there is
// nothing to stop — before the patient answered, after they said no, once
// the referral closed after the group connected — changes nothing and says
// what really happened, in English and Spanish, instead of "saved".
func TestRevokeThatStopsNothing(t *testing.T) {
	w := newWorld(t, "")
	unanswered, linkU := w.refer(t, "revoke-early@patient.example")
	_, linkD := w.refer(t, "revoke-declined@patient.example")
	connected, linkC := w.refer(t, "revoke-late@patient.example")
	// The form's hidden fields as the pages first gave them: the
	// hand-made revoke reuses them once the page has no form.
	hidden := map[string]url.Values{}
	for _, l := range []string{linkU, linkD, linkC} {
		_, _, page := w.Do(http.MethodGet, l, nil, nil)
		hidden[l] = apptest.HiddenFields(page)
	}
	if st, loc := w.Form(linkD, url.Values{"action": {"decline"}}); st != http.StatusSeeOther || !strings.Contains(loc, "notice=declined") {
		t.Fatalf("decline: %d %s", st, loc)
	}
	w.confirm(t, linkC, "introduce", "mission-a")
	g := w.groupLink(t, w.groups[0], 1)
	w.answer(t, g, url.Values{"action": {"accept"}})
	w.answer(t, g, url.Values{"action": {"connected"}})

	for _, c := range []struct {
		name, id, link, notice, en, es string
		status                         string
	}{
		{"unanswered", unanswered, linkU, "nothing-to-stop", "nothing to stop", "no hay nada que detener", "awaiting-consent"},
		{"declined", "", linkD, "nothing-to-stop", "nothing to stop", "no hay nada que detener", ""},
		{"connected", connected, linkC, "sharing-over", "nothing more will be shared", "no se compartirá nada más", "connected"},
	} {
		var before []byte
		if c.id != "" {
			_, _, before = w.Do(http.MethodGet, "/v1/clinics/"+w.clinic.ID+"/referrals/"+c.id, nil, http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}})
		}
		mails := len(w.Mails())
		form := hidden[c.link]
		form.Set("action", "revoke")
		st, hd, _ := w.Do(http.MethodPost, c.link, []byte(form.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL},
		})
		loc := hd.Get("Location")
		if st != http.StatusSeeOther || !strings.Contains(loc, "notice="+c.notice) {
			t.Errorf("%s: revoke answered %d %s, want 303 with notice=%s", c.name, st, apptest.Redact(loc), c.notice)
			continue
		}
		w.Settle()
		if c.id != "" {
			v := w.Status(w.clinic, c.id)
			_, _, after := w.Do(http.MethodGet, "/v1/clinics/"+w.clinic.ID+"/referrals/"+c.id, nil, http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}})
			if string(v.Status) != c.status || string(after) != string(before) {
				t.Errorf("%s: the revoke changed the referral: %s\nbefore %s\nafter  %s", c.name, v.Status, before, after)
			}
		}
		if n := len(w.Mails()) - mails; n != 0 {
			t.Errorf("%s: the revoke sent %d emails", c.name, n)
		}
		for lang, want := range map[string]string{"en": c.en, "es": c.es} {
			st, _, page := w.Do(http.MethodGet, loc+"&lang="+lang, nil, nil)
			if st != http.StatusOK || !strings.Contains(string(page), want) || !strings.Contains(string(page), `role="alert"`) {
				t.Errorf("%s, %s: the page after the revoke (%d) does not say %q in an alert", c.name, lang, st, want)
			}
			for _, saved := range []string{"Your answer is saved", "Guardamos su respuesta", "Sharing is stopped", "Ya no compartimos"} {
				if strings.Contains(string(page), saved) {
					t.Errorf("%s, %s: the page after the revoke says %q", c.name, lang, saved)
				}
			}
		}
	}
	// The unanswered referral can still be answered.
	w.confirm(t, linkU, "introduce", "mission-b")
}
