package apptest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/ical"
	"github.com/handoff-health/handoff/shared/ical/icaltest"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/ses/sestest"
	"github.com/handoff-health/handoff/shared/textlimit"
)

// The first meeting, lived end to end on the harness's clock: the notice
// by email and text, the first-contact window, the group's accept choosing
// a meeting, the plan with its calendar file, the one reminder, the
// check-in and the word on the meeting.

// la is the zone the test groups meet in.
var la = mustZone("America/Los_Angeles")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// pdt reads a wall time in Los Angeles.
func pdt(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, la)
	if err != nil {
		panic(err)
	}
	return t
}

// monday is a Monday morning in Los Angeles, when the lives below begin.
var monday = pdt("2026-06-01 10:00")

// Group contacts' numbers, and the patients'.
const (
	contactPhone = "+14155550142"
	textPatient  = "+14155550171"
)

// tuesdayGroup is a group near the patients that meets on Tuesdays 19:00 to
// 20:30 in San Francisco; its contact takes texts when texts is set, and
// its feed named a service office when office is.
func tuesdayGroup(id string, texts, office bool) directory.Group {
	g := apptest.SampleGroup(id, 37.7599, -122.4148)
	g.Meetings = []directory.Meeting{{Day: "tue", Time: "19:00", EndTime: "20:30", Timezone: "America/Los_Angeles"}}
	g.Location.Address = "3100 22nd St"
	if texts {
		g.Contact.Phone, g.Contact.Texts = contactPhone, true
	}
	if office {
		g.Office = directory.Office{Name: "Intergroup Office", Email: "office+" + id + "@intergroup.example"}
	}
	return g
}

// meetWorld is a harness at a given moment with a clinic that takes status
// webhooks, and groups.
type meetWorld struct {
	*apptest.Harness
	clinic apptest.Clinic
	hook   *hookRecorder
}

func newMeetWorld(t *testing.T, at time.Time, groups ...directory.Group) *meetWorld {
	t.Helper()
	h := apptest.New(t)
	h.SetNow(at)
	hook := newHookRecorder(t)
	// The clinic takes status webhooks and has its clinicians emailed too.
	w := &meetWorld{Harness: h, hook: hook, clinic: h.NewClinic("lakeside", hook.URL, map[string]any{"clinician_emails": true})}
	for _, g := range groups {
		h.PutGroup(g, g.ID)
	}
	return w
}

// referMeet sends a referral of a patient who prefers English, with an
// email, a phone (that takes texts), or both, and settles.
func (w *meetWorld) referMeet(t *testing.T, email, phone string) string {
	t.Helper()
	return w.referMeetIn(t, email, phone, "en")
}

// referMeetIn is referMeet for a patient who prefers lang.
func (w *meetWorld) referMeetIn(t *testing.T, email, phone, lang string) string {
	t.Helper()
	return w.referWith(t, email, phone, lang, "")
}

// referMeetPreferring is referMeet for a patient who prefers a channel.
func (w *meetWorld) referMeetPreferring(t *testing.T, email, phone, channel string) string {
	t.Helper()
	return w.referWith(t, email, phone, "en", channel)
}

func (w *meetWorld) referWith(t *testing.T, email, phone, lang, channel string) string {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(nativeReferral), &r); err != nil {
		t.Fatal(err)
	}
	p := r["patient"].(map[string]any)
	p["preferred_language"] = lang
	delete(p, "email")
	delete(p, "phone")
	if email != "" {
		p["email"] = email
	}
	if phone != "" {
		p["phone"] = phone
	}
	if channel != "" {
		p["preferred_channel"] = channel
	}
	b, _ := json.Marshal(r)
	id := referAccepted(t, w.Harness, w.clinic, b)
	w.Settle()
	return id
}

// routed sends a referral (see referMeet), confirms it for one group and
// returns its id, the patient's link and the group's notice link.
func (w *meetWorld) routed(t *testing.T, email, phone, group string) (id, link, glink string) {
	t.Helper()
	id = w.referMeet(t, email, phone)
	link = w.patientLink(t, email, phone)
	w.post(t, link, url.Values{"action": {"confirm"}, "groups": {group}})
	return id, link, w.Link(w.MailsTo("contact+" + group + "@groups.example")[0], "g")
}

// patientLink is the patient's page link from their first email, or text.
func (w *meetWorld) patientLink(t *testing.T, email, phone string) string {
	t.Helper()
	if email != "" {
		if ms := w.MailsTo(email); len(ms) > 0 {
			return w.Link(ms[0], "c")
		}
	}
	if ts := w.TextsTo(phone); len(ts) > 0 {
		return w.TextLink(ts[0])
	}
	t.Fatal("no consent link")
	return ""
}

// post posts a page's form and wants its 303; it returns the notice.
func (w *meetWorld) post(t *testing.T, link string, fields url.Values) string {
	t.Helper()
	st, loc := w.Form(link, fields)
	if st != http.StatusSeeOther {
		t.Fatalf("post %v: %d", fields, st)
	}
	u, _ := url.Parse(loc)
	w.Settle()
	return u.Query().Get("notice")
}

// page GETs a page and wants 200.
func (w *meetWorld) page(t *testing.T, link string) string {
	t.Helper()
	st, _, b := w.Do(http.MethodGet, link, nil, nil)
	if st != http.StatusOK {
		t.Fatalf("GET %s: %d", apptest.Redact(link), st)
	}
	return string(b)
}

var optionRE = regexp.MustCompile(`name="first_meeting" value="([0-9T:-]+)"`)

// options are the first_meeting values a group page offers.
func options(page string) []string {
	var out []string
	for _, m := range optionRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

var groupTextLinkRE = regexp.MustCompile(`/g/[A-Za-z0-9_-]{22}\b`)

// at moves the clock to t (forward only) and runs what came due.
func (w *meetWorld) at(t *testing.T, when time.Time) {
	t.Helper()
	if d := when.Sub(w.Now()); d > 0 {
		w.Advance(d)
	}
	w.Settle()
}

// comesAt wants the patient's nth email to come at when, not a minute
// before, and returns the emails then.
func (w *meetWorld) comesAt(t *testing.T, email string, nth int, when time.Time) []sestest.Mail {
	t.Helper()
	w.at(t, when.Add(-time.Minute))
	if n := len(w.MailsTo(email)); n != nth-1 {
		t.Fatalf("%d emails a minute before %s, want %d", n, when.In(la).Format("Jan 2 15:04"), nth-1)
	}
	w.at(t, when)
	mails := w.MailsTo(email)
	if len(mails) != nth {
		t.Fatalf("%d emails at %s, want %d", len(mails), when.In(la).Format("Jan 2 15:04"), nth)
	}
	return mails
}

// attachment is an email's calendar file.
func calendarOf(t *testing.T, m sestest.Mail) []byte {
	t.Helper()
	for _, a := range m.Attachments {
		if a.Filename == ical.FileName && strings.HasPrefix(a.ContentType, "text/calendar") {
			b, err := a.Data()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("email %q has no calendar file (%d attachments)", m.Subject, len(m.Attachments))
	return nil
}

// TestFirstMeetingLife is one referral's life with the injected clock:
// referral → consent → the notice by email and by text → the group answers
// by the text's link within the window, choosing Tuesday's meeting → the
// patient's email carries an .ics that the library reads as that start,
// end and place in the meeting's zone → exactly one reminder 24 hours
// before → the check-in 12 hours after the end → attended → the status
// webhook, the FHIR Task completed, the funnel's attended.
func TestFirstMeetingLife(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", true, true))
	const email = "life@patient.example"
	id := w.referMeet(t, email, "")
	link := w.patientLink(t, email, "")
	if n := w.post(t, link, url.Values{"action": {"confirm"}, "mode": {"introduce"}, "groups": {"tue-a"}}); n != "confirmed" {
		t.Fatalf("confirm: %q", n)
	}
	consentedAt := w.Now()

	// The notice: by email, and by one text to the contact who agreed to
	// texts, with the page's short link and nothing about the patient.
	notices := w.MailsTo("contact+tue-a@groups.example")
	texts := w.TextsTo(contactPhone)
	if len(notices) != 1 || len(texts) != 1 {
		t.Fatalf("%d notice emails and %d texts to the group, want 1 and 1", len(notices), len(texts))
	}
	glink := groupTextLinkRE.FindString(texts[0].Body)
	// (The link's token is random: it may spell "Ana" by chance.)
	if shown := apptest.Redact(texts[0].Body); glink == "" || strings.Contains(shown, "Ana") || strings.Contains(strings.ToLower(shown), "alcohol") ||
		!strings.Contains(texts[0].Body, "Lakeside") {
		t.Fatalf("the group's text: %q", apptest.Redact(texts[0].Body))
	}

	// 40 minutes later the contact opens the text's link: the page offers
	// the group's next Tuesdays, and they choose tomorrow's.
	w.Advance(40 * time.Minute)
	pg := w.page(t, glink)
	opts := options(pg)
	if !slices.Equal(opts, []string{"2026-06-02T19:00", "2026-06-09T19:00"}) {
		t.Fatalf("first_meeting options %v", opts)
	}
	if !strings.Contains(pg, "Tuesday, June 2") || !strings.Contains(pg, "7:00 pm–8:30 pm PDT") {
		t.Errorf("the group page does not show Tuesday's meeting in its local time")
	}
	answeredAt := w.Now()
	if n := w.post(t, glink, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-02T19:00"},
		"volunteer_name": {"Sam"}, "volunteer_note": {"I will wait by the door."}}); n != "accepted" {
		t.Fatalf("accept: %q", n)
	}
	// The notice's email link opens the same answer.
	if pg := w.page(t, w.Link(notices[0], "g")); !strings.Contains(pg, "Tuesday, June 2") || len(options(pg)) != 0 {
		t.Error("the email's link does not show the chosen meeting")
	}

	// The plan by email, its calendar file read by the library.
	mails := w.MailsTo(email)
	if len(mails) != 3 { // the link, the receipt, the plan
		t.Fatalf("%d emails to the patient, want 3", len(mails))
	}
	plan := mails[2]
	if !strings.Contains(plan.Body.Text, "Sam") || !strings.Contains(plan.Body.Text, "I will wait by the door.") ||
		!strings.Contains(plan.Body.Text, "3100 22nd St") || strings.Contains(plan.Subject, "tue-a") {
		t.Errorf("the plan email: %q\n%s", plan.Subject, plan.Body.Text)
	}
	cal := calendarOf(t, plan)
	_, ev := icaltest.Parse(t, cal)
	start, end := icaltest.Span(t, ev)
	if !start.Equal(pdt("2026-06-02 19:00")) || !end.Equal(pdt("2026-06-02 20:30")) || start.Location().String() != "America/Los_Angeles" {
		t.Errorf("calendar start %s end %s", start, end)
	}
	if loc := icaltest.Prop(ev, ics.ComponentPropertyLocation); loc != "3100 22nd St\\, San Francisco\\, 94110" && loc != "3100 22nd St, San Francisco, 94110" {
		t.Errorf("calendar location %q", loc)
	}
	if !strings.Contains(string(cal), "DTSTART;TZID=America/Los_Angeles:20260602T190000") {
		t.Errorf("DTSTART is not in the meeting's zone:\n%s", cal)
	}
	// The page's calendar link serves the same file.
	st, hdr, served := w.Do(http.MethodGet, link+"/meeting.ics", nil, nil)
	if st != http.StatusOK || !bytes.Equal(served, cal) || !strings.HasPrefix(hdr.Get("Content-Type"), "text/calendar") {
		t.Errorf("meeting.ics: %d %q, same as the email's: %v", st, hdr.Get("Content-Type"), bytes.Equal(served, cal))
	}
	if pg := w.page(t, link); !strings.Contains(pg, "meeting.ics") || !strings.Contains(pg, "Tuesday, June 2") {
		t.Error("the patient's page does not show the plan with its calendar link")
	}

	// The clinic reads the first meeting, in the meeting's offset.
	v := w.Status(w.clinic, id)
	if v.Status != referral.Accepted || v.FirstMeeting == nil || v.FirstMeeting.GroupID != "tue-a" ||
		v.FirstMeeting.StartsAt.Format(time.RFC3339) != "2026-06-02T19:00:00-07:00" || v.FirstMeeting.EndsAt.Format(time.RFC3339) != "2026-06-02T20:30:00-07:00" {
		t.Errorf("status read: %s %+v", v.Status, v.FirstMeeting)
	}

	// The window passes: the group answered, so no reminder, no office.
	w.at(t, answeredAt.Add(3*time.Hour))
	if n := len(w.MailsTo("contact+tue-a@groups.example")); n != 1 || len(w.MailsTo("office+tue-a@intergroup.example")) != 0 {
		t.Errorf("%d emails to the group after it answered, and the office was told", n)
	}

	// Exactly one reminder, 24 hours before.
	mails = w.comesAt(t, email, 4, pdt("2026-06-01 19:00"))
	if !strings.Contains(mails[3].Body.Text, "7:00 pm") {
		t.Errorf("the reminder: %s", mails[3].Body.Text)
	}
	// The group cannot say attended before the meeting has begun.
	if n := w.post(t, glink, url.Values{"action": {"attended"}}); n != "" || w.Status(w.clinic, id).Status != referral.Accepted {
		t.Errorf("attended before the meeting: notice %q, status %s", n, w.Status(w.clinic, id).Status)
	}
	w.at(t, pdt("2026-06-02 18:00"))
	if n := len(w.MailsTo(email)); n != 4 {
		t.Errorf("%d emails, want one reminder only", n)
	}

	// The check-in 12 hours after the end, not before.
	mails = w.comesAt(t, email, 5, pdt("2026-06-03 08:30"))
	checkin := w.Link(mails[4], "c")
	pg = w.page(t, checkin)
	if !strings.Contains(pg, `value="attended"`) || !strings.Contains(pg, `value="missed"`) {
		t.Fatal("the check-in's page does not offer attended and missed")
	}
	if n := w.post(t, checkin, url.Values{"action": {"attended"}}); n != "attended" {
		t.Fatalf("attended: %q", n)
	}

	// attended: the status, the route, the webhook, the Task, the funnel.
	v = w.Status(w.clinic, id)
	if v.Status != referral.Attended || v.Routes[0].Status != referral.RouteConnected {
		t.Errorf("after attended: %s, route %s", v.Status, v.Routes[0].Status)
	}
	w.Settle()
	hooked := false
	for _, b := range w.hook.bodies() {
		hooked = hooked || strings.Contains(b, `"status":"attended"`)
	}
	if !hooked {
		t.Error("no status webhook says attended")
	}
	_, _, task := w.Do(http.MethodGet, "/v1/clinics/lakeside/referrals/"+id, nil, http.Header{
		"Authorization": {"Bearer " + w.clinic.APIKey}, "Accept": {"application/fhir+json"}})
	var tk struct {
		Status         string `json:"status"`
		BusinessStatus struct {
			Coding []struct{ Code string } `json:"coding"`
		} `json:"businessStatus"`
	}
	if err := json.Unmarshal(task, &tk); err != nil || tk.Status != "completed" || len(tk.BusinessStatus.Coding) == 0 || tk.BusinessStatus.Coding[0].Code != "attended" {
		t.Errorf("FHIR Task: %s", task)
	}
	rep := adminOutcomes(t, w.Harness, monday, w.Now())
	if rep.Funnel["attended"] != 1 || rep.Funnel["connected"] != 0 || rep.TimeToFirstMeeting.Count != 1 || rep.TimeToFirstContact.Count != 1 {
		t.Errorf("outcomes: funnel %v, first meeting %+v, first contact %+v", rep.Funnel, rep.TimeToFirstMeeting, rep.TimeToFirstContact)
	}
	if p := rep.TimeToFirstContact.P50Hours; p == nil || *p != 1 {
		t.Errorf("time to first contact %v, want the 1-hour bucket (40 minutes)", p)
	}
	if p := rep.TimeToFirstMeeting.P50Hours; p == nil || *p != 48 {
		t.Errorf("time to first meeting %v, want the 48-hour bucket (33 hours)", p)
	}
	t.Logf("time to first contact %s, to the first meeting %s", answeredAt.Sub(consentedAt), pdt("2026-06-02 19:00").Sub(consentedAt))
	for _, m := range []string{`"FirstMeetingsPlanned":1`, `"Attendances":1`, `"TimeToFirstContact":2400`} {
		if strings.Count(w.Metrics.String(), m) != 1 {
			t.Errorf("metric %s emitted %d times, want once", m, strings.Count(w.Metrics.String(), m))
		}
	}

	// Nothing more comes: the week's end finds the referral closed.
	w.at(t, pdt("2026-06-12 12:00"))
	if n, m := len(w.MailsTo(email)), len(w.TextsTo(contactPhone)); n != 5 || m != 1 {
		t.Errorf("%d emails to the patient and %d texts to the group at the end, want 5 and 1", n, m)
	}
}

// firstReport is the part of an outcomes report the first meeting's tests
// read (the operator's view: no count is null).
type firstReport struct {
	Funnel             map[string]int64 `json:"funnel"`
	TimeToFirstContact durations        `json:"time_to_first_contact"`
	TimeToFirstMeeting durations        `json:"time_to_first_meeting"`
}

type durations struct {
	Count    int64    `json:"count"`
	P50Hours *float64 `json:"p50_hours"`
	P90Hours *float64 `json:"p90_hours"`
}

// adminOutcomes reads the operator's outcomes of the days from..to.
func adminOutcomes(t *testing.T, h *apptest.Harness, from, to time.Time) firstReport {
	t.Helper()
	q := "?from=" + from.UTC().Format("2006-01-02") + "&to=" + to.UTC().Format("2006-01-02")
	st, b := h.Admin(http.MethodGet, "/v1/admin/outcomes"+q, nil)
	if st != http.StatusOK {
		t.Fatalf("outcomes: %d %s", st, b)
	}
	var rep firstReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestFirstContactWindow: a group that does not answer gets one reminder
// when the window runs out (by email, and by text as its notice went), and
// its service office the notice with a link of its own, which answers for
// the group; the group's own answer after it is told kindly the office
// answered. The deadline still reroutes a group that has no office.
func TestFirstContactWindow(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", true, true), tuesdayGroup("tue-b", false, false), tuesdayGroup("tue-c", false, false))
	const email = "window@patient.example"
	id := w.referMeet(t, email, "")
	w.post(t, w.patientLink(t, email, ""), url.Values{"action": {"confirm"}, "groups": {"tue-a"}})
	notified := w.Now()
	contact, office := "contact+tue-a@groups.example", "office+tue-a@intergroup.example"

	w.at(t, notified.Add(2*time.Hour-time.Minute))
	if len(w.MailsTo(contact)) != 1 || len(w.TextsTo(contactPhone)) != 1 || len(w.MailsTo(office)) != 0 {
		t.Fatal("a reminder before the window ran out")
	}
	w.at(t, notified.Add(2*time.Hour))
	mails, texts, offices := w.MailsTo(contact), w.TextsTo(contactPhone), w.MailsTo(office)
	if len(mails) != 2 || len(texts) != 2 || len(offices) != 1 {
		t.Fatalf("after the window: %d emails and %d texts to the contact, %d to the office; want 2, 2, 1", len(mails), len(texts), len(offices))
	}
	if !strings.Contains(texts[1].Body, groupTextLinkRE.FindString(texts[0].Body)) || w.Link(mails[1], "g") != w.Link(mails[0], "g") {
		t.Error("the reminder does not carry the notice's own links")
	}
	// Its words, the link aside (a random token may spell anything).
	if b := groupTextLinkRE.ReplaceAllString(texts[1].Body, ""); strings.Contains(b, "Ana") || strings.Contains(strings.ToLower(b), "alcohol") || !strings.Contains(b, "Lakeside") {
		t.Errorf("the reminder's text: %q", apptest.Redact(texts[1].Body))
	}
	olink := w.Link(offices[0], "g")
	if olink == w.Link(mails[0], "g") || strings.Contains(apptest.Redact(offices[0].Body.Text), "Ana") { // a token may spell "Ana"
		t.Error("the office's notice shares the group's link, or names the patient")
	}
	v := w.Status(w.clinic, id)
	noted := false
	for _, e := range v.Timeline {
		noted = noted || strings.Contains(e.Detail, "reminded") && strings.Contains(e.Detail, "service office")
	}
	if !noted || v.Status != referral.Routed {
		t.Errorf("timeline does not say the group was reminded and its office told: %+v", v.Timeline)
	}
	if !strings.Contains(w.Metrics.String(), `"GroupReminders":1`) || !strings.Contains(w.Metrics.String(), `"OfficeNotices":1`) {
		t.Error("no metric counts the reminder and the office's notice")
	}
	// One reminder only.
	w.at(t, notified.Add(20*time.Hour))
	if len(w.MailsTo(contact)) != 2 || len(w.TextsTo(contactPhone)) != 2 || len(w.MailsTo(office)) != 1 {
		t.Error("more than one reminder")
	}

	// The office answers for the group; the group's answer after it is
	// told, kindly, that it stands.
	pg := w.page(t, olink)
	if !strings.Contains(pg, "Ana") || len(options(pg)) == 0 {
		t.Fatal("the office's page does not show what the patient shares and the meetings")
	}
	if n := w.post(t, olink, url.Values{"action": {"accept"}, "first_meeting": {options(pg)[0]}}); n != "accepted" {
		t.Fatalf("office accept: %q", n)
	}
	for _, l := range []string{w.Link(mails[0], "g"), groupTextLinkRE.FindString(texts[0].Body)} {
		if n := w.post(t, l, url.Values{"action": {"decline"}, "reason": {"no-capacity"}}); n != "answered" {
			t.Errorf("the group's late answer: notice %q, want answered", n)
		}
	}
	if v := w.Status(w.clinic, id); v.Status != referral.Accepted || v.Routes[0].Status != referral.RouteAccepted || v.FirstMeeting == nil {
		t.Errorf("after the office's accept and the group's late decline: %s %+v", v.Status, v.Routes)
	}

	// A group with no office: reminded at the window, timed out at the
	// deadline, and the referral moves on.
	const email2 = "window2@patient.example"
	id2 := w.referMeet(t, email2, "")
	w.post(t, w.patientLink(t, email2, ""), url.Values{"action": {"confirm"}, "groups": {"tue-b", "tue-c"}})
	start := w.Now()
	w.at(t, start.Add(2*time.Hour))
	if len(w.MailsTo("contact+tue-b@groups.example")) != 2 || len(w.MailsTo("office+tue-b@intergroup.example")) != 0 {
		t.Errorf("the officeless group: %d emails (want the notice and the reminder)", len(w.MailsTo("contact+tue-b@groups.example")))
	}
	w.at(t, start.Add(48*time.Hour))
	v = w.Status(w.clinic, id2)
	if v.Status != referral.Routed || len(v.Routes) != 2 || v.Routes[0].Status != referral.RouteTimedOut || v.Routes[1].Status != referral.RouteNotified {
		t.Errorf("after the deadline: %s %+v", v.Status, v.Routes)
	}
	if len(w.MailsTo("contact+tue-c@groups.example")) != 1 {
		t.Error("the next group was not notified")
	}
}

// textsAt records when (on the harness's clock) each text to a number came.
type textsAt struct {
	seen int
	at   []time.Time
	body []string
}

func (r *textsAt) look(w *meetWorld, number string) {
	ts := w.TextsTo(number)
	for _, m := range ts[r.seen:] {
		r.at = append(r.at, w.Now())
		r.body = append(r.body, m.Body)
	}
	r.seen = len(ts)
}

// withinLimits fails unless the texts keep to one a day and three in any
// seven days, in Los Angeles, between 8:00 and 21:00.
func withinLimits(t *testing.T, at []time.Time) {
	t.Helper()
	day := func(x time.Time) time.Time {
		l := x.In(la)
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
	}
	for i, a := range at {
		if h := a.In(la).Hour(); h < 8 || h >= 21 {
			t.Errorf("a text at %s", a.In(la))
		}
		n := 0
		for j, b := range at {
			if j != i && day(b).Equal(day(a)) {
				t.Errorf("two texts on %s", day(a).Format("2006-01-02"))
			}
			if d := day(a).Sub(day(b)); d >= 0 && d < 7*24*time.Hour {
				n++
			}
		}
		if n > 3 {
			t.Errorf("%d texts in the seven days to %s", n, day(a).Format("2006-01-02"))
		}
	}
}

// TestFirstMeetingByText: a patient reached only by text gets the plan,
// the reminder and the check-in by text, each within the text limits (the
// plan waits for the day after the consent link's), without the group's
// name; the check-in's link answers.
func TestFirstMeetingByText(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", false, false))
	id, _, glink := w.routed(t, "", textPatient, "tue-a")
	var seen textsAt
	seen.look(w, textPatient)
	w.Advance(30 * time.Minute)
	w.post(t, glink, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-09T19:00"}})
	seen.look(w, textPatient)
	if len(seen.at) != 1 || !strings.Contains(w.Metrics.String(), `"TextsHeld":1`) {
		t.Fatalf("%d texts on the day of the consent link, want 1 (the plan waits, and a metric counts it)", len(seen.at))
	}
	for _, when := range []time.Time{pdt("2026-06-02 07:59"), pdt("2026-06-02 08:00"), pdt("2026-06-08 18:59"),
		pdt("2026-06-08 19:00"), pdt("2026-06-10 08:29"), pdt("2026-06-10 08:30")} {
		w.at(t, when)
		seen.look(w, textPatient)
	}
	if len(seen.at) != 4 {
		t.Fatalf("%d texts, want the link, the plan, the reminder and the check-in: %q", len(seen.at), seen.body)
	}
	want := []time.Time{monday, pdt("2026-06-02 08:00"), pdt("2026-06-08 19:00"), pdt("2026-06-10 08:30")}
	for i := range want {
		if !seen.at[i].Equal(want[i]) {
			t.Errorf("text %d at %s, want %s", i+1, seen.at[i].In(la), want[i].In(la))
		}
	}
	withinLimits(t, seen.at)
	for i, b := range seen.body[1:] {
		if strings.Contains(b, "tue-a") || strings.Contains(strings.ToLower(b), "alcohol") || !strings.Contains(b, "/c/") {
			t.Errorf("text %d: %q", i+2, apptest.Redact(b))
		}
	}
	if !strings.Contains(seen.body[1], "Jun 9") || !strings.Contains(seen.body[1], "7:00 pm PDT") {
		t.Errorf("the plan's text: %q", apptest.Redact(seen.body[1]))
	}
	if len(w.MailsTo("ana.intake@example.org")) != 0 {
		t.Error("an email to a patient who has none")
	}
	checkin := w.TextLink(w.TextsTo(textPatient)[3])
	w.post(t, checkin, url.Values{"action": {"attended"}})
	if st := w.Status(w.clinic, id).Status; st != referral.Attended {
		t.Errorf("status %s after attended by the check-in's link", st)
	}
	w.at(t, pdt("2026-06-20 12:00"))
	if n := len(w.TextsTo(textPatient)); n != 4 {
		t.Errorf("%d texts in the end, want 4", n)
	}
}

// TestTextLimitsWhenMoreIsDue: two referrals of one phone-only patient in a
// week, each accepted with a meeting soon: eight texts come due (two links,
// two plans, two reminders, two check-ins), more than the limits allow.
// No day gets two, no seven days more than three, none goes at night; a
// text that would come too late goes nowhere (there is no email).
func TestTextLimitsWhenMoreIsDue(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", false, false), tuesdayGroup("tue-b", false, false))
	var seen textsAt
	ids := []string{w.referMeet(t, "", textPatient)}
	w.Advance(5 * time.Minute)
	ids = append(ids, w.referMeet(t, "", textPatient))
	groups := []string{"tue-a", "tue-b"}
	confirmed := map[string]bool{}
	for w.Now().Before(pdt("2026-06-14 12:00")) {
		seen.look(w, textPatient)
		for _, m := range w.TextsTo(textPatient) {
			link := apptest.LinkPattern.FindString(m.Body)
			if !strings.HasPrefix(link, "/c/") || confirmed[link] {
				continue
			}
			confirmed[link] = true
			if pg := w.page(t, link); strings.Contains(pg, `value="confirm"`) {
				g := groups[len(confirmed)-1]
				w.post(t, link, url.Values{"action": {"confirm"}, "groups": {g}})
				gl := w.Link(w.MailsTo("contact+" + g + "@groups.example")[0], "g")
				w.post(t, gl, url.Values{"action": {"accept"}, "first_meeting": {options(w.page(t, gl))[0]}})
			}
		}
		w.Advance(time.Hour)
		w.Settle()
	}
	seen.look(w, textPatient)
	withinLimits(t, seen.at)
	if len(seen.at) < 4 || len(seen.at) >= 8 {
		t.Errorf("%d texts of the 8 due", len(seen.at))
	}
	for _, id := range ids {
		if v := w.Status(w.clinic, id); v.FirstMeeting == nil {
			t.Errorf("referral %s has no first meeting (%s)", id, v.Status)
		}
	}
	var at []string
	for _, a := range seen.at {
		at = append(at, a.In(la).Format("Mon Jan 2 15:04"))
	}
	t.Logf("8 texts due, %d sent: %s", len(seen.at), strings.Join(at, "; "))
}

// TestFirstMeetingAcrossDaylightSaving: on the Friday before the US change,
// the group page lists the Tuesday after it at 7 pm daylight time, the
// clinic reads it with its new offset, the calendar file says it in the
// zone, and the reminder comes at 7 pm local time the day before.
func TestFirstMeetingAcrossDaylightSaving(t *testing.T) {
	w := newMeetWorld(t, pdt("2027-03-12 10:00"), tuesdayGroup("tue-a", false, false))
	const email = "dst@patient.example"
	id, _, glink := w.routed(t, email, "", "tue-a")
	pg := w.page(t, glink)
	if opts := options(pg); len(opts) == 0 || opts[0] != "2027-03-16T19:00" {
		t.Fatalf("options %v", opts)
	}
	if !strings.Contains(pg, "Tuesday, March 16") || !strings.Contains(pg, "7:00 pm–8:30 pm PDT") {
		t.Errorf("the page does not show the Tuesday after the change in daylight time")
	}
	w.post(t, glink, url.Values{"action": {"accept"}, "first_meeting": {"2027-03-16T19:00"}})
	v := w.Status(w.clinic, id)
	if v.FirstMeeting == nil || v.FirstMeeting.StartsAt.Format(time.RFC3339) != "2027-03-16T19:00:00-07:00" {
		t.Fatalf("first meeting %+v", v.FirstMeeting)
	}
	mails := w.MailsTo(email)
	cal := calendarOf(t, mails[len(mails)-1])
	_, ev := icaltest.Parse(t, cal)
	if start, err := ev.GetStartAt(); err != nil || !start.Equal(time.Date(2027, 3, 17, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("calendar start %s (%v)", start, err)
	}
	w.at(t, time.Date(2027, 3, 16, 1, 59, 0, 0, time.UTC)) // 18:59 PDT on Monday
	before := len(w.MailsTo(email))
	w.at(t, time.Date(2027, 3, 16, 2, 0, 0, 0, time.UTC)) // 19:00 PDT
	mails = w.MailsTo(email)
	if len(mails) != before+1 || !strings.Contains(mails[len(mails)-1].Body.Text, "7:00 pm") || !strings.Contains(mails[len(mails)-1].Body.Text, "PDT") {
		t.Fatalf("no reminder at 7 pm PDT the day before (%d emails, %d before)", len(mails), before)
	}
}

// TestMissedChangesNothingElse: "missed" after the meeting began, from the
// patient's page, is noted in the timeline; the page offers the group's
// next meetings and the other groups matched; the status, the routes, the
// time the referral last changed and the webhooks stay as they were, and
// no check-in comes. The group's "attended" later still counts.
func TestMissedChangesNothingElse(t *testing.T) {
	other := apptest.SampleGroup("mission-b", 37.7609, -122.4148)
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", false, false), other)
	const email = "missed@patient.example"
	id, link, glink := w.routed(t, email, "", "tue-a")
	w.post(t, glink, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-02T19:00"}})
	// Not before the meeting begins.
	if n := w.post(t, link, url.Values{"action": {"missed"}}); n != "" {
		t.Errorf("missed before the meeting: %q", n)
	}
	w.at(t, pdt("2026-06-02 19:30"))
	before := w.Status(w.clinic, id)
	hooks := len(w.hook.bodies())
	mails := len(w.MailsTo(email))
	if n := w.post(t, link, url.Values{"action": {"missed"}}); n != "missed" {
		t.Fatalf("missed: %q", n)
	}
	pg := w.page(t, link)
	if !strings.Contains(pg, "Tuesday, June 9") || !strings.Contains(pg, "Group mission-b") {
		t.Error("after missed, the page does not offer the next meeting and the other group")
	}
	after := w.Status(w.clinic, id)
	if after.Status != before.Status || !after.UpdatedAt.Equal(before.UpdatedAt) || fmt.Sprint(after.Routes) != fmt.Sprint(before.Routes) ||
		fmt.Sprint(after.FirstMeeting) != fmt.Sprint(before.FirstMeeting) {
		t.Errorf("missed changed the referral:\nbefore %+v\nafter  %+v", before, after)
	}
	if len(after.Timeline) != len(before.Timeline)+1 || !strings.Contains(after.Timeline[len(after.Timeline)-1].Detail, "did not make it") {
		t.Errorf("the timeline does not note missed: %+v", after.Timeline)
	}
	clinician := len(w.MailsTo("rivera@clinic.example"))
	w.at(t, pdt("2026-06-03 12:00")) // past the check-in's time
	if len(w.hook.bodies()) != hooks || len(w.MailsTo(email)) != mails || len(w.MailsTo("rivera@clinic.example")) != clinician {
		t.Errorf("missed sent %d webhooks and %d emails", len(w.hook.bodies())-hooks, len(w.MailsTo(email))-mails)
	}
	// A second missed changes nothing; the group's attended still counts.
	if n := w.post(t, link, url.Values{"action": {"missed"}}); n != "" {
		t.Errorf("a second missed: %q", n)
	}
	if n := w.post(t, glink, url.Values{"action": {"attended"}}); n != "attended" || w.Status(w.clinic, id).Status != referral.Attended {
		t.Errorf("the group's attended after missed: %q", n)
	}
	// The clinician hears it, with no patient data.
	cm := w.MailsTo("rivera@clinic.example")
	if len(cm) != clinician+1 || !strings.Contains(cm[len(cm)-1].Body.Text, "went to the first meeting") || strings.Contains(cm[len(cm)-1].Body.Text, "Ana") {
		t.Errorf("the clinician's email about attended: %d emails", len(cm)-clinician)
	}
}

// TestConnectedWaitsForTheMeeting: a connected referral with a first
// meeting stays open — the clinic may still cancel — until the week after
// the meeting runs out; then it closes, says so in the timeline, and a
// late "attended" changes nothing.
func TestConnectedWaitsForTheMeeting(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", false, false), tuesdayGroup("tue-b", false, false))
	cancel := func(id string) int {
		st, _, _ := w.Do(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+id, nil, http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}})
		return st
	}
	ids := make([]string, 2)
	links := make([]string, 2)
	for i, g := range []string{"tue-a", "tue-b"} {
		var glink string
		ids[i], links[i], glink = w.routed(t, fmt.Sprintf("wait-%d@patient.example", i), "", g)
		w.post(t, glink, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-02T19:00"}})
		w.post(t, glink, url.Values{"action": {"connected"}})
		if st := w.Status(w.clinic, ids[i]).Status; st != referral.Connected {
			t.Fatalf("status %s", st)
		}
	}
	if st := cancel(ids[0]); st != http.StatusOK {
		t.Errorf("cancel a connected referral that waits for its meeting: %d, want 200", st)
	}
	w.at(t, pdt("2026-06-09 20:29")) // a minute before the week after the meeting's end
	if st := w.Status(w.clinic, ids[1]); st.Status != referral.Connected {
		t.Fatalf("status %s", st.Status)
	}
	w.at(t, pdt("2026-06-09 20:30"))
	v := w.Status(w.clinic, ids[1])
	if !strings.Contains(v.Timeline[len(v.Timeline)-1].Detail, "no word within a week") {
		t.Errorf("the timeline does not say the wait ended: %+v", v.Timeline[len(v.Timeline)-1])
	}
	if st := cancel(ids[1]); st != http.StatusConflict {
		t.Errorf("cancel after the week: %d, want 409", st)
	}
	if n := w.post(t, links[1], url.Values{"action": {"attended"}}); n != "" || w.Status(w.clinic, ids[1]).Status != referral.Connected {
		t.Errorf("attended after the week: %q", n)
	}
}

// TestGroupTextUndeliverable: a group contact's number the carrier cannot
// reach says nothing about the patient's: the referral is not flagged, the
// patient's channels stay as they were.
func TestGroupTextUndeliverable(t *testing.T) {
	g := tuesdayGroup("tue-a", true, false)
	g.Contact.Phone = "+14155550199" // the phone sink reports it undeliverable
	w := newMeetWorld(t, monday, g)
	id, _, _ := w.routed(t, "", textPatient, "tue-a")
	if n := len(w.TextsTo("+14155550199")); n != 1 {
		t.Fatalf("%d texts to the group's contact, want 1", n)
	}
	w.Settle()
	v := w.Status(w.clinic, id)
	for _, e := range v.Timeline {
		if strings.Contains(e.Detail, "text") {
			t.Errorf("the referral's timeline blames the patient's number: %q", e.Detail)
		}
	}
	if v.Status != referral.Routed || !strings.Contains(w.Logs.String(), "a group contact's text was not delivered") {
		t.Errorf("status %s", v.Status)
	}
}

// TestRefusedTextGivesBackItsSlot: a text the number refuses at once
// (opted out) never left, so it does not count against the patient's
// limits: the link goes by email, and the number's count holds nothing.
func TestRefusedTextGivesBackItsSlot(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", false, false))
	const optedOut = "+14155550198"
	w.referMeetPreferring(t, "slot2@patient.example", optedOut, "sms")
	if len(w.TextsTo(optedOut)) != 0 || len(w.MailsTo("slot2@patient.example")) != 1 {
		t.Fatalf("%d texts, %d emails", len(w.TextsTo(optedOut)), len(w.MailsTo("slot2@patient.example")))
	}
	key, err := w.App.LinkKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.App.Referrals.TakeText(t.Context(), key, textlimit.Default, dynamo.TextRequest{
		Number: optedOut, Claim: "probe", Now: w.Now(), Zone: la})
	if err != nil || d.Kind != textlimit.SendNow {
		t.Errorf("the number's count after a refused text: %+v %v (the refused text kept its slot)", d, err)
	}
}

// TestFirstMeetingRefusedAndStopped: a first_meeting the page does not
// offer is a 400 that changes nothing; no reminder is written when its
// moment has passed at the accept; a cancel or a revoke stops the
// reminder and the check-in.
func TestFirstMeetingRefusedAndStopped(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", false, false), tuesdayGroup("tue-b", false, false))
	const email = "refused@patient.example"
	id, _, glink := w.routed(t, email, "", "tue-a")
	for _, v := range []string{"2026-06-03T19:00", "2026-06-02T19:01", "2026-05-26T19:00", "2026-06-30T19:00", "tomorrow", "2026-06-02 19:00"} {
		if st, _ := w.Form(glink, url.Values{"action": {"accept"}, "first_meeting": {v}}); st != http.StatusBadRequest {
			t.Errorf("first_meeting %q: %d, want 400", v, st)
		}
	}
	if v := w.Status(w.clinic, id); v.Status != referral.Routed || v.FirstMeeting != nil {
		t.Fatalf("after refused answers: %s %+v", v.Status, v.FirstMeeting)
	}

	// Accepted at 20:00, for tomorrow 19:00: the reminder's moment passed.
	w.at(t, pdt("2026-06-01 20:00"))
	w.post(t, glink, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-02T19:00"}})
	rec, err := w.App.Referrals.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.Events {
		if e.Type == referral.MeetingReminder {
			t.Error("a reminder was written after its moment")
		}
	}
	// Cancelled before the meeting: no check-in, the wait ends.
	st, _, _ := w.Do(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+id, nil, http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}})
	if st != http.StatusOK {
		t.Fatalf("cancel: %d", st)
	}
	mails := len(w.MailsTo(email))
	// Revoked after a plan: no reminder.
	const email2 = "revoked@patient.example"
	id2, link2, gl2 := w.routed(t, email2, "", "tue-b")
	w.post(t, gl2, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-09T19:00"}})
	mails2 := len(w.MailsTo(email2))
	w.post(t, link2, url.Values{"action": {"revoke"}})
	w.at(t, pdt("2026-06-20 12:00"))
	if n := len(w.MailsTo(email)); n != mails {
		t.Errorf("%d emails after the cancel", n-mails)
	}
	if n := len(w.MailsTo(email2)); n != mails2 {
		t.Errorf("%d emails after the revoke", n-mails2)
	}
	if st := w.Status(w.clinic, id2).Status; st != referral.Revoked {
		t.Errorf("status %s", st)
	}
	if st, _, _ := w.Do(http.MethodGet, link2+"/meeting.ics", nil, nil); st != http.StatusNotFound {
		t.Errorf("meeting.ics after revoke: %d, want 404", st)
	}
}

// TestTimeToFirstContact runs ten scripted lives whose groups answer the
// way groups do — by the text's link within minutes, by email later, after
// the window's reminder, by their office, or not at all (the deadline
// moves the referral to the next group) — and checks the outcomes' time to
// first contact against the lives: its count, and quantiles that are the
// buckets the exact ones fall in. It logs the exact median and 90th
// percentile.
func TestTimeToFirstContact(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", true, true), tuesdayGroup("tue-b", false, false))
	// How long after consent each life's first answer comes, and by which
	// link; "office" answers after the window's notice; "timeout" leaves
	// the first group silent until the deadline and the second answers an
	// hour later.
	lives := []struct {
		after time.Duration
		by    string
	}{
		{10 * time.Minute, "text"}, {15 * time.Minute, "text"}, {25 * time.Minute, "text"}, {40 * time.Minute, "email"},
		{55 * time.Minute, "text"}, {80 * time.Minute, "email"}, {130 * time.Minute, "text"}, {150 * time.Minute, "office"},
		{5 * time.Hour, "email"}, {49 * time.Hour, "timeout"},
	}
	var exact []time.Duration
	for i, l := range lives {
		email := fmt.Sprintf("contact-%d@patient.example", i)
		w.referMeet(t, email, "")
		groups := []string{"tue-a"}
		if l.by == "timeout" {
			groups = []string{"tue-a", "tue-b"}
		}
		w.post(t, w.patientLink(t, email, ""), url.Values{"action": {"confirm"}, "groups": groups})
		consented := w.Now()
		w.at(t, consented.Add(l.after))
		var link string
		switch l.by {
		case "text":
			texts := w.TextsTo(contactPhone)
			link = groupTextLinkRE.FindString(texts[len(texts)-1].Body)
		case "email":
			mails := w.MailsTo("contact+tue-a@groups.example")
			link = w.Link(mails[len(mails)-1], "g")
		case "office":
			offices := w.MailsTo("office+tue-a@intergroup.example")
			link = w.Link(offices[len(offices)-1], "g")
		case "timeout":
			mails := w.MailsTo("contact+tue-b@groups.example")
			link = w.Link(mails[len(mails)-1], "g")
		}
		if n := w.post(t, link, url.Values{"action": {"accept"}}); n != "accepted" {
			t.Fatalf("life %d (%s): %q", i, l.by, n)
		}
		exact = append(exact, w.Now().Sub(consented))
		w.Advance(49 * time.Hour) // the lives do not overlap
		w.Settle()
	}
	slices.Sort(exact)
	q := func(p float64) time.Duration { return exact[int(float64(len(exact))*p+0.999999)-1] }
	rep := adminOutcomes(t, w.Harness, monday, w.Now())
	d := rep.TimeToFirstContact
	if d.Count != int64(len(lives)) || d.P50Hours == nil || d.P90Hours == nil ||
		q(0.5) > time.Duration(*d.P50Hours*float64(time.Hour)) || q(0.9) > time.Duration(*d.P90Hours*float64(time.Hour)) {
		t.Fatalf("time to first contact %+v (p50 %v p90 %v), exact %v", d, d.P50Hours, d.P90Hours, exact)
	}
	t.Logf("time to first contact in %d scripted lives: median %s, 90th percentile %s (the outcomes' buckets: %.0f h, %.0f h)",
		len(exact), q(0.5), q(0.9), *d.P50Hours, *d.P90Hours)
}
