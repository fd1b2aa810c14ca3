package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// claimLease is how long a worker holds an effect before another may take it
// over (the holder is presumed crashed).
const claimLease = 2 * time.Minute

// ErrBusy means another worker holds the event's effect: try again later.
var ErrBusy = errors.New("effect is held by another worker")

// RunEvent runs one pending event's effects, once, and marks it done. An event
// that is not pending, or not yet due, is left alone. An error leaves the event
// pending: the caller reschedules it (see Retry).
func (a *App) RunEvent(ctx context.Context, referralID, eventID string) error {
	ev, pending, err := a.Referrals.Event(ctx, referralID, eventID)
	if problem.Is(err, problem.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !pending || ev.Due.After(a.now()) {
		return nil
	}
	a.Metrics.Emit("EventLag", float64(a.now().Sub(ev.Due).Milliseconds()), metrics.Milliseconds)
	if err := a.runEffect(ctx, ev); err != nil {
		return fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}

// Effect runs the effect of one pending event. It finishes the event
// (Referrals.Finish, or in the transaction of the change it makes) when its
// work is done; an error leaves the event pending for a retry, and Later
// asks for the retry at a given time.
type Effect func(ctx context.Context, ev referral.Event) error

// StatusHook is told of each status change of a referral, once per
// status-changed event, after the clinic's own status webhook is tried
// (whether or not it was taken); an error retries the whole event, so a
// hook must make its own outside actions idempotent through the ledger
// (Claim, Record).
type StatusHook func(ctx context.Context, rec *dynamo.Record, ev referral.Event) error

// Handle makes e the effect of events of type t. It is how a use-case
// package beside this one (the EHR's Subscriptions, the clinic's pages) adds
// the effects of its own events to the one dispatcher and ledger. Call it
// while wiring the process, before it serves: it is not safe for concurrent
// use. The types this package handles itself keep their own effects.
func (a *App) Handle(t referral.EventType, e Effect) {
	if a.effects == nil {
		a.effects = map[referral.EventType]Effect{}
	}
	a.effects[t] = e
}

// OnStatus adds h to what each status change of a referral runs (see
// StatusHook). Call it while wiring the process, before it serves.
func (a *App) OnStatus(h StatusHook) { a.statusHooks = append(a.statusHooks, h) }

func (a *App) runEffect(ctx context.Context, ev referral.Event) error {
	e, ok := a.effect(ev.Type)
	if !ok {
		// An event of a package beside this one that this process did not
		// wire (see dispatch.Effects): left pending, not dropped.
		return fmt.Errorf("no effect for events of type %q in this process", ev.Type)
	}
	return e(ctx, ev)
}

// Handles reports whether this process runs the effect of events of type t:
// the core's own, or one a package beside it added with Handle.
func (a *App) Handles(t referral.EventType) bool {
	_, ok := a.effect(t)
	return ok
}

// effect is the effect of events of type t in this process.
func (a *App) effect(t referral.EventType) (Effect, bool) {
	switch t {
	case referral.ConsentRequested:
		return a.onConsentRequested, true
	case referral.ConsentDeadline:
		return a.onConsentDeadline, true
	case referral.ConsentReminder:
		return a.onConsentReminder, true
	case referral.ConsentGiven:
		return a.onConsentGiven, true
	case referral.ReceiptRequested:
		return a.onReceipt, true
	case referral.GroupNotified:
		return a.onGroupNotified, true
	case referral.GroupDeadline:
		return a.onGroupDeadline, true
	case referral.Withdrawn:
		return a.onWithdrawn, true
	case referral.StatusChanged:
		return a.onStatusChanged, true
	case referral.Closed:
		return a.onClosed, true
	case referral.ConsentDeclined, referral.ConsentRevoked, referral.CallbackAttempt, referral.Noted,
		referral.RouteAnswered, "consent-viewed":
		// Timeline-only events, and the types a version before wrote
		// pending that are now written done (route-answered) or no more
		// (consent-viewed): their counts ride in the change they record.
		return a.Referrals.Finish, true
	}
	e, ok := a.effects[t] // an effect a package beside this one added
	return e, ok
}

// Retry reschedules a failed event with exponential backoff and jitter.
func (a *App) Retry(ctx context.Context, ev dynamo.EventRef, attempt int) error {
	e, pending, err := a.Referrals.Event(ctx, ev.Partition, ev.EventID)
	if err != nil || !pending {
		return err
	}
	return a.Referrals.Reschedule(ctx, e, a.now().Add(Backoff(e.Attempt+1)), e.Attempt+1)
}

// Backoff is the delay before attempt n (1-based): 1 s doubling, capped at 1 h,
// with ±20% jitter.
func Backoff(n int) time.Duration {
	d := time.Second << min(n-1, 12)
	if d > time.Hour {
		d = time.Hour
	}
	j := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + j
}

// SendOnce sends one email for one event's effect at most once: the ledger
// entry is claimed before sending and completed after. Only a crash between the
// two can repeat the email (once the claim's lease runs out).
func (a *App) SendOnce(ctx context.Context, ev referral.Event, effect string, build func() (mail.Message, error)) error {
	return a.sendOnce(ctx, ev, effect, nil, build)
}

// sendOnce is SendOnce that adds t's counts in the write that records the
// email sent.
func (a *App) sendOnce(ctx context.Context, ev referral.Event, effect string, t *tally, build func() (mail.Message, error)) error {
	key := ev.ID + "#" + effect
	if run, err := a.Claim(ctx, key); !run {
		return err
	}
	msg, err := build()
	if err != nil {
		_ = a.Referrals.Release(ctx, key)
		return err
	}
	msg.Tags = map[string]string{"referral": ev.Partition, "event": ev.ID, "effect": effect}
	id, err := a.Mailer.Send(ctx, msg)
	if err != nil {
		_ = a.Referrals.Release(ctx, key)
		return err
	}
	a.Log.InfoContext(ctx, "email sent", "referral", ev.Partition, "event", ev.ID, "effect", effect)
	return a.record(ctx, key, id, t)
}

// Claim takes an effect's ledger entry before its outside action (an email, a
// status webhook). It reports whether the action is to run now: false with no
// error when it is done already, false with ErrBusy while another worker
// holds it.
func (a *App) Claim(ctx context.Context, key string) (bool, error) {
	st, err := a.Referrals.Claim(ctx, key, a.now(), claimLease)
	switch {
	case err != nil:
		return false, err
	case st == dynamo.AlreadyDone:
		return false, nil
	case st == dynamo.Busy:
		return false, ErrBusy
	}
	return true, nil
}

// Record completes an effect's ledger entry once its outside action is done.
// The record is what keeps the action from repeating, so it is tried a few
// times, even if the caller's context has ended meanwhile.
func (a *App) Record(ctx context.Context, key, result string) error {
	return a.record(ctx, key, result, nil)
}

// record is Record that adds t's counts in the same write, which turns the
// claim done once, and then emits t's metrics.
func (a *App) record(ctx context.Context, key, result string, t *tally) error {
	rctx := context.WithoutCancel(ctx)
	var c *dynamo.Counts
	if t != nil {
		c = t.counts
	}
	for attempt := 0; ; attempt++ {
		counted, err := a.Referrals.CompleteCounting(rctx, key, result, c)
		if err == nil || attempt == 2 {
			if counted && t != nil {
				t.emit(a.Metrics)
			}
			return err
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
}

// Apply writes a change, with the outcome counts of each status it reaches
// in the same transaction. When it closes the referral, it adds the event
// that sets the retention period on everything the referral left behind.
func (a *App) Apply(ctx context.Context, ch dynamo.Change) error {
	return a.apply(ctx, ch, nil)
}

// apply is Apply that also adds extra's counts in the change's transaction
// and emits its metrics once the change is written.
func (a *App) apply(ctx context.Context, ch dynamo.Change, extra *tally) error {
	r := ch.Referral
	if !r.Open() {
		for _, e := range ch.Events {
			if arrival(e) && e.Status == r.Status {
				ch.Events = append(ch.Events, a.NewEvent(r, referral.Closed, a.now(), nil))
				break
			}
		}
	}
	t := a.newTally()
	if extra != nil {
		t.counts.Merge(extra.counts)
		t.metrics = append(t.metrics, extra.metrics...)
	}
	t.counts.Merge(ch.Counts)
	t.statuses(r, ch.Events)
	t.firstContact(r, ch.Records)
	ch.Counts = t.counts
	if err := a.Referrals.Apply(ctx, ch); err != nil {
		return err
	}
	t.emit(a.Metrics)
	return nil
}

// onClosed sets the TTL of every item of a closed referral, its link tokens
// included: all of it is deleted HANDOFF_RETENTION after it closed.
func (a *App) onClosed(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if problem.Is(err, problem.NotFound) {
		return a.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	r := rec.Referral
	if r.Open() {
		return a.Referrals.Finish(ctx, ev)
	}
	_, consent, err := a.LinkToken(ctx, "consent", r.ID, 0)
	if err != nil {
		return err
	}
	hashes := []string{consent}
	if r.Patient.Mobile {
		_, h, err := a.LinkToken(ctx, "text", r.ID, 0)
		if err != nil {
			return err
		}
		hashes = append(hashes, h)
	}
	for _, rt := range rec.Routes {
		_, h, err := a.LinkToken(ctx, "group", r.ID, rt.Seq)
		if err != nil {
			return err
		}
		hashes = append(hashes, h)
	}
	ttl := r.UpdatedAt.Add(a.Config.Retention).Unix()
	if err := a.Referrals.ExpireReferral(ctx, r.ID, ttl, hashes); err != nil {
		return err
	}
	ev.TTL = ttl
	return a.Referrals.Finish(ctx, ev)
}

// RetryAt reschedules a pending event for a given time with the next attempt
// count (an effect asked for it, e.g. by Retry-After).
func (a *App) RetryAt(ctx context.Context, ref dynamo.EventRef, at time.Time) error {
	e, pending, err := a.Referrals.Event(ctx, ref.Partition, ref.EventID)
	if err != nil || !pending {
		return err
	}
	return a.Referrals.Reschedule(ctx, e, at, e.Attempt+1)
}
