// Package undelivered acts on the providers' reports of messages handoff
// sent that did not arrive, beside the core (shared/app): an email SES
// bounced or its reader marked as spam (shared/sesevents), a text the
// carrier did not deliver (shared/smsevents). Each report names the
// message by the ids handoff tagged it with (referral or group partition,
// event, effect), never by an address or a number.
//
// A group contact's address that fails pauses the group: it is not
// offered until its listing is updated. A patient's channel that fails is
// the core's to act on (app.App.MessageFailed): the referral is flagged,
// the clinic told, and a consent link the patient has not answered goes
// again by their other channel.
package undelivered

import (
	"context"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Reports acts on delivery reports, on the core a.
type Reports struct {
	App *app.App
}

// New returns the delivery reports' use cases on a.
func New(a *app.App) *Reports { return &Reports{App: a} }

// Bounce is an email SES could not deliver, or that its reader marked as spam,
// named by the tags handoff put on it.
type Bounce struct {
	Kind       string // bounce or complaint
	ReferralID string
	EventID    string
	Effect     string
}

// RecordBounce acts on a bounce: a group contact's address pauses the group
// (it is not offered until its listing is updated); a patient's address flags
// the referral and tells the clinician through the timeline and status webhook.
// When the bounced email is the consent link of a referral still awaiting the
// patient's answer, the link goes by text when it can, else the referral
// becomes unreachable (closed); see app.App.MessageFailed.
func (u *Reports) RecordBounce(ctx context.Context, b Bounce) error {
	a := u.App
	ev, pending, err := a.Referrals.Event(ctx, b.ReferralID, b.EventID)
	if problem.Is(err, problem.NotFound) {
		a.Log.WarnContext(ctx, "bounce for an unknown event", "referral", b.ReferralID, "event", b.EventID)
		return nil
	}
	if err != nil {
		return err
	}
	switch ev.Type {
	case referral.GroupNotified, referral.Withdrawn:
		group := ev.Data["group"]
		if group == "" {
			return nil
		}
		a.Log.WarnContext(ctx, "group contact undeliverable: group paused", "group", group, "kind", b.Kind)
		return a.Directory.Pause(ctx, group, "contact email "+b.Kind)
	case referral.ListingCheck:
		a.Log.WarnContext(ctx, "group contact undeliverable: group paused", "group", ev.Data["group"], "kind", b.Kind)
		return a.Directory.Pause(ctx, ev.Data["group"], "contact email "+b.Kind)
	case referral.ListingHandover:
		// The current contact's address fails: as above. The new one's: the
		// hand-over is never confirmed, and the group stays as it is.
		if b.Effect == "email-old" {
			a.Log.WarnContext(ctx, "group contact undeliverable: group paused", "group", ev.Data["group"], "kind", b.Kind)
			return a.Directory.Pause(ctx, ev.Data["group"], "contact email "+b.Kind)
		}
		a.Log.WarnContext(ctx, "new group contact undeliverable", "group", ev.Data["group"], "kind", b.Kind)
		return nil
	case referral.ConsentRequested, referral.ConsentReminder, referral.ReceiptRequested, referral.ConsentGiven, referral.VolunteerNamed:
		// A bounce of the consent link moves it to the patient's other
		// channel; a complaint only flags (the patient said no to the
		// email, not to being asked).
		why := "the patient's email address is undeliverable"
		if b.Kind == "complaint" {
			why = "the patient marked an email as spam"
		}
		return a.MessageFailed(ctx, ev, pending, app.ChannelEmail, why, b.Kind == "bounce")
	}
	return nil
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
func (u *Reports) RecordTextEvent(ctx context.Context, te TextEvent) error {
	a := u.App
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
	return a.MessageFailed(ctx, ev, pending, app.ChannelSMS, "the patient's text was not delivered: "+why, true)
}
