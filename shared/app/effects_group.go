package app

import (
	"context"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// groupLinkGrace is how long a group's link keeps working after its answer
// deadline, so that an accepting group can later say whether it connected.
const groupLinkGrace = 30 * 24 * time.Hour

// onConsentGiven routes the referral to the patient's first chosen group
// (introduce mode), or sends the patient the chosen groups' details (self mode).
func (a *App) onConsentGiven(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	if r.Status != referral.Consented || r.Consent == nil {
		return a.Referrals.Finish(ctx, ev)
	}
	if r.Consent.Mode == "self" {
		return a.shareWithPatient(ctx, rec, ev)
	}
	ch, err := a.advance(ctx, rec)
	if err != nil {
		return err
	}
	ch.Done = &ev
	return a.Apply(ctx, ch)
}

// advance approaches the next group the patient chose that can take the
// referral now, or closes the referral as unmatched when none is left. It
// returns the change to write; routes already in rec are kept.
func (a *App) advance(ctx context.Context, rec *dynamo.Record) (dynamo.Change, error) {
	r := rec.Referral
	now := a.now()
	ch := dynamo.Change{Referral: r}
	tried := map[string]bool{}
	for _, rt := range rec.Routes {
		tried[rt.GroupID] = true
	}
	for _, gid := range r.Consent.Groups {
		if tried[gid] {
			continue
		}
		g, err := a.Directory.GetGroup(ctx, gid)
		if problem.Is(err, problem.NotFound) {
			continue
		}
		if err != nil {
			return ch, err
		}
		if !g.AcceptingReferrals || g.Paused || g.TemporarilyClosed {
			continue
		}
		// The slot is taken before the route is written: a retry of this
		// step finds it taken by this referral and keeps it.
		ok, err := a.Directory.ReserveSlot(ctx, g.ID, r.ID, g.WeeklyCapacity, now)
		if err != nil {
			return ch, err
		}
		if !ok {
			continue // full this week
		}
		seq := len(rec.Routes) + 1
		deadline := now.Add(a.Config.GroupResponseTimeout)
		_, tok, err := a.routeToken(ctx, "group", r, seq, deadline)
		if err != nil {
			return ch, err
		}
		ch.Routes = append(ch.Routes, referral.Route{
			ReferralID: r.ID, Seq: seq, GroupID: g.ID, GroupName: g.Name, GroupLanguage: pages.GroupLang(g), GroupTimezone: g.Timezone(),
			Status: referral.RouteNotified, At: now, Deadline: deadline,
		})
		ch.Tokens = append(ch.Tokens, tok)
		data := map[string]string{"route": itoa(seq), "group": g.ID}
		ch.Events = append(ch.Events,
			a.NewEvent(r, referral.GroupNotified, now, func(e *referral.Event) { e.Data = data }),
			a.NewEvent(r, referral.GroupDeadline, deadline, func(e *referral.Event) { e.Data = data }),
		)
		if err := a.firstContact(ctx, &ch, r, g, seq, deadline, data); err != nil {
			return ch, err
		}
		if r.Status != referral.Routed {
			r.Status, r.UpdatedAt = referral.Routed, now
			ch.Events = append(ch.Events, a.StatusEvent(r, "group notified"))
		}
		return ch, nil
	}
	r.Status, r.UpdatedAt = referral.Unmatched, now
	ch.Events = append(ch.Events, a.StatusEvent(r, "no chosen group could take the referral"))
	return ch, nil
}

// shareWithPatient emails the patient the chosen groups' details (self mode).
func (a *App) shareWithPatient(ctx context.Context, rec *dynamo.Record, ev referral.Event) error {
	r := rec.Referral
	var details []pages.GroupDetails
	for _, gid := range r.Consent.Groups {
		g, err := a.Directory.GetGroup(ctx, gid)
		if problem.Is(err, problem.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		details = append(details, pages.DetailsOf(g, pages.Lang(r.Consent.Language)))
	}
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	if r.Patient.Email != "" {
		err = a.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
			m, err := pages.SelfModeEmail(pages.Lang(r.Consent.Language), r.Patient.GivenName, clinic.Name, details)
			return m.To(r.Patient.Email), err
		})
		if err != nil {
			return err
		}
	}
	r.Status, r.UpdatedAt = referral.SharedWithPatient, a.now()
	return a.Apply(ctx, dynamo.Change{Referral: r, Done: &ev,
		Events: []referral.Event{a.StatusEvent(r, "group details sent to the patient")}})
}

// routeOf returns the route an event names.
func routeOf(rec *dynamo.Record, ev referral.Event) (referral.Route, bool) {
	seq := ev.Data["route"]
	for _, rt := range rec.Routes {
		if itoa(rt.Seq) == seq {
			return rt, true
		}
	}
	return referral.Route{}, false
}

// onGroupNotified emails the group's contact: only what the patient agreed to
// share, and the /g/ link.
func (a *App) onGroupNotified(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	rt, ok := routeOf(rec, ev)
	if !ok || rt.Status != referral.RouteNotified || r.Consent == nil {
		return a.Referrals.Finish(ctx, ev) // answered, withdrawn or revoked before the email
	}
	g, err := a.Directory.GetGroup(ctx, rt.GroupID)
	if err != nil {
		return err
	}
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	t := a.newTally() // the group notified, counted with the notice sent
	t.counts.Add("C#"+r.ClinicID+"#G#"+rt.GroupID, "g_notified", 1)
	t.metric("Routes")
	err = a.sendOnce(ctx, ev, "email", t, func() (mail.Message, error) {
		tok, _, err := a.LinkToken(ctx, "group", r.ID, rt.Seq)
		if err != nil {
			return mail.Message{}, err
		}
		lang := pages.GroupLang(g)
		m, err := pages.GroupNoticeEmail(lang, g.Name, clinic.Name, r.Patient.GivenName, sharedContact(r),
			r.Patient.Language, preferredTimes(lang, r.Preferences), a.Config.PublicURL+"/g/"+tok, occurrence.Zoned(rt.Deadline, g.Timezone()))
		return m.To(g.Contact.Email), err
	})
	if err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}

// sharedContact is the one contact channel the patient agreed to share.
func sharedContact(r *referral.Referral) string {
	if r.Consent != nil && r.Consent.Channel == "phone" && r.Patient.Phone != "" {
		return r.Patient.Phone
	}
	if r.Patient.Email != "" {
		return r.Patient.Email
	}
	return r.Patient.Phone
}

// onGroupDeadline times out a route nobody answered and moves on.
func (a *App) onGroupDeadline(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	rt, ok := routeOf(rec, ev)
	if !ok || rt.Status != referral.RouteNotified || rec.Referral.Status != referral.Routed {
		return a.Referrals.Finish(ctx, ev)
	}
	ch, err := a.answerRoute(ctx, rec, rt, referral.RouteTimedOut, "", nil, nil)
	if err != nil {
		return err
	}
	ch.Done = &ev
	return a.Apply(ctx, ch)
}

// answerRoute records a group's answer (or a time-out) on a route and what
// follows for the referral: an accept may name the volunteer and choose
// the first meeting (plan).
func (a *App) answerRoute(ctx context.Context, rec *dynamo.Record, rt referral.Route, to referral.RouteStatus, reason string, vol *referral.Volunteer, plan *referral.FirstMeeting) (dynamo.Change, error) {
	r := rec.Referral
	now := a.now()
	first := firstAnswer(rec, rt, to)
	counts := dynamo.NewCounts(now)
	answerCounts(counts, r.ClinicID, rt, to, now)
	rt.Status, rt.Reason, rt.At = to, reason, now
	for i := range rec.Routes {
		if rec.Routes[i].Seq == rt.Seq {
			rec.Routes[i] = rt
		}
	}
	var ch dynamo.Change
	switch to {
	case referral.RouteDeclined, referral.RouteTimedOut:
		next, err := a.advance(ctx, rec)
		if err != nil {
			return ch, err
		}
		ch = next
	case referral.RouteAccepted:
		r.Status, r.UpdatedAt = referral.Accepted, now
		detail := "accepted by " + rt.GroupName
		if vol != nil {
			// The clinic hears that a volunteer was named, never the name.
			r.Volunteer = vol
			detail += "; the group named the volunteer who will reach out"
		}
		if plan != nil {
			r.FirstMeeting = plan
			detail += "; the group chose the first meeting"
		}
		ch = dynamo.Change{Referral: r, Events: []referral.Event{a.StatusEvent(r, detail)}}
		switch {
		case plan != nil: // the plan names the volunteer too
			clinic, err := a.Clinic(ctx, r.ClinicID)
			if err != nil {
				return ch, err
			}
			ch.Events = append(ch.Events, a.planEvents(r, *plan, a.PatientChannels(r, clinic))...)
		case vol != nil:
			ch.Events = append(ch.Events, a.NewEvent(r, referral.VolunteerNamed, now, nil))
		}
	case referral.RouteConnected:
		r.Status, r.UpdatedAt = referral.Connected, now
		ch = dynamo.Change{Referral: r, Events: []referral.Event{a.StatusEvent(r, "the group connected with the patient")}}
	case referral.RouteNotConnected:
		r.Status, r.UpdatedAt = referral.NotConnected, now
		ch = dynamo.Change{Referral: r, Events: []referral.Event{a.StatusEvent(r, "the group could not reach the patient")}}
	}
	ch.Routes = append([]referral.Route{rt}, ch.Routes...)
	ch.Moot = append(ch.Moot, windowsOf(rec, rt)...)
	ch.Counts = counts
	// The answer's record: its counts (and, for the referral's first
	// answer from a group, the time to it: see tally.firstContact) ride in
	// this change, so it has no effect to run.
	ch.Records = append(ch.Records, a.NewEvent(r, referral.RouteAnswered, now, func(e *referral.Event) {
		e.Data = map[string]string{"route": itoa(rt.Seq), "group": rt.GroupID, "answer": string(to)}
		if reason != "" {
			e.Data["reason"] = reason
		}
		if first {
			e.Data["first"] = "1" // the referral's first answer from a group
		}
	}))
	return ch, nil
}

// firstAnswer reports whether a group's answer to rt is the referral's
// first accept or decline (before rec records it).
func firstAnswer(rec *dynamo.Record, rt referral.Route, to referral.RouteStatus) bool {
	if rt.Status != referral.RouteNotified || (to != referral.RouteAccepted && to != referral.RouteDeclined) {
		return false
	}
	for _, o := range rec.Routes {
		switch o.Status {
		case referral.RouteAccepted, referral.RouteDeclined, referral.RouteConnected, referral.RouteNotConnected:
			return false
		}
	}
	return true
}

// onWithdrawn tells a notified group that the referral is off.
func (a *App) onWithdrawn(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	rt, ok := routeOf(rec, ev)
	if !ok {
		return a.Referrals.Finish(ctx, ev)
	}
	g, err := a.Directory.GetGroup(ctx, rt.GroupID)
	if problem.Is(err, problem.NotFound) {
		return a.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	clinic, err := a.Clinic(ctx, rec.Referral.ClinicID)
	if err != nil {
		return err
	}
	err = a.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
		tok, _, err := a.LinkToken(ctx, "group", rec.Referral.ID, rt.Seq)
		if err != nil {
			return mail.Message{}, err
		}
		m, err := pages.WithdrawnEmail(pages.GroupLang(g), g.Name, clinic.Name, a.Config.PublicURL+"/g/"+tok)
		return m.To(g.Contact.Email), err
	})
	if err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}
