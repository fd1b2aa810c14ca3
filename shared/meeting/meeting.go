// Package meeting holds what handoff does around a referral's first
// contact and first meeting, beside the core (shared/app), through its
// seam: the effects of the events the core writes when a group is
// notified and when a group's accept names a volunteer or chooses a first
// meeting, and the patient's calendar file.
//
//   - The volunteer an accepting group names (volunteer-named) is
//     introduced to the patient: by email, with their note, or by a text
//     that names the volunteer and the clinic, never the group.
//   - A notice to a group contact who agreed to texts also goes by text
//     (group-text), with the group page's short link: no patient, topic or
//     condition in it.
//   - When HANDOFF_FIRST_CONTACT_WINDOW runs out with no answer
//     (group-window), the group gets one reminder on the same channels and
//     its service office, when the listing names one, the notice with a
//     link of its own that answers for the group (office-notified).
//   - The plan (meeting-planned), the one reminder before the meeting
//     (meeting-reminder) and the check-in after it (meeting-checkin) reach
//     the patient on their channel: by email, the plan with its iCalendar
//     file attached; by text, within the text limits (App.TextPatient: a
//     text that must wait is moved to when it may go, one that would come
//     too late goes by email, or not at all without one).
//   - A week after the meeting (meeting-close), a referral nobody said
//     attended stops waiting for the word; a connected one closes.
//
// Every message is an event's effect, sent at most once through the one
// ledger (App.SendOnce, App.TextOnce); every change is written with its
// events in one transaction (App.Apply). Register adds the effects to the
// one dispatcher; the process's wiring calls it.
package meeting

import (
	"context"
	"net/url"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/ical"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Meetings is the first meeting's effects and calendar, on the core a.
type Meetings struct {
	App *app.App
}

// New returns the first meeting's use cases on a, without adding its
// effects to the dispatcher (a process that serves pages only).
func New(a *app.App) *Meetings { return &Meetings{App: a} }

// Register adds the effects of the first contact's and the first meeting's
// events to a's dispatcher: call it in every process that dispatches,
// while wiring, before it serves.
func Register(a *app.App) *Meetings {
	m := New(a)
	a.Handle(referral.VolunteerNamed, m.onVolunteerNamed)
	a.Handle(referral.GroupText, m.onGroupText)
	a.Handle(referral.GroupWindow, m.onGroupWindow)
	a.Handle(referral.OfficeNotified, m.onOfficeNotified)
	a.Handle(referral.MeetingPlanned, m.onPlanned)
	a.Handle(referral.MeetingReminder, m.onReminder)
	a.Handle(referral.MeetingCheckIn, m.onCheckIn)
	a.Handle(referral.MeetingClose, m.onClose)
	return m
}

// Calendar returns the iCalendar file of the first meeting of the referral
// whose patient page token is token: the same file the plan's email
// carries. Errors: problem.NotFound for an unknown token or a referral
// without a first meeting the patient's page shows (none chosen, or
// consent taken back), and the store's.
func (m *Meetings) Calendar(ctx context.Context, token string) ([]byte, error) {
	rec, err := m.App.PatientRecord(ctx, token)
	if err != nil {
		return nil, err
	}
	r := rec.Referral
	state, _ := pages.ConsentStateFor(r.Status)
	if r.FirstMeeting == nil || r.Consent == nil || state != pages.ConsentConfirmed {
		return nil, problem.Errorf(problem.NotFound, "no first meeting")
	}
	return m.calendar(rec)
}

// calendar writes a referral's first meeting as an iCalendar file in the
// patient's language: its UID and DTSTAMP are fixed by the plan, so the
// file is the same every time it is written.
func (m *Meetings) calendar(rec *dynamo.Record) ([]byte, error) {
	r := rec.Referral
	plan := app.PlanOf(rec)
	summary, location, description, err := pages.CalendarText(pages.Lang(r.Consent.Language), plan)
	if err != nil {
		return nil, err
	}
	host := "handoff"
	if u, err := url.Parse(m.App.Config.PublicURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return ical.Write(ical.Event{
		UID: ical.UID(host, r.ID, r.FirstMeeting.Value), Start: plan.Meeting.Start, End: plan.Meeting.End,
		Stamp: r.FirstMeeting.At, Summary: summary, Location: location, JoinURL: plan.Meeting.JoinURL,
		Description: description,
	})
}

// attachment is the plan's calendar file as an email attachment.
func (m *Meetings) attachment(rec *dynamo.Record) (mail.Attachment, error) {
	b, err := m.calendar(rec)
	if err != nil {
		return mail.Attachment{}, err
	}
	return mail.Attachment{Name: ical.FileName, ContentType: ical.ContentType, Data: b}, nil
}

// routeOf is the route an event of a route names (its data's "route").
func routeOf(rec *dynamo.Record, ev referral.Event) (referral.Route, bool) {
	for _, rt := range rec.Routes {
		if itoa(rt.Seq) == ev.Data["route"] {
			return rt, true
		}
	}
	return referral.Route{}, false
}
