package pages

import (
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
)

const planLink = "https://handoff.example.org/c/q7WmN0xK-3_pZ8vLrT2yH5cB9dF1gJ4sA6eU0iO3kMw"

// testMeetingGroup meets on Tuesdays at 7 pm in New York, in person, and
// on Thursdays online.
func testMeetingGroup() directory.Group {
	return directory.Group{
		Name: "Mission Tuesday Circle", Formats: []string{directory.InPerson, directory.Online},
		Meetings: []directory.Meeting{
			{Day: "tue", Time: "19:00", EndTime: "20:30", Timezone: "America/New_York"},
			{Day: "thu", Time: "12:00", EndTime: "13:00", Timezone: "America/New_York", OnlineURL: "https://meet.example/mtc"},
		},
		Location: directory.Location{Lat: 40.7, Lon: -74, Address: "3100 22nd St", City: "Brooklyn", PostalCode: "11201"},
	}
}

// testMeetings are the group's meetings in the two weeks from Monday 9
// March 2026, the day after the US change: Tue 10, Thu 12, Tue 17, Thu 19.
func testMeetings(t *testing.T) []occurrence.Occurrence {
	t.Helper()
	os := occurrence.List(testMeetingGroup(), time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC))
	if len(os) != 4 || os[0].Value() != "2026-03-10T19:00" {
		t.Fatalf("meetings %v", os)
	}
	return os
}

func testPlan(t *testing.T, online bool) MeetingPlan {
	t.Helper()
	o := testMeetings(t)[0]
	if online {
		o = testMeetings(t)[1]
	}
	return MeetingPlan{GroupName: "Mission Tuesday Circle", Volunteer: "Sam", Note: "I'll wait at the side door, blue jacket.", Meeting: o}
}

var testCalendar = mail.Attachment{Name: "meeting.ics", ContentType: "text/calendar; charset=utf-8; method=PUBLISH", Data: []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")}

// TestMeetingEmails: the plan (with its calendar attached), the reminder
// and the check-in to the patient name the clinic alone in their subject;
// the group's reminder and the office's notice say nothing about the
// patient; all in English and Spanish, in the meeting's local time after
// the daylight-saving change.
func TestMeetingEmails(t *testing.T) {
	plan := testPlan(t, false)
	cases := []emailCase{
		{
			name: "plan", patient: true, link: planLink,
			build: func(lang string) (Email, error) {
				return MeetingPlanEmail(lang, "Ana", "Lakeside Health Center", planLink, plan, testCalendar)
			},
			texts: map[string][]string{
				English: {"Lakeside Health Center: your first meeting", "Hi Ana,", "Mission Tuesday Circle", "Tuesday, March 10",
					"7:00 pm–8:30 pm EDT", "3100 22nd St, Brooklyn, 11201", "Sam", "blue jacket", "meeting.ics"},
				Spanish: {"Lakeside Health Center: su primera reunión", "Hola, Ana:", "martes 10 de marzo", "19:00–20:30 EDT", "Dónde"},
			},
		},
		{
			name: "meeting reminder", patient: true, link: planLink,
			build: func(lang string) (Email, error) {
				return MeetingReminderEmail(lang, "Ana", "Lakeside Health Center", planLink, plan)
			},
			texts: map[string][]string{
				English: {"Lakeside Health Center: a reminder of your meeting", "on Tuesday, March 10", "7:00 pm–8:30 pm EDT"},
				Spanish: {"recordatorio de su reunión", "martes 10 de marzo"},
			},
			absent: []string{"blue jacket"},
		},
		{
			name: "check-in", patient: true, link: planLink,
			build: func(lang string) (Email, error) {
				return CheckInEmail(lang, "Ana", "Lakeside Health Center", planLink, plan)
			},
			texts: map[string][]string{
				English: {"Lakeside Health Center: how did it go?", "Did you make it?", "Mission Tuesday Circle"},
				Spanish: {"¿cómo le fue?", "¿Pudo ir?"},
			},
		},
		{
			name: "group reminder", link: groupLink,
			build: func(lang string) (Email, error) {
				return GroupReminderEmail(lang, "Mission Tuesday Circle", "Lakeside Health Center", groupLink, testExpiry)
			},
			texts: map[string][]string{
				English: {"Mission Tuesday Circle: someone referred by Lakeside Health Center is waiting", "only reminder", "Saturday, March 14, 2026"},
				Spanish: {"una persona referida por Lakeside Health Center espera", "único recordatorio"},
			},
			absent: []string{"Ana"},
		},
		{
			name: "office notice", link: groupLink,
			build: func(lang string) (Email, error) {
				return OfficeNoticeEmail(lang, "Brooklyn Intergroup", "Mission Tuesday Circle", "Lakeside Health Center", groupLink, testExpiry)
			},
			texts: map[string][]string{
				English: {"Mission Tuesday Circle has not answered a referral from Lakeside Health Center", "Hello Brooklyn Intergroup,",
					"service office of Mission Tuesday Circle", "answer for the group"},
				Spanish: {"no respondió una referencia de Lakeside Health Center", "respondan por el grupo"},
			},
			absent: []string{"Ana"},
		},
	}
	for _, tc := range cases {
		for _, lang := range Languages() {
			t.Run(tc.name+"/"+lang, func(t *testing.T) { checkEmail(t, tc, lang) })
		}
	}
	e, err := MeetingPlanEmail(English, "Ana", "Lakeside Health Center", planLink, plan, testCalendar)
	if err != nil || len(e.Attachments) != 1 || e.Attachments[0].Name != "meeting.ics" {
		t.Errorf("plan's attachment: %v %+v", err, e.Attachments)
	}
	if _, err := MeetingPlanEmail(English, "Ana", "Lakeside Health Center", planLink, plan, mail.Attachment{}); err == nil {
		t.Error("a plan without its calendar was written")
	}
	if _, err := MeetingReminderEmail(English, "Ana", "Lakeside Health Center", planLink, MeetingPlan{}); err == nil {
		t.Error("a reminder without a meeting was written")
	}
	if _, err := CheckInEmail(English, "Ana", "Lakeside Health Center", "/c/relative", plan); err == nil {
		t.Error("a relative link was accepted")
	}

	// Online: how to join, no address.
	online := testPlan(t, true)
	e, err = MeetingPlanEmail(English, "Ana", "Lakeside Health Center", planLink, online, testCalendar)
	if err != nil {
		t.Fatal(err)
	}
	assertContains(t, "online plan", e.Text, "Join online: https://meet.example/mtc", "Thursday, March 12", "12:00 pm–1:00 pm EDT")
	assertLacks(t, "online plan", e.Text, "3100 22nd St")
}

// TestMeetingEmailsEscapeTypedValues: what the group and its volunteer
// typed is escaped, and adds no line to a subject or text.
func TestMeetingEmailsEscapeTypedValues(t *testing.T) {
	for _, bad := range append(hostileNames, "Ana\r\nBcc: evil@example.org") {
		plan := testPlan(t, false)
		plan.GroupName, plan.Volunteer, plan.Meeting.Place = bad, bad, bad
		if !strings.Contains(bad, "\n") {
			plan.Note = bad // a note may hold line breaks: they stay in the body
		}
		for name, build := range map[string]func() (Email, error){
			"plan":     func() (Email, error) { return MeetingPlanEmail(English, bad, bad, planLink, plan, testCalendar) },
			"reminder": func() (Email, error) { return MeetingReminderEmail(Spanish, bad, bad, planLink, plan) },
			"check-in": func() (Email, error) { return CheckInEmail(English, bad, bad, planLink, plan) },
			"group":    func() (Email, error) { return GroupReminderEmail(English, bad, bad, groupLink, testExpiry) },
			"office":   func() (Email, error) { return OfficeNoticeEmail(Spanish, bad, bad, bad, groupLink, testExpiry) },
		} {
			e, err := build()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			assertEscaped(t, name+" html", e.HTML)
			if strings.ContainsAny(e.Subject, "\r\n") || strings.Contains(e.Text, "\nBcc:") {
				t.Errorf("%s: a typed line break kept", name)
			}
		}
	}
}

// TestMeetingTexts: every text is one GSM-7 segment whatever the clinic's
// name, with its link whole and how to stop texts, and names no group,
// topic or condition; the patient's give the meeting's local date and time
// after the daylight-saving change.
func TestMeetingTexts(t *testing.T) {
	short := strings.Repeat("T", 22) // a 128-bit text token, as every text's link must carry
	long := strings.Repeat("G", 43)  // a page token
	links := []string{"http://127.0.0.1:3000/x/" + short, "https://handoff.example.org/x/" + short}
	clinics := []string{"Lakeside Health", "Clínica Comunitaria San José de la Montaña — Servicios de Salud Mental y Adicciones"}
	forbidden := []string{"alcohol", "AA ", "NA ", "SMART", "grief", "cancer", "diabetes", "Mission", "Circle", "recovery", "Ana"}
	start := testMeetings(t)[0].Start
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	longest := time.Date(2026, 9, 30, 12, 0, 0, 0, ny) // "miércoles 30 de septiembre"
	type build struct {
		name string
		fn   func(lang, clinic, link string) (string, error)
		when map[string]string // the local date and time it must give, by language
	}
	builds := []build{
		{"group notice", func(lang, c, l string) (string, error) { return GroupNoticeSMS(lang, c, l, false) }, nil},
		{"group reminder", func(lang, c, l string) (string, error) { return GroupNoticeSMS(lang, c, l, true) }, nil},
		{"plan", func(lang, c, l string) (string, error) { return MeetingPlanSMS(lang, c, l, start) },
			map[string]string{English: "Tue, Mar 10, 7:00 pm EDT", Spanish: "martes 10 de marzo, 19:00 EDT"}},
		{"plan, longest date", func(lang, c, l string) (string, error) { return MeetingPlanSMS(lang, c, l, longest) },
			map[string]string{English: "Wed, Sep 30, 12:00 pm EDT", Spanish: "miércoles 30 de septiembre, 12:00 EDT"}},
		{"reminder, longest date", func(lang, c, l string) (string, error) { return MeetingReminderSMS(lang, c, l, longest) },
			map[string]string{English: "Wed, Sep 30, 12:00 pm EDT", Spanish: "miércoles 30 de septiembre, 12:00 EDT"}},
		{"meeting reminder", func(lang, c, l string) (string, error) { return MeetingReminderSMS(lang, c, l, start) },
			map[string]string{English: "Tue, Mar 10, 7:00 pm EDT", Spanish: "martes 10 de marzo, 19:00 EDT"}},
		{"check-in", func(lang, c, l string) (string, error) { return CheckInSMS(lang, c, l) }, nil},
	}
	for _, b := range builds {
		for _, lang := range Languages() {
			for _, clinic := range clinics {
				for _, link := range links {
					body, err := b.fn(lang, clinic, link)
					if err != nil {
						t.Errorf("%s %s %d-char link: %v", b.name, lang, len(link), err)
						continue
					}
					c := sms.Measure(body)
					t.Logf("%-16s %s link %2d: %3d septets: %s", b.name, lang, len(link), c.Units, body)
					if c.Encoding != sms.GSM7 || c.Segments != 1 {
						t.Errorf("%q: %d %s units, want one GSM-7 segment", body, c.Units, c.Encoding)
					}
					if !strings.Contains(body, " "+link+" ") || !strings.Contains(body, "STOP") {
						t.Errorf("%q: the link or STOP is missing", body)
					}
					if !strings.Contains(body, "Lakeside Hea") && !strings.Contains(body, "Clinica Comu") {
						t.Errorf("%q: no clinic (at least %d characters of it)", body, MinTextClinic)
					}
					if w := b.when[lang]; w != "" && !strings.Contains(body, w) {
						t.Errorf("%q lacks %q", body, w)
					}
					for _, f := range forbidden {
						if strings.Contains(body, f) {
							t.Errorf("%q names %q", body, f)
						}
					}
				}
			}
		}
	}
	// A page link's 43-character token leaves no room for the clinic in the
	// Spanish reminder behind an https host: texts carry 22-character tokens.
	if _, err := GroupNoticeSMS(Spanish, "Lakeside", "https://handoff.example.org/g/"+long, true); err == nil ||
		!strings.Contains(err.Error(), "HANDOFF_PUBLIC_URL") {
		t.Errorf("a link too long for one segment: %v", err)
	}
	if _, err := MeetingPlanSMS(English, "Lakeside", planLink, time.Time{}); err == nil {
		t.Error("a plan text without a time")
	}
}

// TestCalendarText: the summary and location a lock screen may show name
// no group; the description has the group, the note and how to join.
func TestCalendarText(t *testing.T) {
	for _, lang := range Languages() {
		sum, loc, desc, err := CalendarText(lang, testPlan(t, false))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sum+loc, "Mission") || !strings.Contains(sum, "Sam") || loc != "3100 22nd St, Brooklyn, 11201" {
			t.Errorf("%s: summary %q location %q", lang, sum, loc)
		}
		if !strings.Contains(desc, "Mission Tuesday Circle") || !strings.Contains(desc, "blue jacket") {
			t.Errorf("%s: description %q", lang, desc)
		}
		sum, loc, desc, err = CalendarText(lang, testPlan(t, true))
		if err != nil {
			t.Fatal(err)
		}
		if loc != map[string]string{English: "Online", Spanish: "En línea"}[lang] || !strings.Contains(desc, "https://meet.example/mtc") {
			t.Errorf("%s online: location %q description %q", lang, loc, desc)
		}
		assertNoClinicalWords(t, "calendar", sum+loc+desc, extraForPatientMail...)
	}
}

// TestRenderGroupFirstMeeting: while notified, the group's next meetings
// are first_meeting choices by day; once accepted, the chosen meeting, and
// once it has begun, attended and missed; connected with an answer, the
// answer. Nothing about the patient on a closed page.
func TestRenderGroupFirstMeeting(t *testing.T) {
	ms := testMeetings(t)
	render := func(v GroupView) string {
		t.Helper()
		var b strings.Builder
		if err := RenderGroup(&b, v); err != nil {
			t.Fatal(err)
		}
		assertAccessiblePage(t, string(v.State), b.String())
		return b.String()
	}
	for _, lang := range Languages() {
		v := testGroupView(lang, referral.RouteNotified)
		v.Meetings = ms
		page := render(v)
		assertContains(t, "notified "+lang, page, `name="first_meeting" value="" checked`,
			`value="2026-03-10T19:00"`, `value="2026-03-12T12:00"`, `value="2026-03-17T19:00"`, `value="2026-03-19T12:00"`)
		if n := strings.Count(page, `<fieldset class="day">`); n != 4 {
			t.Errorf("%s: %d days, want 4", lang, n)
		}
		want := map[string][]string{
			English: {"Tuesday, March 10", "7:00 pm–8:30 pm EDT", "Meets in person: 3100 22nd St", "Thursday, March 12", "Meets online"},
			Spanish: {"martes 10 de marzo", "19:00–20:30 EDT", "jueves 12 de marzo"},
		}[lang]
		assertContains(t, "notified "+lang, visibleText(page), want...)

		v = testGroupView(lang, referral.RouteAccepted)
		v.FirstMeeting, v.AskAttendance = &ms[0], true
		page = render(v)
		assertContains(t, "accepted "+lang, page, `value="attended"`, `value="missed"`, `value="connected"`)
		assertContains(t, "accepted "+lang, visibleText(page), map[string]string{English: "Tuesday, March 10", Spanish: "martes 10 de marzo"}[lang])

		v.AskAttendance = false
		page = render(v)
		assertLacks(t, "before the meeting "+lang, page, `value="attended"`)

		v = testGroupView(lang, referral.RouteConnected)
		v.FirstMeeting, v.AskAttendance = &ms[0], true
		page = render(v)
		assertContains(t, "connected "+lang, page, `value="attended"`, `value="missed"`)
		assertLacks(t, "connected "+lang, page, "Ana", "ana.diaz@example.org")
		v.Attendance = ActionMissed
		page = render(v)
		assertLacks(t, "answered "+lang, page, `value="attended"`, "<form")
		assertContains(t, "answered "+lang, visibleText(page), map[string]string{English: "did not come", Spanish: "no vino"}[lang])
	}
	v := testGroupView(English, referral.RouteConnected)
	v.FirstMeeting, v.Attendance = &ms[0], "maybe"
	if err := RenderGroup(&strings.Builder{}, v); err == nil {
		t.Error("an unknown attendance was rendered")
	}
	v = testGroupView(English, referral.RouteConnected)
	v.FirstMeeting, v.AskAttendance, v.ActionURL = &ms[0], true, ""
	if err := RenderGroup(&strings.Builder{}, v); err == nil {
		t.Error("an attendance form without an action URL was rendered")
	}
}

// TestRenderConsentPlan: the confirmed page shows the plan and its
// calendar link; after the meeting, the check-in; after "missed", the
// group's next meetings and the other groups; the consent text (hashed
// into the consent record) does not change with any of it.
func TestRenderConsentPlan(t *testing.T) {
	ms := testMeetings(t)
	base := testConsentView(English, ConsentConfirmed)
	text, err := ConsentText(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range Languages() {
		v := testConsentView(lang, ConsentConfirmed)
		plan := testPlan(t, false)
		v.Chosen, v.Plan, v.CalendarURL = []string{"grp-01"}, &plan, "/c/AbCdEf0123456789/meeting.ics"
		render := func() string {
			t.Helper()
			var b strings.Builder
			if err := RenderConsent(&b, v); err != nil {
				t.Fatal(err)
			}
			assertAccessiblePage(t, "consent plan", b.String())
			return b.String()
		}
		page := render()
		assertContains(t, "plan "+lang, page, `href="/c/AbCdEf0123456789/meeting.ics"`)
		assertContains(t, "plan "+lang, visibleText(page), map[string][]string{
			English: {"Your first meeting", "Mission Tuesday Circle", "Tuesday, March 10", "7:00 pm–8:30 pm EDT", "3100 22nd St", "Sam wrote:", "blue jacket"},
			Spanish: {"Su primera reunión", "martes 10 de marzo", "19:00–20:30 EDT", "Sam escribió:"},
		}[lang]...)
		assertLacks(t, "plan "+lang, page, `value="attended"`)

		v.CheckIn = true
		page = render()
		assertContains(t, "check-in "+lang, page, `value="attended"`, `value="missed"`, `value="revoke"`)

		v.Attendance, v.NextMeetings, v.OtherGroups = ActionMissed, ms[2:], testGroups()[1:]
		page = render()
		assertLacks(t, "missed "+lang, page, `value="attended"`)
		assertContains(t, "missed "+lang, visibleText(page), map[string][]string{
			English: {"The group's next meetings", "Tuesday, March 17, 7:00 pm–8:30 pm EDT", "Other groups that could fit", "Evening Online Group", "talk to Lakeside Health Center"},
			Spanish: {"Las próximas reuniones del grupo", "martes 17 de marzo, 19:00–20:30 EDT", "Evening Online Group"},
		}[lang]...)

		v.Attendance = ActionAttended
		page = render()
		assertLacks(t, "attended "+lang, page, "next meetings", "Evening Online Group")
		assertContains(t, "attended "+lang, visibleText(page), map[string]string{English: "You told us you went.", Spanish: "Nos dijo que fue."}[lang])

		if lang == English {
			if got, err := ConsentText(v); err != nil || got != text {
				t.Errorf("the consent text changed with the plan (%v)", err)
			}
		}
	}
	v := testConsentView(English, ConsentConfirmed)
	plan := testPlan(t, false)
	v.Plan = &plan
	if err := RenderConsent(&strings.Builder{}, v); err == nil {
		t.Error("a plan without its calendar link was rendered")
	}
	for _, bad := range hostileNames {
		p := testPlan(t, false)
		p.GroupName, p.Volunteer, p.Note, p.Meeting.Place, p.Meeting.JoinURL = bad, bad, bad, bad, "javascript:alert(1)"
		p.Meeting.Online = true
		v := testConsentView(English, ConsentConfirmed)
		v.Plan, v.CalendarURL = &p, "/c/AbCdEf0123456789/meeting.ics"
		var b strings.Builder
		if err := RenderConsent(&b, v); err != nil {
			t.Fatal(err)
		}
		assertEscaped(t, "plan", b.String())
		assertLacks(t, "plan", b.String(), `href="javascript`)
	}
}

// TestClinicianEmailAttended: the new status reads in both languages.
func TestClinicianEmailAttended(t *testing.T) {
	for _, lang := range Languages() {
		e, err := ClinicianStatusEmail(lang, "Dr. Jan Rivera", "Lakeside Health Center", "EHR-1", "01J9", referral.Status("attended"), testSigned)
		if err != nil {
			t.Fatal(err)
		}
		assertContains(t, lang, e.Subject+e.Text, map[string]string{English: "went to the first meeting", Spanish: "fue a la primera reunión"}[lang])
		assertNoClinicalWords(t, "clinician email", e.Subject+e.Text)
	}
}
