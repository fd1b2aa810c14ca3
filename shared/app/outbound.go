package app

import (
	"context"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/referral"
)

// Poster posts one request to a clinic's own endpoint (a status webhook, a
// FHIR Subscription's notification) and says how it was answered: the
// status, and the Retry-After the endpoint asked for (0: none). An error
// means no answer came. shared/outbound's Poster is the one that runs in
// handoff: it refuses special-purpose addresses.
type Poster interface {
	Post(ctx context.Context, url string, header map[string]string, body []byte) (status int, retryAfter time.Duration, err error)
}

// An Outbound is one post that an event's effect makes to a clinic's
// endpoint.
type Outbound struct {
	// Key is its ledger entry: the event's id and what the post is
	// (ev.ID + "#callback").
	Key string
	// What names it in logs ("status webhook", "heartbeat").
	What string
	URL  string
	// Build makes the request once the post is claimed, so what it holds
	// (a signature's time, a notification's number) is fixed only then.
	Build func() (header map[string]string, body []byte, err error)
	// A refused post is retried until Window after Since (when the event
	// happened, or was due), then given up.
	Since  time.Time
	Window time.Duration
	// Gone runs when the endpoint answers 410 Gone: nothing more is to be
	// posted to it (the clinic's status webhooks are turned off, a
	// subscription is put in error).
	Gone func(ctx context.Context) error
}

// Posted says how PostOnce left a post.
type Posted int

// How a post went.
const (
	PostedBefore Posted = iota // an earlier delivery of the event posted it
	Delivered                  // the endpoint answered 2xx
	EndpointGone               // it answered 410: Gone ran, and nothing is posted to it again
	Abandoned                  // it refused until its window closed
)

// PostOnce makes an event's post at most once, through the ledger: claim
// it, build and post it, then record it on a 2xx, on a 410 (after Gone),
// or when its window has closed; any other answer (or none) releases it
// and asks for a retry at the endpoint's Retry-After, or with backoff.
// Every refusal counts in WebhookFailures. Errors: a Later (the retry),
// ErrBusy, a failure of Build, Gone or the ledger.
func (a *App) PostOnce(ctx context.Context, ev referral.Event, o Outbound) (Posted, error) {
	run, err := a.Claim(ctx, o.Key)
	if err != nil {
		return 0, err
	}
	if !run {
		return PostedBefore, nil
	}
	header, body, err := o.Build()
	if err != nil {
		_ = a.Referrals.Release(ctx, o.Key)
		return 0, err
	}
	status, retryAfter, err := a.Poster.Post(ctx, o.URL, header, body)
	switch {
	case err == nil && status/100 == 2:
		a.Log.InfoContext(ctx, o.What+" delivered", "clinic", ev.ClinicID, "event", ev.ID)
		return Delivered, a.Record(ctx, o.Key, itoa(status))
	case err == nil && status == 410:
		a.Log.WarnContext(ctx, o.What+" endpoint gone: nothing more is posted to it", "clinic", ev.ClinicID, "event", ev.ID)
		if o.Gone != nil {
			if err := o.Gone(ctx); err != nil {
				_ = a.Referrals.Release(ctx, o.Key)
				return 0, err
			}
		}
		return EndpointGone, a.Record(ctx, o.Key, "410")
	}
	_ = a.Referrals.Release(ctx, o.Key)
	a.Metrics.Emit("WebhookFailures", 1, metrics.Count)
	if a.now().Sub(o.Since) >= o.Window {
		a.Log.WarnContext(ctx, o.What+" abandoned after its retry window", "clinic", ev.ClinicID, "event", ev.ID)
		return Abandoned, a.Record(ctx, o.Key, "abandoned")
	}
	why := "status " + itoa(status)
	if err != nil {
		why = "unreachable"
	}
	at := a.now().Add(Backoff(ev.Attempt + 1))
	if retryAfter > 0 {
		at = a.now().Add(retryAfter)
	}
	a.Log.InfoContext(ctx, o.What+" will be retried", "clinic", ev.ClinicID, "event", ev.ID, "attempt", ev.Attempt+1, "why", why)
	return 0, &errLater{at: at, why: o.What + " refused: " + why}
}

// Soonest is what an effect returns after trying each of its independent
// posts whatever became of the others: nil when every err is nil; else a
// failure that is not a Later (retried with backoff); else the Later due
// soonest, so that no post waits past its own time.
func Soonest(errs ...error) error {
	var soonest error
	for _, err := range errs {
		at, later := RetryAt(err)
		if err != nil && !later {
			return err
		}
		if prev, _ := RetryAt(soonest); later && (soonest == nil || at.Before(prev)) {
			soonest = err
		}
	}
	return soonest
}

// InOrder keeps a referral's posts to one recipient in the order of its
// status changes (key names an event's post to it in the ledger): while an
// earlier status change is pending and has not recorded its post there, it
// asks for a retry a second after that one's next attempt (never sooner
// than a second from now). An earlier one that never posts there (the
// recipient was missing or off then) holds it until it is finished.
// Errors: a Later, a failure to read the ledger.
func (a *App) InOrder(ctx context.Context, rec *dynamo.Record, ev referral.Event, key func(id string) string) error {
	due, held, err := a.Referrals.Unrecorded(ctx, rec, ev, key)
	if !held || err != nil {
		return err
	}
	return Later(a.now().Add(max(due.Sub(a.now()), 0)+time.Second), "an earlier status change is still being posted to this recipient")
}
