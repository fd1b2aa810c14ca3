package pages

import (
	"fmt"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/sms"
)

// The first meeting: what the group's page offers (the group's next
// meetings as first_meeting choices, and, once it has begun, attended or
// missed), what the patient's page shows (the plan, its calendar file, the
// check-in and, after "missed", the next meetings and other groups), and
// the messages around it: the plan, the one reminder and the check-in to
// the patient, by email or text; the reminder to a group that has not
// answered and the notice to its office. Times are shown in the meeting's
// own time zone, named.

// Notices after an attendance answer (consent and group pages).
const (
	NoticeAttended = "attended"
	NoticeMissed   = "missed"
)

// MeetingPlan is the first meeting a group chose for a patient.
type MeetingPlan struct {
	GroupName string
	// Volunteer and Note: the first name of who will meet the patient and
	// their note, when the group gave them.
	Volunteer string
	Note      string
	Meeting   occurrence.Occurrence
}

// Day writes a meeting's date: "Tuesday, March 10" or "martes 10 de marzo".
func (t tr) Day(at time.Time) (string, error) {
	weekday, month, err := t.dayNames(at, "")
	if err != nil {
		return "", err
	}
	return t.T("date.day", "Weekday", weekday, "Month", month, "Day", at.Day())
}

// Span writes a meeting's hours in its own zone, named: "7:00 pm–8:30 pm
// EDT" or "19:00–20:30 EDT".
func (t tr) Span(start, end time.Time) (string, error) {
	layout, err := t.T("time.layout")
	if err != nil {
		return "", err
	}
	return start.Format(layout) + "–" + end.In(start.Location()).Format(layout) + " " + start.Format("MST"), nil
}

// Clock writes a moment's time of day in its zone, named: "7:00 pm EDT".
func (t tr) Clock(at time.Time) (string, error) {
	layout, err := t.T("time.layout")
	if err != nil {
		return "", err
	}
	return at.Format(layout) + " " + at.Format("MST"), nil
}

// how says how an occurrence is attended: in person, online, or both.
func (t tr) how(o occurrence.Occurrence) (string, error) {
	switch {
	case o.InPerson && o.Online:
		return t.T("format.hybrid")
	case o.Online:
		return t.T("format.online")
	}
	return t.T("format.in-person")
}

// planFields are the plan's lines: the group, who will meet the patient,
// the date, the time, and where or how to join.
func planFields(t tr, p MeetingPlan, withGroup bool) ([]field, error) {
	o := p.Meeting
	day, err := t.Day(o.Start)
	if err != nil {
		return nil, err
	}
	hours, err := t.Span(o.Start, o.End)
	if err != nil {
		return nil, err
	}
	rows := []struct{ id, value string }{
		{"plan.field.date", day},
		{"plan.field.time", hours},
	}
	if withGroup {
		rows = append([]struct{ id, value string }{{"plan.field.group", oneLine(p.GroupName)}}, rows...)
	}
	if v := oneLine(p.Volunteer); v != "" {
		rows = append(rows, struct{ id, value string }{"plan.field.with", v})
	}
	if o.InPerson {
		rows = append(rows, struct{ id, value string }{"plan.field.where", oneLine(o.Place)})
	}
	if o.Online {
		join := o.JoinURL
		if join == "" {
			join = o.JoinInstructions
		}
		rows = append(rows, struct{ id, value string }{"plan.field.online", oneLine(join)})
	}
	var out []field
	for _, r := range rows {
		if r.value == "" {
			continue
		}
		label, err := t.T(r.id)
		if err != nil {
			return nil, err
		}
		out = append(out, field{Label: label, Value: r.value})
	}
	return out, nil
}

// attendance is the question after a first meeting, on the patient's
// page and the group's ("attendance" in layout.html): Ask offers attended
// and missed, in Words; Answered is the answer given, in words.
type attendance struct {
	Ask      bool
	Words    askText
	Answered string
}

// askText is the attendance question's heading and its two answers.
type askText struct{ Heading, Attended, Missed string }

// askWords translates the attendance question's message ids.
func askWords(t tr, heading, attended, missed string) (askText, error) {
	var w askText
	for _, m := range []struct {
		id  string
		out *string
	}{{heading, &w.Heading}, {attended, &w.Attended}, {missed, &w.Missed}} {
		s, err := t.T(m.id)
		if err != nil {
			return askText{}, err
		}
		*m.out = s
	}
	return w, nil
}

// dayChoices are a group's meetings as the accept form lists them: by
// local day, in the order given.
type dayChoices struct {
	Label   string
	Options []meetingChoice
}

type meetingChoice struct {
	ID    int    // tells the radios apart
	Value string // first_meeting's value
	Hours string
	How   string
	Where string
}

func meetingDays(t tr, os []occurrence.Occurrence) ([]dayChoices, error) {
	var days []dayChoices
	last := ""
	for i, o := range os {
		label, hours, err := t.dayHours(o)
		if err != nil {
			return nil, err
		}
		how, err := t.how(o)
		if err != nil {
			return nil, err
		}
		if label != last {
			days = append(days, dayChoices{Label: label})
			last = label
		}
		c := meetingChoice{ID: i + 1, Value: o.Value(), Hours: hours, How: how}
		if o.InPerson {
			c.Where = oneLine(o.Place)
		}
		days[len(days)-1].Options = append(days[len(days)-1].Options, c)
	}
	return days, nil
}

// meetingLines are occurrences in one line each: "Tuesday, March 17,
// 7:00 pm–8:30 pm EDT".
func meetingLines(t tr, os []occurrence.Occurrence) ([]string, error) {
	var out []string
	for _, o := range os {
		day, hours, err := t.dayHours(o)
		if err != nil {
			return nil, err
		}
		out = append(out, day+", "+hours)
	}
	return out, nil
}

// dayHours writes an occurrence's local day (Day) and hours (Span).
func (t tr) dayHours(o occurrence.Occurrence) (day, hours string, err error) {
	if day, err = t.Day(o.Start); err != nil {
		return "", "", err
	}
	if hours, err = t.Span(o.Start, o.End); err != nil {
		return "", "", err
	}
	return day, hours, nil
}

// MeetingPlanEmail brings a patient the first meeting a group chose: the
// group, who will meet them and their note, the date, time and place (or
// that it is online and how to join), the link to their page, and calendar
// (the plan's .ics, see shared/ical) attached. Its subject names only the
// clinic. It returns an Invalid error for a bad link and an error for a
// plan without a meeting or a calendar without data.
func MeetingPlanEmail(lang, givenName, clinicName, link string, plan MeetingPlan, calendar mail.Attachment) (Email, error) {
	if len(calendar.Data) == 0 || calendar.Name == "" {
		return Email{}, fmt.Errorf("plan email: no calendar file")
	}
	e, err := planEmail("plan", "email.plan.subject", lang, givenName, clinicName, link, plan)
	if err != nil {
		return Email{}, err
	}
	e.Attachments = []mail.Attachment{calendar}
	return e, nil
}

// MeetingReminderEmail is the one reminder of the first meeting, before it.
// Its subject names only the clinic. Errors as MeetingPlanEmail's.
func MeetingReminderEmail(lang, givenName, clinicName, link string, plan MeetingPlan) (Email, error) {
	return planEmail("meetingreminder", "email.meetingreminder.subject", lang, givenName, clinicName, link, plan)
}

// CheckInEmail asks the patient, after the first meeting, whether they made
// it, with the link to their page (which offers "I went" and "I could not
// go"). Its subject names only the clinic. Errors as MeetingPlanEmail's.
func CheckInEmail(lang, givenName, clinicName, link string, plan MeetingPlan) (Email, error) {
	return planEmail("checkin", "email.checkin.subject", lang, givenName, clinicName, link, plan)
}

func planEmail(name, subjectID, lang, givenName, clinicName, link string, plan MeetingPlan) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	if plan.Meeting.Start.IsZero() {
		return Email{}, fmt.Errorf("%s email: no meeting", name)
	}
	d, err := newMail(lang, clinicName, subjectID)
	if err != nil {
		return Email{}, err
	}
	d.Name, d.Link, d.Group = oneLine(givenName), link, oneLine(plan.GroupName)
	d.Volunteer, d.Note = oneLine(plan.Volunteer), plan.Note
	if d.Fields, err = planFields(d.tr, plan, true); err != nil {
		return Email{}, err
	}
	if d.Date, err = d.tr.Day(plan.Meeting.Start); err != nil {
		return Email{}, err
	}
	return d.render(name)
}

// GroupReminderEmail is the one reminder to a group's contact who has not
// answered a notice within the first-contact window: someone referred by
// the clinic still waits, and the link (the notice's own) to answer by
// deadline. It says nothing about the patient. It returns an Invalid error
// for a bad link.
func GroupReminderEmail(lang, groupName, clinicName, link string, deadline time.Time) (Email, error) {
	return deadlineEmail("groupreminder", lang, "", groupName, clinicName, link, deadline)
}

// OfficeNoticeEmail tells a group's service office that the group has not
// answered a referral within the first-contact window, with a link of its
// own that answers for the group by deadline. It names the group and the
// clinic, nothing about the patient (the page behind the link shows what
// the patient agreed to share). It returns an Invalid error for a bad link.
func OfficeNoticeEmail(lang, officeName, groupName, clinicName, link string, deadline time.Time) (Email, error) {
	return deadlineEmail("office", lang, officeName, groupName, clinicName, link, deadline)
}

// deadlineEmail writes template name (subject email.<name>.subject) about
// a group that has not answered, to toName (none for the group's own
// contact), with the link to answer by deadline.
func deadlineEmail(name, lang, toName, groupName, clinicName, link string, deadline time.Time) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	group := oneLine(groupName)
	d, err := newMail(lang, clinicName, "email."+name+".subject", "Group", group)
	if err != nil {
		return Email{}, err
	}
	d.Group, d.Link, d.Name = group, link, oneLine(toName)
	if d.Date, err = d.tr.Date(deadline); err != nil {
		return Email{}, err
	}
	return d.render(name)
}

// CalendarText is what a plan's calendar file says, in the patient's
// language: a summary and a location that name no group (a calendar's
// alert shows them on a lock screen: "First meeting, with Sam";
// the address, or "Online"), and a description with the group's name,
// the volunteer's note and how to join. Pass them to ical.Write.
func CalendarText(lang string, plan MeetingPlan) (summary, location, description string, err error) {
	t, err := newTr(lang)
	if err != nil {
		return "", "", "", err
	}
	if v := oneLine(plan.Volunteer); v != "" {
		summary, err = t.T("calendar.summary.with", "Volunteer", v)
	} else {
		summary, err = t.T("calendar.summary")
	}
	if err != nil {
		return "", "", "", err
	}
	o := plan.Meeting
	location = oneLine(o.Place)
	if !o.InPerson {
		if location, err = t.T("calendar.online"); err != nil {
			return "", "", "", err
		}
	}
	lines := []string{oneLine(plan.GroupName)}
	if n := strings.TrimSpace(plan.Note); n != "" {
		lines = append(lines, n)
	}
	if o.Online {
		join := o.JoinURL
		if join == "" {
			join = o.JoinInstructions
		}
		if join = oneLine(join); join != "" {
			line, err := t.T("calendar.join", "Join", join)
			if err != nil {
				return "", "", "", err
			}
			lines = append(lines, line)
		}
	}
	return summary, location, strings.Join(lines, "\n"), nil
}

// GroupNoticeSMS is the text that brings a group's contact who agreed to
// texts a referral notice (reminder false) or the one reminder: one GSM-7
// segment naming handoff and the clinic, saying that a referred person
// asks to connect, with the group page's link and how to stop texts. It
// names no patient, topic or condition. A 43-character token leaves room
// only behind a short HANDOFF_PUBLIC_URL: give group texts a 22-character
// token, as the consent text has. It returns an Invalid error for a bad
// link and an error when the link leaves less than MinTextClinic
// characters for the clinic.
func GroupNoticeSMS(lang, clinicName, link string, reminder bool) (string, error) {
	id := "text.group.notice"
	if reminder {
		id = "text.group.reminder"
	}
	return oneSegment(lang, id, clinicName, link)
}

// MeetingPlanSMS brings a patient reached by text the first meeting's date
// and time (in the meeting's zone, named) and the link to their page, where
// the rest is; never the group's name. Errors as GroupNoticeSMS's.
func MeetingPlanSMS(lang, clinicName, link string, start time.Time) (string, error) {
	return whenSegment(lang, "text.plan", clinicName, link, start)
}

// MeetingReminderSMS is the one reminder of the first meeting by text, as
// MeetingPlanSMS.
func MeetingReminderSMS(lang, clinicName, link string, start time.Time) (string, error) {
	return whenSegment(lang, "text.meetingreminder", clinicName, link, start)
}

// CheckInSMS asks the patient by text whether they made it to the first
// meeting, with the link to their page. Errors as GroupNoticeSMS's.
func CheckInSMS(lang, clinicName, link string) (string, error) {
	return oneSegment(lang, "text.checkin", clinicName, link)
}

func whenSegment(lang, id, clinicName, link string, start time.Time) (string, error) {
	if start.IsZero() {
		return "", fmt.Errorf("%s: no meeting time", id)
	}
	t, err := newTr(lang)
	if err != nil {
		return "", err
	}
	when, err := t.Short(start)
	if err != nil {
		return "", err
	}
	return oneSegment(lang, id, clinicName, link, "When", when)
}

// Short writes a meeting's date and time for a text: "Tue, Mar 10, 7:00 pm
// EDT" or "martes 10 de marzo, 19:00 EDT".
func (t tr) Short(at time.Time) (string, error) {
	weekday, month, err := t.dayNames(at, "short.")
	if err != nil {
		return "", err
	}
	clock, err := t.Clock(at)
	if err != nil {
		return "", err
	}
	return t.T("date.short", "Weekday", weekday, "Month", month, "Day", at.Day(), "Time", clock)
}

// oneSegment writes text message id with link and kv in one GSM-7 segment,
// giving the clinic's name what room is left (see ConsentSMS).
func oneSegment(lang, id, clinicName, link string, kv ...any) (string, error) {
	if err := checkLink(link); err != nil {
		return "", err
	}
	t, err := newTr(lang)
	if err != nil {
		return "", err
	}
	const mark = "\x00"
	frame, err := t.T(id, append([]any{"Clinic", mark, "Link", link}, kv...)...)
	if err != nil {
		return "", err
	}
	frame = gsmOnly(strings.Replace(frame, mark, "", 1))
	// The frame without the name may have lost a space around it (gsmOnly
	// closes up runs of spaces): give the name one septet less if need be.
	for room := 160 - sms.Measure(frame).Units; ; room-- {
		clinic := shorten(gsmOnly(oneLine(clinicName)), room)
		if room < MinTextClinic || (clinic == "" && clinicName != "") {
			return "", fmt.Errorf("%s: a %d-character link leaves %d characters for the clinic's name, fewer than %d: shorten HANDOFF_PUBLIC_URL or the link's token", id, len(link), room, MinTextClinic)
		}
		body, err := t.T(id, append([]any{"Clinic", clinic, "Link", link}, kv...)...)
		if err != nil {
			return "", err
		}
		body = gsmOnly(body)
		c := sms.Measure(body)
		if c.Encoding != sms.GSM7 {
			return "", fmt.Errorf("%s: %d %s units, want one GSM-7 segment", id, c.Units, c.Encoding)
		}
		if c.Segments == 1 {
			return body, nil
		}
	}
}
