// Package textlimit is the policy that keeps handoff's texts to a patient
// respectful: at most one text a day and three a week to a number (the
// limits of the TCPA's exemption for health-care messages), never at night,
// and, when a text cannot go now, whether it waits, goes by email instead,
// or is not sent.
//
// It is pure: it decides from the texts already sent to a number (Sends)
// and the caller's clock. The one place that counts them, with conditional
// writes so that two sends at once cannot both take the last slot, is
// shared/dynamo (Referrals.TakeText), which calls Decide.
//
// Days are the patient's calendar days in their time zone (the caller
// passes it; UTC when it is not known). A week is any seven days in a row:
// a text may go on a day when no text went that day and fewer than three
// went in it and the six days before.
package textlimit

import (
	"slices"
	"time"

	"github.com/handoff-health/handoff/shared/occurrence"
)

// Policy is a set of limits.
type Policy struct {
	PerDay  int // texts a calendar day at most
	PerWeek int // texts in any seven days in a row at most
	// Open and Close bound the local time of day a text may go (after
	// midnight); a text due outside waits for Open. Both zero: any time.
	Open, Close time.Duration
}

// Default is handoff's policy: one text a day, three a week, between 8:00
// and 21:00 local time.
var Default = Policy{PerDay: 1, PerWeek: 3, Open: 8 * time.Hour, Close: 21 * time.Hour}

// Sends are the instants of the texts sent to one number, oldest first.
// Only the last PerWeek matter; Keep trims to them.
type Sends []time.Time

// Keep returns s with at sent, trimmed to the last n.
func (s Sends) Keep(at time.Time, n int) Sends {
	out := append(slices.Clone(s), at)
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// NextFree is the first instant at or after now when one more text keeps
// within p, days counted in loc (UTC when nil).
func (p Policy) NextFree(s Sends, now time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	s = slices.SortedFunc(slices.Values(s), func(a, b time.Time) int { return a.Compare(b) })
	free := now
	for range 3 { // each step moves to a later day; the limits settle in two
		day := localDay(free, loc)
		next := free
		if p.PerDay > 0 && countFrom(s, day, loc) >= p.PerDay {
			next = latest(next, startOfDay(day.AddDate(0, 0, 1), loc))
		}
		if p.PerWeek > 0 && countFrom(s, day.AddDate(0, 0, -6), loc) >= p.PerWeek {
			// The window drops the PerWeek-th latest send seven days after its day.
			k := s[len(s)-p.PerWeek]
			next = latest(next, startOfDay(localDay(k, loc).AddDate(0, 0, 7), loc))
		}
		next = p.open(next, loc)
		if next.Equal(free) {
			return free
		}
		free = next
	}
	return free
}

// open moves t into the day's open hours: to Open on its day when earlier,
// to Open the next day when at or after Close.
func (p Policy) open(t time.Time, loc *time.Location) time.Time {
	if p.Open == 0 && p.Close == 0 {
		return t
	}
	day := localDay(t, loc)
	opens := wall(day, p.Open, loc)
	switch {
	case t.Before(opens):
		return opens
	case p.Close > 0 && !t.Before(wall(day, p.Close, loc)):
		return wall(day.AddDate(0, 0, 1), p.Open, loc)
	}
	return t
}

// Kind is what to do with a text.
type Kind string

// What Decide says.
const (
	// SendNow: the text keeps within the limits now.
	SendNow Kind = "send"
	// Wait: send it at Decision.At, when it will (still before latest).
	Wait Kind = "wait"
	// ByEmail: it would be too late as a text; email the same now.
	ByEmail Kind = "email"
	// Skip: too late as a text and no email: do not send it.
	Skip Kind = "skip"
)

// Decision is what Decide says; At is when to send for Wait.
type Decision struct {
	Kind Kind
	At   time.Time
}

// Decide says what to do with a text due now to a number that got s: send
// it now when that keeps within p (in loc's days and hours); else wait for
// NextFree when that is not after latest (the last moment the text is of
// use, e.g. a reminder's meeting; zero: no such moment); else email it
// when the patient has email; else skip it.
func (p Policy) Decide(s Sends, now time.Time, loc *time.Location, latestUse time.Time, email bool) Decision {
	free := p.NextFree(s, now, loc)
	switch {
	case !free.After(now):
		return Decision{Kind: SendNow}
	case latestUse.IsZero() || !free.After(latestUse):
		return Decision{Kind: Wait, At: free}
	case email:
		return Decision{Kind: ByEmail}
	}
	return Decision{Kind: Skip}
}

// countFrom counts the sends on day from and after, in loc.
func countFrom(s Sends, from time.Time, loc *time.Location) int {
	n := 0
	for _, t := range s {
		if !localDay(t, loc).Before(from) {
			n++
		}
	}
	return n
}

// localDay is t's calendar day in loc, as midnight UTC of that date (a
// date to count with, not an instant).
func localDay(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
}

// startOfDay is the first instant of date day in loc.
func startOfDay(day time.Time, loc *time.Location) time.Time { return wall(day, 0, loc) }

// wall is the instant of local time of day d on date day in loc, read as
// shared/occurrence reads a meeting's time on a change day.
func wall(day time.Time, d time.Duration, loc *time.Location) time.Time {
	return occurrence.WallTime(day.Year(), day.Month(), day.Day(), int(d/time.Minute), loc)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
