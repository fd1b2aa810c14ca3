// Package occurrence turns a group's weekly meetings into dated meetings: the
// occurrences a group contact may offer a referred patient as a first
// meeting, and the one they chose.
//
// It is pure: no clock (the caller passes the instant to list from), no I/O.
// Times are computed in each meeting's own IANA time zone, so a Tuesday 7 pm
// meeting is at 7 pm local time on both sides of a daylight-saving change.
//
// A wall time that a change day skips or repeats is read as RFC 5545
// (iCalendar, §3.3.5) reads a DTSTART with a TZID, so that the plan, its
// .ics and every reminder agree:
//   - a time in the gap of a spring-forward change (02:30 in New York on
//     2026-03-08) is read with the offset before the gap, which is the
//     same length later on the new clock: 03:30 daylight time;
//   - a time that happens twice in a fall-back change (01:30 in New York on
//     2026-11-01) is its first occurrence, in daylight time.
//
// An occurrence's form value (Value) is its local start "YYYY-MM-DDTHH:MM"
// in the meeting's zone; Pick finds a posted value among the offered
// occurrences.
package occurrence

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Window is how far ahead List looks: a first meeting within two weeks.
const Window = 14 * 24 * time.Hour

// ValueLayout is the layout of an occurrence's form value: its local start.
const ValueLayout = "2006-01-02T15:04"

// Field is the form field that carries the chosen occurrence.
const Field = "first_meeting"

// Occurrence is one dated meeting of a group.
type Occurrence struct {
	// Start and End are in the meeting's time zone (their Location).
	Start, End time.Time
	// Zone is the meeting's IANA time zone name.
	Zone string
	// Meeting is the index of the weekly meeting in the group's Meetings.
	Meeting int
	// InPerson: it meets at Place (the group's address, in one line).
	InPerson bool
	Place    string
	// Online: it can be joined online, by JoinURL (the meeting's link) or,
	// when it has none, as JoinInstructions say.
	Online           bool
	JoinURL          string
	JoinInstructions string
}

// Value is the occurrence's form value: its local start, "2026-03-10T19:00".
func (o Occurrence) Value() string { return o.Start.Format(ValueLayout) }

// List returns the group's meeting occurrences that start in the Window
// from the instant from (from included), earliest first (equal starts in
// the order of the group's meetings). Occurrences with the same Value (two
// meetings at the same local time, or two wall times a spring-forward change
// folds into one) are listed once, the first kept. A meeting whose time
// zone cannot be loaded, or that can be attended neither at a place nor
// online, gives none. It never fails: a listing that Validate accepts gives
// every occurrence it has.
func List(g directory.Group, from time.Time) []Occurrence {
	return Between(g, from, from.Add(Window))
}

// Between is List for any span [from, to).
func Between(g directory.Group, from, to time.Time) []Occurrence {
	var out []Occurrence
	place := placeOf(g)
	for i, m := range g.Meetings {
		inPerson, online := modes(g, m)
		if !inPerson && !online {
			continue
		}
		loc, err := zone(m.Timezone)
		if err != nil {
			continue
		}
		startMin, ok1 := hhmm(m.Time)
		endMin, ok2 := hhmm(m.EndTime)
		if !ok1 {
			continue
		}
		if !ok2 {
			endMin = startMin + 60
		}
		day := weekday(m.Day)
		if day < 0 {
			continue
		}
		// Walk the local dates from the day before from's (a meeting late on
		// that date may still be ahead) to the day after to's.
		first := from.In(loc)
		d := time.Date(first.Year(), first.Month(), first.Day()-1, 12, 0, 0, 0, time.UTC)
		last := to.In(loc)
		end := time.Date(last.Year(), last.Month(), last.Day()+1, 12, 0, 0, 0, time.UTC)
		for ; !d.After(end); d = d.AddDate(0, 0, 1) {
			if int(d.Weekday()) != day {
				continue
			}
			start := WallTime(d.Year(), d.Month(), d.Day(), startMin, loc)
			if start.Before(from) || !start.Before(to) {
				continue
			}
			o := Occurrence{Start: start, Zone: m.Timezone, Meeting: i, InPerson: inPerson, Online: online}
			o.End = endOf(d, startMin, endMin, start, loc)
			if inPerson {
				o.Place = place
			}
			if online {
				o.JoinURL = m.OnlineURL
				if o.JoinURL == "" {
					o.JoinInstructions = g.JoinInstructions
				}
			}
			out = append(out, o)
		}
	}
	slices.SortStableFunc(out, func(a, b Occurrence) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.Meeting, b.Meeting)
	})
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(o Occurrence) bool {
		v := o.Value()
		if seen[v] {
			return true
		}
		seen[v] = true
		return false
	})
}

// endOf is when an occurrence that starts at start (startMin on date d)
// ends: at endMin on the same date, or the next when endMin is not after
// startMin (a meeting past midnight). An end the wall clock puts at or
// before the start (a change day's gap) is an hour after the start.
func endOf(d time.Time, startMin, endMin int, start time.Time, loc *time.Location) time.Time {
	if endMin <= startMin {
		d = d.AddDate(0, 0, 1)
	}
	end := WallTime(d.Year(), d.Month(), d.Day(), endMin%(24*60), loc)
	if !end.After(start) {
		end = start.Add(time.Hour)
	}
	return end
}

// WallTime is the instant at which the clock in loc reads the given date and
// minutes after midnight, in loc. A time a change skips is read with the
// offset before the change (it falls that much later on the new clock); a
// time that happens twice is the first (see the package comment).
func WallTime(year int, month time.Month, day, minutes int, loc *time.Location) time.Time {
	h, mi := minutes/60, minutes%60
	naive := time.Date(year, month, day, h, mi, 0, 0, time.UTC)
	// The offsets in effect a little more than a day before and after are
	// the ones a change that day is between.
	_, before := naive.Add(-26 * time.Hour).In(loc).Zone()
	_, after := naive.Add(26 * time.Hour).In(loc).Zone()
	reads := func(t time.Time) bool {
		l := t.In(loc)
		return l.Year() == year && l.Month() == month && l.Day() == day && l.Hour() == h && l.Minute() == mi
	}
	var best time.Time
	for _, off := range []int{before, after} {
		t := naive.Add(-time.Duration(off) * time.Second)
		if reads(t) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if best.IsZero() { // in a gap
		best = naive.Add(-time.Duration(before) * time.Second)
	}
	return best.In(loc)
}

// Pick returns the offered occurrence whose Value is value. It returns a
// problem.Invalid error naming Field (and never repeating the value) when
// value is not of the form "YYYY-MM-DDTHH:MM" or is not among offered.
func Pick(value string, offered []Occurrence) (Occurrence, error) {
	if _, err := time.Parse(ValueLayout, value); err != nil || len(value) != len(ValueLayout) {
		return Occurrence{}, problem.Invalidf([]problem.FieldError{{Field: Field,
			Detail: "Choose one of the meetings the page lists (its local start, YYYY-MM-DDTHH:MM)."}},
			"The first meeting is not valid.")
	}
	for _, o := range offered {
		if o.Value() == value {
			return o, nil
		}
	}
	return Occurrence{}, problem.Invalidf([]problem.FieldError{{Field: Field,
		Detail: "Choose one of the meetings the page lists: this one is not among them (it may have passed)."}},
		"The first meeting is not one of the page's options.")
}

// modes tells whether a meeting of g is held at the group's place and
// whether it can be joined online. A listing does not say it meeting by
// meeting, so: a meeting with a link is online, and also in person when the
// group meets at a place and is not one whose online-only meetings are told
// apart by their link (formats in-person and online, without hybrid); a
// meeting without a link is in person when the group has a place (and also
// online, by the group's join instructions, for a hybrid group), else
// online by those instructions.
func modes(g directory.Group, m directory.Meeting) (inPerson, online bool) {
	hasPlace := g.HasLocation() && g.InPersonPossible()
	hybrid := slices.Contains(g.Formats, directory.Hybrid)
	someOnlineOnly := slices.Contains(g.Formats, directory.Online)
	if m.OnlineURL != "" {
		return hasPlace && (hybrid || !someOnlineOnly), true
	}
	joinable := g.OnlinePossible() && g.JoinInstructions != ""
	if !hasPlace {
		return false, joinable
	}
	return true, hybrid && joinable
}

// placeOf is where the group meets, in one line: address, city and postal
// code, those it has.
func placeOf(g directory.Group) string {
	var parts []string
	for _, s := range []string{g.Location.Address, g.Location.City, g.Location.PostalCode} {
		if s = directory.OneLine(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// zones caches loaded time zones by name.
var zones sync.Map // string → *time.Location

func zone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("no time zone")
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, l)
	return l, nil
}

// Zoned returns t in the IANA time zone tz, or in UTC when tz is empty or
// unknown, so that a time shown to a person reads in their local time
// (pages name the zone beside the time).
func Zoned(t time.Time, tz string) time.Time {
	l, err := zone(tz)
	if err != nil {
		return t.UTC()
	}
	return t.In(l)
}

// PatientZone is the IANA time zone a referred patient most likely lives
// in, as far as handoff knows without asking: that of the first group
// offered that meets in person (in-person offers are near the patient),
// else of any group offered, else none ("").
func PatientZone(r *referral.Referral) string {
	var fallback string
	for _, o := range r.Offers {
		for _, m := range o.Meetings {
			if m.Timezone == "" {
				continue
			}
			if o.Format != directory.Online {
				return m.Timezone
			}
			if fallback == "" {
				fallback = m.Timezone
			}
		}
	}
	return fallback
}

// weekdays are the contract's day codes, Sunday first as time.Weekday counts.
var weekdays = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func weekday(code string) int { return slices.Index(weekdays[:], code) }

// hhmm reads "HH:MM" as minutes after midnight.
func hhmm(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// Plan is the occurrence as a referral keeps it once a group chose it as a
// patient's first meeting: the group and its route, and the listing's
// facts as they are now, made at at.
func (o Occurrence) Plan(groupID string, route int, at time.Time) referral.FirstMeeting {
	return referral.FirstMeeting{
		GroupID: groupID, Route: route, Value: o.Value(), Start: o.Start.UTC(), End: o.End.UTC(), Zone: o.Zone,
		Meeting: o.Meeting, InPerson: o.InPerson, Place: o.Place, Online: o.Online, JoinURL: o.JoinURL,
		JoinInstructions: o.JoinInstructions, At: at.UTC(),
	}
}

// OfPlan is the occurrence a referral's first meeting is, its times in the
// meeting's zone (UTC when the zone cannot be loaded).
func OfPlan(p referral.FirstMeeting) Occurrence {
	loc, err := zone(p.Zone)
	if err != nil {
		loc = time.UTC
	}
	return Occurrence{
		Start: p.Start.In(loc), End: p.End.In(loc), Zone: p.Zone, Meeting: p.Meeting,
		InPerson: p.InPerson, Place: p.Place, Online: p.Online, JoinURL: p.JoinURL, JoinInstructions: p.JoinInstructions,
	}
}
