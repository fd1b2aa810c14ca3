package meeting

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
	"github.com/handoff-health/handoff/shared/textlimit"
)

// message is one of the first meeting's messages to the patient, in both
// forms: the email (with the link to their page) and the text (with the
// page's short link). Latest is the last moment it is of use.
type message struct {
	latest time.Time
	email  func(lang, givenName, clinicName, link string) (pages.Email, error)
	text   func(lang, clinicName, link string) (string, error)
}

// plan loads the referral of a first meeting's event while the plan the
// event was written for still stands. ok is false when there is nothing
// left to do for it: no plan, another one, or consent taken back.
func (m *Meetings) plan(ctx context.Context, ev referral.Event) (*dynamo.Record, bool, error) {
	rec, err := m.App.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return nil, false, err
	}
	r := rec.Referral
	fm := r.FirstMeeting
	return rec, fm != nil && fm.Value == ev.Data["meeting"] && itoa(fm.Route) == ev.Data["route"] && r.Consent != nil, nil
}

// onPlanned brings the patient the first meeting the group chose: by
// email, with the plan's calendar file; by text, its date and time and the
// link to their page (where the rest is), never the group's name.
func (m *Meetings) onPlanned(ctx context.Context, ev referral.Event) error {
	return m.beforeMeeting(ctx, ev, func(rec *dynamo.Record, p pages.MeetingPlan) message {
		return message{
			email: func(lang, given, clinic, link string) (pages.Email, error) {
				cal, err := m.attachment(rec)
				if err != nil {
					return pages.Email{}, err
				}
				return pages.MeetingPlanEmail(lang, given, clinic, link, p, cal)
			},
			text: func(lang, clinic, link string) (string, error) {
				return pages.MeetingPlanSMS(lang, clinic, link, p.Meeting.Start)
			},
		}
	})
}

// onReminder is the one reminder before the first meeting.
func (m *Meetings) onReminder(ctx context.Context, ev referral.Event) error {
	return m.beforeMeeting(ctx, ev, func(_ *dynamo.Record, p pages.MeetingPlan) message {
		return message{
			email: func(lang, given, clinic, link string) (pages.Email, error) {
				return pages.MeetingReminderEmail(lang, given, clinic, link, p)
			},
			text: func(lang, clinic, link string) (string, error) {
				return pages.MeetingReminderSMS(lang, clinic, link, p.Meeting.Start)
			},
		}
	})
}

// beforeMeeting delivers a message of the first meeting, of use until it
// begins, while the referral waits for it: none once the meeting has
// begun, or for a referral cancelled or revoked meanwhile.
func (m *Meetings) beforeMeeting(ctx context.Context, ev referral.Event, msg func(*dynamo.Record, pages.MeetingPlan) message) error {
	rec, ok, err := m.plan(ctx, ev)
	if err != nil {
		return err
	}
	if !ok || !rec.Referral.AwaitsMeeting() || !m.App.Clock().Before(rec.Referral.FirstMeeting.Start) {
		return m.App.Referrals.Finish(ctx, ev)
	}
	p := app.PlanOf(rec)
	out := msg(rec, p)
	out.latest = p.Meeting.Start
	return m.deliver(ctx, ev, rec, out)
}

// onCheckIn asks the patient, after the first meeting, whether they went,
// unless someone has said so already or the referral stopped waiting.
func (m *Meetings) onCheckIn(ctx context.Context, ev referral.Event) error {
	rec, ok, err := m.plan(ctx, ev)
	if err != nil {
		return err
	}
	r := rec.Referral
	if !ok || !r.AwaitsMeeting() || r.FirstMeeting.Attendance != "" {
		return m.App.Referrals.Finish(ctx, ev)
	}
	p := app.PlanOf(rec)
	return m.deliver(ctx, ev, rec, message{
		latest: r.FirstMeeting.End.Add(referral.MeetingSettleAfter),
		email: func(lang, given, clinic, link string) (pages.Email, error) {
			return pages.CheckInEmail(lang, given, clinic, link, p)
		},
		text: func(lang, clinic, link string) (string, error) {
			return pages.CheckInSMS(lang, clinic, link)
		},
	})
}

// onClose ends the wait for the word on the first meeting a week after
// it: a referral nobody said attended no longer waits, and a connected one
// closes (its retention starts). An answer meanwhile leaves nothing to do.
func (m *Meetings) onClose(ctx context.Context, ev referral.Event) error {
	rec, ok, err := m.plan(ctx, ev)
	if err != nil {
		return err
	}
	r := rec.Referral
	if !ok || !r.AwaitsMeeting() {
		return m.App.Referrals.Finish(ctx, ev)
	}
	plan := *r.FirstMeeting
	plan.Settled = true
	r.FirstMeeting = &plan
	ch := dynamo.Change{Referral: r, Done: &ev, Records: []referral.Event{
		m.App.Note(r, "no word within a week that the patient went to the first meeting"),
	}}
	if !r.Open() {
		r.UpdatedAt = m.App.Clock()
		ch.Events = append(ch.Events, m.App.NewEvent(r, referral.Closed, r.UpdatedAt, nil))
	}
	return m.App.Apply(ctx, ch)
}

// deliver brings the patient msg for event ev on their channel (see
// App.PatientChannels): a retry stays on the channel it began on; a text
// keeps to the text limits (App.TextPatient) and, when it would come too
// late, goes by email instead, or not at all; a number that refuses the
// text is flagged and the email goes instead, when there is one. With no
// channel left, nothing is sent.
func (m *Meetings) deliver(ctx context.Context, ev referral.Event, rec *dynamo.Record, msg message) error {
	r := rec.Referral
	clinic, err := m.App.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	lang := pages.Lang(r.Consent.Language)
	chs, err := m.channels(ctx, ev, m.App.PatientChannels(r, clinic))
	if err != nil {
		return err
	}
	if len(chs) == 0 {
		return m.App.Referrals.Finish(ctx, ev)
	}
	channel := chs[0]
	if channel == app.ChannelSMS {
		email := slices.Contains(chs, app.ChannelEmail)
		kind, err := m.App.TextPatient(ctx, ev, r.Patient.Phone, app.PatientText{
			Effect: app.ChannelSMS, Zone: patientZone(r), Latest: msg.latest, Email: email,
			Build: func() (sms.Text, error) {
				tok, _, err := m.App.LinkToken(ctx, "text", r.ID, 0)
				if err != nil {
					return sms.Text{}, err
				}
				body, err := msg.text(lang, clinic.Name, m.App.Config.PublicURL+"/c/"+tok)
				return sms.Text{To: r.Patient.Phone, Body: body}, err
			},
		})
		var un *sms.Unreachable
		switch {
		case errors.As(err, &un):
			if err := m.App.TextFailed(ctx, ev, un, false); err != nil {
				return err
			}
			if !email {
				return m.App.Referrals.Finish(ctx, ev)
			}
		case err != nil:
			return err
		case kind == textlimit.Skip:
			return m.App.Referrals.Finish(ctx, ev)
		case kind == textlimit.SendNow:
			return m.App.Referrals.Finish(ctx, ev)
		}
	}
	// By email: the patient's channel, or instead of a text.
	err = m.App.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
		tok, _, err := m.App.LinkToken(ctx, "consent", r.ID, 0)
		if err != nil {
			return mail.Message{}, err
		}
		e, err := msg.email(lang, r.Patient.GivenName, clinic.Name, m.App.Config.PublicURL+"/c/"+tok)
		return e.To(r.Patient.Email), err
	})
	if err != nil {
		return err
	}
	return m.App.Referrals.Finish(ctx, ev)
}

// channels orders chs, the channels that can reach the patient now (best
// first), for event ev's message: the channel the event was written for
// (app.DataChannel) first while it is among them, with no read. An event
// written without one (by a version before), or whose channel has failed
// since it was written, stays on the channel its effect began on, which the
// ledger tells: a text that went out and was then reported undeliverable
// must not bring an email too on a retry.
func (m *Meetings) channels(ctx context.Context, ev referral.Event, chs []string) ([]string, error) {
	if len(chs) == 0 {
		return chs, nil
	}
	if want := ev.Data[app.DataChannel]; slices.Contains(chs, want) {
		return append([]string{want}, slices.DeleteFunc(slices.Clone(chs), func(c string) bool { return c == want })...), nil
	}
	other := map[string]string{app.ChannelEmail: app.ChannelSMS, app.ChannelSMS: app.ChannelEmail}[chs[0]]
	began, err := m.App.Referrals.Began(ctx, ev.ID+"#"+other) // the effect is named after its channel
	if err != nil || !began {
		return chs, err
	}
	return []string{other}, nil
}

// patientZone is the zone the patient's days are counted in: the one they
// most likely live in, else their first meeting's.
func patientZone(r *referral.Referral) string {
	if tz := occurrence.PatientZone(r); tz != "" {
		return tz
	}
	return r.FirstMeeting.Zone
}
