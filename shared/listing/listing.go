// Package listing keeps group listings current, beside the core
// (shared/app), through its seam: the listing checks a group's contact
// gets, the contact's listing page (/l/) with its answers — confirm,
// update, pause, resume — and the hand-over of the group to a new contact.
//
// Every HANDOFF_LISTING_CHECK_EVERY (and when an operator asks,
// RequestCheck) a group's contact gets an email with a /l/ link to the
// listing as handoff offers it, where they confirm it or pause the group
// for some weeks. A check is a referral.ListingCheck event in the group's
// own partition (see dynamo.GroupPartition), delivered like every other
// event; the periodic one schedules the next when it has run, and an
// answer starts the period again. The core gives a stored group its first
// check (app.App.ListingCheck, written with the group). A check nobody
// answered lowers the group's rank for a period; a second one pauses the
// group until its contact answers.
//
// A contact's pause ends at its paused_until whatever else happens (see
// directory.Group.PausedAt): the group keeps its match-index items during
// it, so no write has to come at that time; answers and checks meanwhile
// only move the next check, never before the pause ends.
//
// A hand-over (referral.ListingHandover) emails the new contact a link of
// their own that takes the group over, and tells the current contact; the
// earlier contact's link stops working once it is taken.
//
// Every email is an event's effect, sent at most once through the one
// ledger (App.SendOnce). Register adds the effects to the one dispatcher;
// the process's wiring calls it.
package listing

import (
	"context"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

const (
	// The link kinds of the listing page: the contact's, and the new
	// contact's that takes the group over.
	listingKind  = "listing"
	handoverKind = "handover"
	// Pause reasons, shown to operators.
	contactPauseReason    = "paused by its contact"
	unansweredPauseReason = directory.UnansweredPause
)

var (
	errLinkNotFound = problem.Errorf(problem.NotFound, "this link does not work")
	errLinkGone     = problem.Errorf(problem.Gone, "this link has expired")
)

// Listings is the listing checks and the listing page, on the core a.
type Listings struct {
	App *app.App
}

// New returns the listings' use cases on a, without adding their effects
// to the dispatcher (a process that serves the pages or the admin API).
func New(a *app.App) *Listings { return &Listings{App: a} }

// Register adds the effects of the listing checks and hand-overs to a's
// dispatcher: call it in every process that dispatches, while wiring,
// before it serves.
func Register(a *app.App) *Listings {
	l := New(a)
	a.Handle(referral.ListingCheck, l.onCheck)
	a.Handle(referral.ListingHandover, l.onHandover)
	return l
}

func (l *Listings) now() time.Time { return l.App.Clock() }

// RequestCheck sends a group's contact a listing check now. Errors:
// problem.NotFound for an unknown group, and the store's.
func (l *Listings) RequestCheck(ctx context.Context, gid string) error {
	if _, err := l.App.Directory.GetGroup(ctx, gid); err != nil {
		return err
	}
	ev := l.App.ListingCheck(gid, l.now(), false)
	return l.App.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: ev.Partition, Events: []referral.Event{ev}})
}

// scheduleCheck makes the group's next periodic check due at due, in
// place of any pending one.
func (l *Listings) scheduleCheck(ctx context.Context, gid string, due time.Time) error {
	next := l.App.ListingCheck(gid, due, true)
	return l.App.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: next.Partition, Next: &next})
}

// onCheck sends one listing check. A periodic check first settles the one
// before it: unanswered once, the group ranks lower for a period; twice,
// it is paused. It then schedules the next.
func (l *Listings) onCheck(ctx context.Context, ev referral.Event) error {
	a := l.App
	gid := ev.Data["group"]
	periodic := ev.Data["periodic"] == "1"
	if periodic {
		head, err := a.Referrals.ListingHead(ctx, ev.Partition)
		if err != nil {
			return err
		}
		if head != ev.ID {
			return a.Referrals.Finish(ctx, ev) // another check took its place
		}
	}
	at := ev.At
	if periodic {
		at = ev.Due
	}
	every := a.Config.ListingCheckEvery
	// The edit is keyed by the check's time, so a retry does not count twice.
	var g directory.Group // the group as the edit leaves it
	err := a.Directory.EditGroup(ctx, gid, func(cur *directory.Group) bool {
		defer func() { g = *cur }()
		if !cur.ListingCheckedAt.Before(at) {
			return false
		}
		if periodic && !cur.ListingCheckedAt.IsZero() && cur.LastConfirmedAt.Before(cur.ListingCheckedAt) {
			cur.ListingUnanswered++
			switch {
			case cur.ListingUnanswered == 1 && cur.PenaltyUntil.Before(at.Add(every)):
				cur.PenaltyUntil = at.Add(every).UTC()
			case cur.ListingUnanswered >= 2 && !cur.Paused:
				cur.Pause(unansweredPauseReason)
			}
		}
		cur.ListingCheckedAt = at.UTC()
		return true
	})
	if problem.Is(err, problem.NotFound) {
		return a.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	next := l.nextCheck(g, at)
	// The link is the contact's: a new contact gets a new one.
	tok, hash, err := a.LinkToken(ctx, listingKind, ev.Partition, g.ContactSeq)
	if err != nil {
		return err
	}
	// Each check keeps the link working for two more periods.
	token := dynamo.Token{Hash: hash, Kind: listingKind, ReferralID: ev.Partition, RouteSeq: g.ContactSeq,
		ExpiresAt: next.Add(every), TTL: next.Add(every + a.Config.Retention).Unix()}
	if err := a.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: ev.Partition, Tokens: []dynamo.Token{token}}); err != nil {
		return err
	}
	err = a.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
		m, err := pages.ListingCheckEmail(pages.GroupLang(g), g.Name, a.Config.PublicURL+"/l/"+tok)
		return m.To(g.Contact.Email), err
	})
	if err != nil {
		return err
	}
	following := a.ListingCheck(gid, next, true)
	ch := dynamo.GroupChange{Partition: ev.Partition, Done: &ev, Next: &following}
	if periodic {
		ch.IfHead = ev.ID
	}
	err = a.Referrals.ApplyGroup(ctx, ch)
	if problem.Is(err, problem.Conflict) {
		return a.Referrals.Finish(ctx, ev) // an answer rescheduled meanwhile
	}
	return err
}

// nextCheck is when the group's next periodic check is due after a check or
// an answer at: a period later, or when its contact's pause ends if that is
// later (no periodic check comes during a pause).
func (l *Listings) nextCheck(g directory.Group, at time.Time) time.Time {
	next := at.Add(l.App.Config.ListingCheckEvery)
	if g.PausedAt(at) && g.PausedUntil.After(next) {
		return g.PausedUntil
	}
	return next
}

// answered records an answer to a listing check: it clears what unanswered
// checks did.
func answered(g *directory.Group, now time.Time) {
	g.LastConfirmedAt = now
	if g.ListingUnanswered > 0 {
		g.ListingUnanswered = 0
		g.PenaltyUntil = time.Time{}
		if g.Paused && g.PausedReason == unansweredPauseReason {
			g.Unpause()
		}
	}
}
