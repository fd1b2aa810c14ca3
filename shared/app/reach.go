package app

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
	"github.com/handoff-health/handoff/shared/textlimit"
)

// Texter sends one text message and returns the provider's message id. A
// number that cannot take it is an *sms.Unreachable.
type Texter interface {
	Send(ctx context.Context, t sms.Text) (string, error)
}

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

// Data of a consent-requested or consent-reminder event.
const (
	// dataChannel is the channel the event's link goes by, chosen when the
	// event is written (at intake, or when an earlier link's channel
	// failed); a reminder written at intake has none: it goes by the best
	// channel left when it is due.
	dataChannel = "channel"
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
	if want := ev.Data[dataChannel]; slices.Contains(chs, want) {
		channel = want
	}
	lang := pages.Lang(r.Patient.Language)
	if channel == ChannelSMS {
		// Within the text limits (the first link at any hour, as it answers
		// the clinic's referral): a text that must wait while the link is
		// still good goes later; one that would come too late goes by email
		// when there is one, else not at all.
		email := r.Patient.Email != "" && !slices.Contains(r.Flags, flagPatientBounced)
		kind, err := a.TextPatient(ctx, ev, r.Patient.Phone, PatientText{Effect: "sms", Zone: patientZone(r), AnyHour: !reminder,
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
			link, expires := a.Config.PublicURL+"/c/"+tok, zoned(r.CreatedAt.Add(a.Config.ConsentTTL), patientZone(r))
			render := pages.ConsentEmail
			if reminder {
				render = pages.ConsentReminderEmail
			}
			m, err := render(lang, r.Patient.GivenName, clinic.Name, link, expires)
			return message(r.Patient.Email, m), err
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

// TextOnce sends one text for one event's effect at most once, as SendOnce
// does for email. A refusal leaves the ledger entry free.
func (a *App) TextOnce(ctx context.Context, ev referral.Event, effect string, build func() (sms.Text, error)) error {
	return a.textOnce(ctx, ev, effect, nil, build)
}

// textOnce is TextOnce that adds t's counts in the write that records the
// text sent.
func (a *App) textOnce(ctx context.Context, ev referral.Event, effect string, counts *tally, build func() (sms.Text, error)) error {
	if a.Texter == nil {
		return errors.New("this process has no texter: texts are sent by the dispatcher")
	}
	key := ev.ID + "#" + effect
	if run, err := a.Claim(ctx, key); !run {
		return err
	}
	t, err := build()
	if err != nil {
		_ = a.Referrals.Release(ctx, key)
		return err
	}
	t.Context = map[string]string{"referral": ev.Partition, "event": ev.ID, "effect": effect}
	id, err := a.Texter.Send(ctx, t)
	if err != nil {
		_ = a.Referrals.Release(ctx, key)
		return err
	}
	a.Log.InfoContext(ctx, "text sent", "referral", ev.Partition, "event", ev.ID, "effect", effect)
	return a.record(ctx, key, id, counts)
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
				data := map[string]string{dataChannel: next[0], dataReplaces: ev.ID}
				if sent || ev.Data[dataContacted] != "" {
					data[dataContacted] = "1"
				}
				ch.Events = append(ch.Events, a.NewEvent(r, ev.Type, a.now(), func(e *referral.Event) { e.Data = data }))
			case ev.Type == referral.ConsentRequested:
				r.Status = referral.Unreachable
				detail += "; no other way to reach the patient is left"
			}
		}
		ch.Events = append(ch.Events, a.StatusEvent(r, detail))
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

// TextEvent is a delivery event of a text handoff sent, named by the context
// handoff put on it (ids only).
type TextEvent struct {
	Type       string // e.g. TEXT_BLOCKED
	ReferralID string
	EventID    string
}

// textFailures are the delivery events after which a number is taken not to
// take texts. (TEXT_UNKNOWN, no final word from the carrier in 72 hours,
// is not one: the text may have arrived.)
var textFailures = map[string]string{
	"TEXT_BLOCKED":             "the carrier blocked the text",
	"TEXT_INVALID":             "the number is not valid",
	"TEXT_INVALID_MESSAGE":     "the carrier refused the text",
	"TEXT_UNREACHABLE":         "the phone could not be reached",
	"TEXT_CARRIER_UNREACHABLE": "the carrier could not be reached",
	"TEXT_CARRIER_BLOCKED":     "the carrier blocked the text",
	"TEXT_SPAM":                "the carrier took the text for spam",
	"TEXT_TTL_EXPIRED":         "the text could not be delivered in time",
	"TEXT_OPTED_OUT":           "the number opted out of texts",
}

// RecordTextEvent acts on a text's delivery event: a failure moves the
// referral on as any failed channel does; other events change nothing.
func (a *App) RecordTextEvent(ctx context.Context, te TextEvent) error {
	why, failed := textFailures[te.Type]
	if !failed {
		return nil
	}
	ev, pending, err := a.Referrals.Event(ctx, te.ReferralID, te.EventID)
	if problem.Is(err, problem.NotFound) {
		a.Log.WarnContext(ctx, "text event for an unknown event", "referral", te.ReferralID, "event", te.EventID)
		return nil
	}
	if err != nil {
		return err
	}
	if ev.Type == referral.GroupText || ev.Type == referral.GroupWindow {
		// A group contact's text: the patient's channels are not in question.
		a.Log.WarnContext(ctx, "a group contact's text was not delivered", "referral", te.ReferralID, "event", te.EventID, "type", te.Type)
		return nil
	}
	return a.channelFailed(ctx, ev, ChannelSMS, "the patient's text was not delivered: "+why, true, true, linkDone(ev, pending))
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
