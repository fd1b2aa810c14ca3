package app

import (
	"context"
	"fmt"
	"slices"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// A patient's channels: email and, when the deployment and the clinic
// text, a mobile number. Which of them can reach the patient, best first,
// and what a channel that failed does (flagged, the clinic told, a consent
// link the patient has not answered sent again by the other).

// The channels that bring a patient the consent link.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Flags set on a referral when one of the patient's channels fails.
const (
	flagPatientBounced    = "patient-email-undeliverable"
	flagPatientTextFailed = "patient-sms-undeliverable"
)

func failedFlag(channel string) string {
	if channel == ChannelSMS {
		return flagPatientTextFailed
	}
	return flagPatientBounced
}

// reachable lists the channels that can still bring the patient the consent
// link, best first: the patient's preferred one when the clinic allows it,
// then email, then a text when the deployment texts, the clinic allows it and
// the number takes texts. A channel that failed is left out.
func (a *App) reachable(p referral.Patient, flags []string, c dynamo.Clinic) []string {
	email := p.Email != "" && !slices.Contains(flags, flagPatientBounced)
	text := p.Phone != "" && p.Mobile && a.Config.Texts() && c.TextsPatients() && !slices.Contains(flags, flagPatientTextFailed)
	var out []string
	if p.PreferredChannel == ChannelSMS && text {
		out, text = append(out, ChannelSMS), false
	}
	if email {
		out = append(out, ChannelEmail)
	}
	if text {
		out = append(out, ChannelSMS)
	}
	return out
}

// unreachableAtIntake is the 422 of a referral no channel the clinic allows
// can reach, saying why.
func (a *App) unreachableAtIntake(contentType string, p referral.Patient, c dynamo.Clinic) error {
	detail := "is required: the patient has no email"
	switch {
	case p.Phone == "":
	case !p.Mobile:
		detail += ", and the phone number is not known to take texts (FHIR: a telecom with system sms, or system phone and use mobile)"
	case !a.Config.Texts():
		detail += ", and this deployment does not send texts"
	case !c.TextsPatients():
		detail += ", and this clinic does not let handoff text its patients"
	}
	return intake.Unreachable(contentType, detail)
}

// channelFailed acts on a patient's channel that failed for the message of
// event ev (an email bounce, a number that opted out or could not be
// reached): the referral is flagged and the clinic told. When moveOn and ev
// brought the consent link while the patient has not answered, the link goes
// again by the patient's other channel; when none is left, the first link's
// failure makes the referral unreachable (a failed reminder does not: the
// first link reached the patient). sent tells that ev's message went out
// before it failed (a delivery report, not a refusal). done, when not nil,
// is finished in the same write. A channel already flagged changes nothing;
// the failure is counted in the write that flags it.
func (a *App) channelFailed(ctx context.Context, ev referral.Event, channel, why string, moveOn, sent bool, done *referral.Event) error {
	flag := failedFlag(channel)
	for attempt := 0; attempt < 3; attempt++ {
		rec, err := a.Referrals.Load(ctx, ev.Partition)
		if err != nil {
			return err
		}
		r := rec.Referral
		was := r.Status
		if slices.Contains(r.Flags, flag) {
			if done != nil {
				return a.Referrals.Finish(ctx, *done)
			}
			return nil
		}
		r.Flags = append(r.Flags, flag)
		r.UpdatedAt = a.now()
		ch := dynamo.Change{Referral: r, Done: done}
		detail := why
		link := ev.Type == referral.ConsentRequested || ev.Type == referral.ConsentReminder
		if moveOn && link && r.Status == referral.AwaitingConsent {
			clinic, err := a.Clinic(ctx, r.ClinicID)
			if err != nil {
				return err
			}
			switch next := a.reachable(r.Patient, r.Flags, clinic); {
			case len(next) > 0:
				detail += fmt.Sprintf("; the consent link goes by %s instead", channelName(next[0]))
				data := map[string]string{DataChannel: next[0], dataReplaces: ev.ID}
				if sent || ev.Data[dataContacted] != "" {
					data[dataContacted] = "1"
				}
				ch.Events = append(ch.Events, a.NewEvent(r, ev.Type, a.now(), func(e *referral.Event) { e.Data = data }))
			case ev.Type == referral.ConsentRequested:
				r.Status = referral.Unreachable
				detail += "; no other way to reach the patient is left"
			}
		}
		se := a.StatusEvent(r, detail)
		if r.Status == was {
			// The clinician hears of the flag, but the referral arrives at
			// no status: its arrival at this one was counted then.
			if se.Data == nil {
				se.Data = map[string]string{}
			}
			se.Data[countedStatus] = "1"
		}
		ch.Events = append(ch.Events, se)
		t := a.newTally()
		t.counts.Add("C#"+r.ClinicID, channel+"_failed", 1)
		t.metric("MessagesFailed", "Channel", channel)
		err = a.apply(ctx, ch, t)
		if problem.Is(err, problem.Conflict) {
			continue
		}
		if err == nil {
			a.Log.WarnContext(ctx, "patient channel failed", "referral", r.ID, "event", ev.ID, "channel", channel, "status", r.Status)
		}
		return err
	}
	return problem.Errorf(problem.Conflict, "the referral kept changing")
}

func channelName(channel string) string {
	if channel == ChannelSMS {
		return "text"
	}
	return "email"
}

// linkDone is the consent link's event whose message was reported failed,
// to finish with the failure's write when it is still pending (its message
// went out; only the write that finishes it was left): a retry must not
// send its link again by the channel that is left, which the failure's own
// new event does. Other events are left to finish their effects.
func linkDone(ev referral.Event, pending bool) *referral.Event {
	if pending && (ev.Type == referral.ConsentRequested || ev.Type == referral.ConsentReminder) {
		return &ev
	}
	return nil
}

// MessageFailed acts on a report that the message of event ev (pending
// tells whether ev is) did not reach the patient by channel, though it went
// out: an email that bounced or that the patient marked as spam, a text the
// carrier did not deliver. The referral is flagged and the clinic told
// (see channelFailed); when moveOn and ev brought the consent link while
// the patient has not answered, the link goes again by the patient's other
// channel, or the referral becomes unreachable when none is left.
func (a *App) MessageFailed(ctx context.Context, ev referral.Event, pending bool, channel, why string, moveOn bool) error {
	return a.channelFailed(ctx, ev, channel, why, moveOn, true, linkDone(ev, pending))
}
