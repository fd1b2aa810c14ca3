package app

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
	"github.com/handoff-health/handoff/shared/textlimit"
)

// Texter sends one text message and returns the provider's message id. A
// number that cannot take it is an *sms.Unreachable.
type Texter interface {
	Send(ctx context.Context, t sms.Text) (string, error)
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

// Every text to a patient keeps to the text limits (textlimit.Default: one
// a day, three in any seven days, none at night), counted in one place for
// the patient's number (dynamo.Referrals.TakeText): TextPatient takes the
// text's slot, then sends it through the ledger (TextOnce). A text that
// cannot go now waits — its event is moved to the time it can (Later) —
// while it is still of use; else the caller sends the email instead, or
// nothing.

// PatientText is one text to a patient, for one event's effect.
type PatientText struct {
	// Effect names the text in the ledger ("sms"): the slot's claim and
	// the ledger's entry are the event's id and it.
	Effect string
	// Zone is the IANA zone the patient's days and hours are counted in
	// ("" or unknown: UTC).
	Zone string
	// Latest is the last moment the text is of use (zero: none); Email
	// tells that the patient can be emailed instead.
	Latest time.Time
	Email  bool
	// AnyHour: the text answers what was just done (the consent link,
	// while the patient may still be at the clinic), so it may go at any
	// hour within the day's and the week's limits; one that must wait
	// still waits for the morning.
	AnyHour bool
	// Policy is the limits the text keeps to; zero: textlimit.Default, a
	// patient's. A group contact's texts have limits of their own.
	Policy textlimit.Policy
	Build  func() (sms.Text, error)
	// counts, when not nil, are added in the write that records the text
	// sent.
	counts *tally
}

// TextPatient sends t to the patient's number (or a group contact's, with
// its Policy) for event ev, within the text limits, and says what became
// of it: textlimit.SendNow, it went (or had gone: a retry sends nothing
// twice); ByEmail, it would come too late as a text, so the caller emails
// the same; Skip, it would come too late and there is no email, so nothing
// is sent. A text that must wait returns the
// error of Later, which the dispatcher turns into the event's new due time.
// A number that refuses texts gives its slot back and returns the
// *sms.Unreachable error (see TextFailed). Other errors are the store's and
// the texter's; the event is retried.
func (a *App) TextPatient(ctx context.Context, ev referral.Event, number string, t PatientText) (textlimit.Kind, error) {
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	claim := ev.ID + "/" + t.Effect
	req := dynamo.TextRequest{Number: number, Claim: claim, Now: a.now(), Zone: loadZone(t.Zone), Latest: t.Latest, Email: t.Email}
	hours := cmp.Or(t.Policy, textlimit.Default)
	p := hours
	if t.AnyHour {
		p.Open, p.Close = 0, 0
	}
	d, err := a.Referrals.TakeText(ctx, key, p, req)
	if err == nil && d.Kind == textlimit.Wait && t.AnyHour {
		// It must wait anyway: for the morning, as every other text.
		d, err = a.Referrals.TakeText(ctx, key, hours, req)
	}
	if err != nil {
		return "", err
	}
	switch d.Kind {
	case textlimit.Wait:
		a.Log.InfoContext(ctx, "text waits for the text limits", "referral", ev.Partition, "event", ev.ID, "until", d.At)
		a.Metrics.Emit("TextsHeld", 1, metrics.Count)
		return d.Kind, Later(d.At, "the patient's text limits")
	case textlimit.ByEmail, textlimit.Skip:
		a.Log.InfoContext(ctx, "text not sent: the text limits would hold it too long", "referral", ev.Partition, "event", ev.ID, "instead", string(d.Kind))
		return d.Kind, nil
	}
	err = a.textOnce(ctx, ev, t.Effect, t.counts, t.Build)
	var un *sms.Unreachable
	if errors.As(err, &un) {
		if rerr := a.Referrals.ReleaseText(ctx, key, number, claim); rerr != nil {
			return "", rerr
		}
	}
	return textlimit.SendNow, err
}

// TextFailed acts on a patient's number that refused the text of event ev
// (see channelFailed): the referral is flagged, the clinic told, and the
// patient's other channel is what PatientChannels gives from then on. With
// finish, ev is finished in the same write (its effect has nothing left to
// do); else it is left pending for its effect to finish. A number already
// flagged changes nothing (but for finishing ev).
func (a *App) TextFailed(ctx context.Context, ev referral.Event, un *sms.Unreachable, finish bool) error {
	var done *referral.Event
	if finish {
		done = &ev
	}
	return a.channelFailed(ctx, ev, ChannelSMS, "the patient's number does not take texts ("+un.Reason+")", false, false, done)
}

// loadZone is the location of IANA zone tz, nil when unknown.
func loadZone(tz string) *time.Location {
	if tz == "" {
		return nil
	}
	loc := occurrence.Zoned(time.Time{}, tz).Location()
	if loc == time.UTC && tz != "UTC" {
		return nil
	}
	return loc
}
