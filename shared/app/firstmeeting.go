package app

import (
	"context"
	"slices"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// The first meeting, as far as the core keeps it: the group's accept
// chooses one of its next meetings (and writes, in its transaction, the
// events that bring the patient the plan, the one reminder, the check-in
// and the week's end of waiting); either page says whether the patient
// went. What those events do is the effect of a package beside this one
// (shared/meeting).

// firstContact adds to the change that notifies a group (route seq, its
// answer due by deadline) what brings a first contact quickly: the notice
// by text, with a link of its own, to a contact who agreed to texts; and,
// when HANDOFF_FIRST_CONTACT_WINDOW runs out before the deadline, the
// window's event (one reminder to the group, the notice to its service
// office).
func (a *App) firstContact(ctx context.Context, ch *dynamo.Change, r *referral.Referral, g directory.Group, seq int, deadline time.Time, data map[string]string) error {
	now := a.now()
	if g.Contact.Texts && g.Contact.Phone != "" && a.Config.Texts() {
		_, t, err := a.routeToken(ctx, "group-text", r, seq, deadline)
		if err != nil {
			return err
		}
		ch.Tokens = append(ch.Tokens, t)
		ch.Events = append(ch.Events, a.NewEvent(r, referral.GroupText, now, func(e *referral.Event) { e.Data = data }))
	}
	if w := now.Add(a.Config.FirstContactWindow); w.Before(deadline) {
		ch.Events = append(ch.Events, a.NewEvent(r, referral.GroupWindow, w, func(e *referral.Event) { e.Data = data }))
	}
	return nil
}

// windowsOf are the pending first-contact window events of route rt: an
// answer to the route (or its time-out) leaves them nothing to do.
func windowsOf(rec *dynamo.Record, rt referral.Route) []referral.Event {
	var out []referral.Event
	for _, e := range pendingOf(rec, referral.GroupWindow) {
		if e.Data["route"] == itoa(rt.Seq) {
			out = append(out, e)
		}
	}
	return out
}

// pendingOf are rec's pending events of the given types.
func pendingOf(rec *dynamo.Record, types ...referral.EventType) []referral.Event {
	var out []referral.Event
	for _, e := range rec.Events {
		if rec.Pending[e.ID] && slices.Contains(types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}

// OfficeToken is the token of the link a group's service office gets for
// route rt, and its record: it opens the group's page and answers for the
// group, until the group's own link would stop working.
func (a *App) OfficeToken(ctx context.Context, r *referral.Referral, rt referral.Route) (string, dynamo.Token, error) {
	return a.routeToken(ctx, "office", r, rt.Seq, rt.Deadline)
}

// routeToken is a link token of route seq's group page (kind group,
// group-text or office) and its record: it works until groupLinkGrace after
// the group's answer is due, so that an accepting group can later say
// whether it connected, and the retention after that it is deleted.
func (a *App) routeToken(ctx context.Context, kind string, r *referral.Referral, seq int, deadline time.Time) (string, dynamo.Token, error) {
	tok, hash, err := a.LinkToken(ctx, kind, r.ID, seq)
	if err != nil {
		return "", dynamo.Token{}, err
	}
	return tok, dynamo.Token{
		Hash: hash, Kind: kind, ReferralID: r.ID, ClinicID: r.ClinicID, RouteSeq: seq,
		ExpiresAt: deadline.Add(groupLinkGrace), TTL: deadline.Add(groupLinkGrace + a.Config.Retention).Unix(),
	}, nil
}

// pickMeeting is the first meeting a group chose on its page: value must
// be one of the occurrences the page offers now. Errors: problem.Invalid
// (naming first_meeting) for a value that is not one, problem.NotFound for
// a group that left the directory, and the store's.
func (a *App) pickMeeting(ctx context.Context, rt referral.Route, value string) (*referral.FirstMeeting, error) {
	g, err := a.Directory.GetGroup(ctx, rt.GroupID)
	if err != nil {
		return nil, err
	}
	o, err := occurrence.Pick(value, occurrence.List(g, a.now()))
	if err != nil {
		return nil, err
	}
	plan := o.Plan(rt.GroupID, rt.Seq, a.now())
	return &plan, nil
}

// planEvents are the events a plan brings, written with the accept that
// makes it: the plan to the patient now; the reminder
// HANDOFF_MEETING_REMINDER before the meeting, unless that moment has
// passed; the check-in HANDOFF_CHECKIN_AFTER after it ends; and the end
// of waiting for the word on it, a week after it ends. The three messages
// carry the best of chs (PatientChannels) as DataChannel: each goes, and a
// retry stays, on it without a ledger read.
func (a *App) planEvents(r *referral.Referral, plan referral.FirstMeeting, chs []string) []referral.Event {
	now := a.now()
	data := func(message bool) func(*referral.Event) {
		return func(e *referral.Event) {
			e.Data = map[string]string{"route": itoa(plan.Route), "group": plan.GroupID, "meeting": plan.Value}
			if message && len(chs) > 0 {
				e.Data[DataChannel] = chs[0]
			}
		}
	}
	out := []referral.Event{a.NewEvent(r, referral.MeetingPlanned, now, data(true))}
	if at := plan.Start.Add(-a.Config.MeetingReminder); at.After(now) {
		out = append(out, a.NewEvent(r, referral.MeetingReminder, at, data(true)))
	}
	return append(out,
		a.NewEvent(r, referral.MeetingCheckIn, plan.End.Add(a.Config.CheckInAfter), data(true)),
		a.NewEvent(r, referral.MeetingClose, plan.End.Add(referral.MeetingSettleAfter), data(false)))
}

// answerAttendance records the word on the first meeting, given by the
// patient or the group (by, in the timeline's words): attended moves the
// referral to attended (and the group's route, if it had not said so, to
// connected); missed is noted in the timeline and changes no status. It
// reports whether it changed anything: a word the referral does not wait
// for (no first meeting, the meeting not yet begun, the week after it run
// out, the referral closed, or a missed after a word) changes nothing.
// Errors: the store's (problem.Conflict when the referral changed
// meanwhile).
func (a *App) answerAttendance(ctx context.Context, rec *dynamo.Record, answer, by string) (bool, error) {
	r := rec.Referral
	now := a.now()
	if !r.AwaitsMeeting() || now.Before(r.FirstMeeting.Start) {
		return false, nil
	}
	plan := *r.FirstMeeting
	plan.Attendance, plan.AnsweredAt = answer, now
	switch answer {
	case referral.AttendanceAttended:
		if !r.CanMove(referral.Attended) {
			return false, nil
		}
		r.FirstMeeting = &plan
		r.Status, r.UpdatedAt = referral.Attended, now
		ch := dynamo.Change{Referral: r, Events: []referral.Event{a.StatusEvent(r, "the patient went to the first meeting ("+by+" said so)")},
			Moot: pendingOf(rec, referral.MeetingReminder, referral.MeetingCheckIn, referral.MeetingClose)}
		for _, rt := range rec.Routes {
			if rt.Seq == plan.Route && referral.CanMoveRoute(rt.Status, referral.RouteConnected) {
				rt.Status, rt.At = referral.RouteConnected, now
				ch.Routes = append(ch.Routes, rt)
			}
		}
		return true, a.Apply(ctx, ch)
	case referral.AttendanceMissed:
		if r.FirstMeeting.Attendance != "" {
			return false, nil
		}
		// Nothing but the word changes: not the status, not the time the
		// referral last changed.
		r.FirstMeeting = &plan
		err := a.Apply(ctx, dynamo.Change{Referral: r, Records: []referral.Event{
			a.Note(r, "the patient did not make it to the first meeting ("+by+" said so)"),
		}, Moot: pendingOf(rec, referral.MeetingCheckIn)})
		if err == nil {
			a.Metrics.Emit("FirstMeetingsMissed", 1, metrics.Count)
		}
		return err == nil, err
	}
	return false, problem.Errorf(problem.Invalid, "unknown answer")
}

// Note is a timeline entry of a step that changes no status (see
// referral.Noted), to write done among the Records of the change that takes
// the step: it has no effect to run.
func (a *App) Note(r *referral.Referral, detail string) referral.Event {
	return a.NewEvent(r, referral.Noted, a.now(), func(e *referral.Event) {
		e.Status, e.Detail = r.Status, detail
	})
}

// groupPlanView adds the first meeting to a group's page: while notified,
// the group's next meetings to choose from; once it chose one, the
// meeting, and, once it has begun, whether the patient went.
func (a *App) groupPlanView(ctx context.Context, r *referral.Referral, rt referral.Route, v *pages.GroupView) error {
	if rt.Status == referral.RouteNotified {
		g, err := a.Directory.GetGroup(ctx, rt.GroupID)
		if problem.Is(err, problem.NotFound) {
			return nil // left the directory: nothing to choose from
		}
		if err != nil {
			return err
		}
		v.Meetings = occurrence.List(g, a.now())
		return nil
	}
	if fm := r.FirstMeeting; fm != nil && fm.Route == rt.Seq {
		o := occurrence.OfPlan(*fm)
		v.FirstMeeting, v.Attendance = &o, fm.Attendance
		v.AskAttendance = r.AwaitsMeeting() && !a.now().Before(fm.Start)
	}
	return nil
}

// consentPlanView adds the first meeting to the patient's confirmed page:
// the plan and its calendar file; once the meeting has begun, whether they
// went; after "missed", the group's next meetings and the other groups
// offered.
func (a *App) consentPlanView(ctx context.Context, token string, rec *dynamo.Record, v *pages.ConsentView) error {
	r := rec.Referral
	fm := r.FirstMeeting
	if fm == nil || v.State != pages.ConsentConfirmed {
		return nil
	}
	plan := PlanOf(rec)
	v.Plan, v.CalendarURL = &plan, "/c/"+token+"/meeting.ics"
	v.Attendance = fm.Attendance
	v.CheckIn = r.AwaitsMeeting() && !a.now().Before(fm.Start)
	if fm.Attendance != referral.AttendanceMissed {
		return nil
	}
	g, err := a.Directory.GetGroup(ctx, fm.GroupID)
	switch {
	case err == nil:
		v.NextMeetings = occurrence.List(g, a.now())
	case !problem.Is(err, problem.NotFound):
		return err
	}
	for _, o := range r.Offers {
		if o.GroupID != fm.GroupID {
			v.OtherGroups = append(v.OtherGroups, pages.GroupOffer{
				ID: o.GroupID, Name: o.Name, Format: o.Format, When: pages.MeetingWhen(v.Lang, o.Meetings),
				DistanceKm: o.DistanceKm, Where: o.City, OnlineHow: o.OnlineURL,
			})
		}
	}
	return nil
}

// PlanOf is a referral's first meeting as the patient's messages and page
// show it: the group, the volunteer it named and their note, the meeting in
// its own zone. The referral must have a first meeting.
func PlanOf(rec *dynamo.Record) pages.MeetingPlan {
	r := rec.Referral
	fm := r.FirstMeeting
	p := pages.MeetingPlan{Meeting: occurrence.OfPlan(*fm)}
	for _, rt := range rec.Routes {
		if rt.Seq == fm.Route {
			p.GroupName = rt.GroupName
		}
	}
	if vol := r.Volunteer; vol != nil && vol.GroupID == fm.GroupID {
		p.Volunteer, p.Note = vol.Name, vol.Note
	}
	return p
}

// PatientRecord resolves a patient's page token (the consent link, by
// email or text) to its referral. Errors: problem.NotFound for an unknown
// token, and the store's.
func (a *App) PatientRecord(ctx context.Context, token string) (*dynamo.Record, error) {
	_, rec, err := a.linkRecord(ctx, token, "consent")
	return rec, err
}

// PatientChannels are the channels that can bring the patient a message
// now, best first (see reachable): empty when none is left.
func (a *App) PatientChannels(r *referral.Referral, c dynamo.Clinic) []string {
	return a.reachable(r.Patient, r.Flags, c)
}
