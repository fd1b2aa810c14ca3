package app

import (
	"context"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

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
// becomes unreachable (closed); see channelFailed.
func (a *App) RecordBounce(ctx context.Context, b Bounce) error {
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
		return a.channelFailed(ctx, ev, ChannelEmail, why, b.Kind == "bounce", true, linkDone(ev, pending))
	}
	return nil
}
