package app

import (
	"context"
	"slices"

	"github.com/handoff-health/handoff/shared/dynamo"
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

// Flags set on a referral when the patient's address fails.
const flagPatientBounced = "patient-email-undeliverable"

// RecordBounce acts on a bounce: a group contact's address pauses the group
// (it is not offered until its listing is updated); a patient's address flags
// the referral and tells the clinician through the timeline and status webhook.
// When the bounced email is the consent link of a referral still awaiting the
// patient's answer, the referral becomes unreachable (closed).
func (a *App) RecordBounce(ctx context.Context, b Bounce) error {
	ev, _, err := a.Referrals.Event(ctx, b.ReferralID, b.EventID)
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
	case referral.ConsentRequested, referral.ReceiptRequested, referral.ConsentGiven:
		for attempt := 0; attempt < 3; attempt++ {
			rec, err := a.Referrals.Load(ctx, b.ReferralID)
			if err != nil {
				return err
			}
			r := rec.Referral
			if slices.Contains(r.Flags, flagPatientBounced) {
				return nil
			}
			r.Flags = append(r.Flags, flagPatientBounced)
			r.UpdatedAt = a.now()
			detail := "the patient's email address is undeliverable"
			// The consent link bounced before the patient answered: the
			// link goes by email, so nothing else can reach the patient and
			// the referral closes now rather than expire unseen.
			unreachable := ev.Type == referral.ConsentRequested && b.Kind == "bounce" &&
				referral.CanMove(r.Status, referral.Unreachable)
			if unreachable {
				r.Status = referral.Unreachable
				detail = "the consent link's email is undeliverable and there is no other way to reach the patient"
			}
			err = a.apply(ctx, dynamo.Change{Referral: r, Events: []referral.Event{a.statusEvent(r, detail)}})
			if problem.Is(err, problem.Conflict) {
				continue
			}
			if err == nil {
				a.Log.WarnContext(ctx, "patient email undeliverable", "referral", r.ID, "kind", b.Kind, "status", r.Status)
			}
			return err
		}
		return problem.Errorf(problem.Conflict, "the referral kept changing")
	}
	return nil
}
