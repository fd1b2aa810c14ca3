package app

import (
	"context"
	"errors"
	"slices"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
	"github.com/handoff-health/handoff/shared/textlimit"
)

// Data of a consent-requested or consent-reminder event.
const (
	// DataChannel is the channel the event's message goes by, chosen when
	// the event is written (at intake, or when an earlier link's channel
	// failed); a reminder written at intake has none: it goes by the best
	// channel left when it is due. The first meeting's messages carry it
	// too (see planEvents).
	DataChannel = "channel"
	// dataContacted marks a link sent after an earlier link of the referral
	// reached the patient: the funnel counted them contacted then.
	dataContacted = "contacted"
	// dataReplaces names the event whose link this one sends again, by
	// another channel, after that one's failed.
	dataReplaces = "replaces"
)

// sendConsentLink brings the patient the consent link (or its one reminder)
// by the event's channel while it can reach them, else by the best of chs
// (the channels left, best first; not empty), at most once for the event.
// A number that refuses the text moves the referral on (see channelFailed),
// finishing ev in the same write. An event another one replaced is done:
// its channel failed after it began (its text went out, say, and was then
// reported undeliverable), and the new event sends the link again. The
// message is counted in the write that records it sent.
func (a *App) sendConsentLink(ctx context.Context, ev referral.Event, rec *dynamo.Record, clinic dynamo.Clinic, chs []string, reminder bool) error {
	r := rec.Referral
	for _, e := range rec.Events {
		if e.Data[dataReplaces] == ev.ID {
			return a.Referrals.Finish(ctx, ev)
		}
	}
	channel := chs[0]
	if want := ev.Data[DataChannel]; slices.Contains(chs, want) {
		channel = want
	}
	lang := pages.Lang(r.Patient.Language)
	if channel == ChannelSMS {
		// Within the text limits (the first link at any hour, as it answers
		// the clinic's referral): a text that must wait while the link is
		// still good goes later; one that would come too late goes by email
		// when there is one, else not at all.
		email := r.Patient.Email != "" && !slices.Contains(r.Flags, flagPatientBounced)
		kind, err := a.TextPatient(ctx, ev, r.Patient.Phone, PatientText{Effect: "sms", Zone: occurrence.PatientZone(r), AnyHour: !reminder,
			Latest: r.CreatedAt.Add(a.Config.ConsentTTL), Email: email, counts: linkTally(a.newTally(), r, ev, ChannelSMS, reminder),
			Build: func() (sms.Text, error) {
				tok, _, err := a.LinkToken(ctx, "text", r.ID, 0)
				if err != nil {
					return sms.Text{}, err
				}
				body, err := pages.ConsentSMS(lang, clinic.Name, a.Config.PublicURL+"/c/"+tok, reminder)
				return sms.Text{To: r.Patient.Phone, Body: body}, err
			}})
		switch kind {
		case textlimit.ByEmail:
			channel = ChannelEmail
		case textlimit.Skip:
			return a.Referrals.Finish(ctx, ev)
		}
		var un *sms.Unreachable
		if errors.As(err, &un) {
			return a.channelFailed(ctx, ev, ChannelSMS, "the patient's number does not take texts ("+un.Reason+")", true, false, &ev)
		}
		if err != nil {
			return err
		}
	}
	if channel == ChannelEmail {
		err := a.sendOnce(ctx, ev, "email", linkTally(a.newTally(), r, ev, ChannelEmail, reminder), func() (mail.Message, error) {
			tok, _, err := a.LinkToken(ctx, "consent", r.ID, 0)
			if err != nil {
				return mail.Message{}, err
			}
			link, expires := a.Config.PublicURL+"/c/"+tok, occurrence.Zoned(r.CreatedAt.Add(a.Config.ConsentTTL), occurrence.PatientZone(r))
			render := pages.ConsentEmail
			if reminder {
				render = pages.ConsentReminderEmail
			}
			m, err := render(lang, r.Patient.GivenName, clinic.Name, link, expires)
			return m.To(r.Patient.Email), err
		})
		if err != nil {
			return err
		}
	}
	return a.Referrals.Finish(ctx, ev)
}

// linkTally adds to t what a consent link sent by channel counts, in the
// write that records it sent: the message, and the patient contacted when
// it is their first link.
func linkTally(t *tally, r *referral.Referral, ev referral.Event, channel string, reminder bool) *tally {
	t.counts.Add("C#"+r.ClinicID, channel+"_sent", 1)
	t.metric("MessagesSent", "Channel", channel)
	if !reminder && ev.Data[dataContacted] == "" {
		t.referral(r, map[string]int64{"contacted": 1}) // the patient's first link
	}
	return t
}

// onConsentReminder sends the one reminder of a consent link the patient has
// not answered, on the channel that last reached them.
func (a *App) onConsentReminder(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	if r.Status != referral.AwaitingConsent || !r.Matched {
		return a.Referrals.Finish(ctx, ev)
	}
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	chs := a.reachable(r.Patient, r.Flags, clinic)
	if len(chs) == 0 {
		return a.Referrals.Finish(ctx, ev)
	}
	return a.sendConsentLink(ctx, ev, rec, clinic, chs, true)
}
