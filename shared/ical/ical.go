// Package ical is handoff's adapter to iCalendar (RFC 5545): it writes a
// patient's first-meeting plan as a calendar file of one event, for the
// plan's email attachment and the patient page's meeting.ics. It writes
// through github.com/arran4/golang-ical, which folds, escapes and
// serializes; nothing here writes the format by hand.
//
// The file is a VCALENDAR with METHOD:PUBLISH (a plan to add, not an
// invitation to answer), the VTIMEZONE of the meeting's zone and one VEVENT:
// UID, DTSTAMP, DTSTART and DTEND in the meeting's local time with its TZID,
// SUMMARY, LOCATION (the address, or "Online"), and, for an online meeting,
// URL (the join link); DESCRIPTION when the caller gives one.
//
// The VTIMEZONE is computed from the tz database Go carries (time/tzdata):
// Go exposes offsets, not rules, so it holds the observances in effect from
// the change before the event to its end, each with its onset (DTSTART)
// and no RRULE — what RFC 5545 §3.6.5 allows, and all a reader needs to
// place this one event. Readers that know the zone by its name (most do)
// use their own rules; the two agree for the event.
//
// What the file says is what the caller puts in Event. The plan's callers
// keep to what the patient agreed to: no topic, condition or diagnosis, no
// clinic detail, and no link to the patient's page (a calendar entry is
// kept and synced far longer than a link should live).
package ical

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	ics "github.com/arran4/golang-ical"
)

// ContentType is the MIME type of a plan's file.
const ContentType = "text/calendar; charset=utf-8; method=PUBLISH"

// FileName is the name the plan's file goes by.
const FileName = "meeting.ics"

// Online is the LOCATION of a meeting held online only.
const Online = "Online"

// Event is one meeting to write.
type Event struct {
	// UID identifies the event for good (see UID): the same plan written
	// again is the same event to a calendar.
	UID string
	// Start and End are in the meeting's time zone: their Location's name
	// (an IANA zone such as America/Chicago) becomes the TZID.
	Start, End time.Time
	// Stamp is DTSTAMP: when the plan was made (UTC).
	Stamp time.Time
	// Summary is the event's title.
	Summary string
	// Location is the address, or Online.
	Location string
	// JoinURL is the link to join an online meeting (URL), optional.
	JoinURL string
	// Description is free text, optional; it may hold line breaks.
	Description string
}

// UID returns a stable event UID that names nothing: a hash of parts (e.g.
// the referral's id and the occurrence's value) at domain.
func UID(domain string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// Errors Write returns for an event it cannot write.
var (
	ErrTimes = errors.New("ical: the event needs a start and an end after it, in a named time zone")
	ErrUID   = errors.New("ical: the event needs a UID")
)

// Write returns the calendar file of e. It returns ErrUID without a UID,
// and ErrTimes when a time is missing, the end is not after the start, or
// the start's Location is not a named zone (Local); times in UTC are
// written in UTC.
func Write(e Event) ([]byte, error) {
	if strings.TrimSpace(e.UID) == "" {
		return nil, ErrUID
	}
	if e.Start.IsZero() || !e.End.After(e.Start) {
		return nil, ErrTimes
	}
	loc := e.Start.Location()
	zone := loc.String()
	if zone == "Local" || zone == "" {
		return nil, ErrTimes
	}
	end := e.End.In(loc)

	cal := ics.NewCalendarFor("handoff")
	cal.SetMethod(ics.MethodPublish)
	utc := zone == "UTC"
	if !utc {
		cal.AddVTimezone(timezone(zone, loc, e.Start, end))
	}
	ev := cal.AddEvent(oneLine(e.UID))
	stamp := e.Stamp
	if stamp.IsZero() {
		stamp = e.Start
	}
	ev.SetDtStampTime(stamp)
	if utc {
		ev.SetStartAt(e.Start)
		ev.SetEndAt(end)
	} else {
		ev.SetProperty(ics.ComponentPropertyDtStart, e.Start.Format(localLayout), ics.WithTZID(zone))
		ev.SetProperty(ics.ComponentPropertyDtEnd, end.Format(localLayout), ics.WithTZID(zone))
	}
	if s := oneLine(e.Summary); s != "" {
		ev.SetSummary(s)
	}
	if l := oneLine(e.Location); l != "" {
		ev.SetLocation(l)
	}
	if u := oneLine(e.JoinURL); u != "" {
		ev.SetURL(u)
	}
	if d := text(e.Description); d != "" {
		ev.SetDescription(d)
	}
	var b bytes.Buffer
	if err := cal.SerializeTo(&b, ics.WithNewLine("\r\n")); err != nil {
		return nil, fmt.Errorf("write calendar: %w", err)
	}
	return b.Bytes(), nil
}

const localLayout = "20060102T150405"

// timezone is the VTIMEZONE of loc for an event from start to end: the
// observance in effect at start, from the change that began it, and each
// change up to end.
func timezone(name string, loc *time.Location, start, end time.Time) *ics.VTimezone {
	tz := ics.NewTimezone(name)
	onset, ok := lastChange(loc, start)
	changes := []time.Time{onset}
	for t := start; ; {
		next, found := nextChange(loc, t, end)
		if !found {
			break
		}
		changes = append(changes, next)
		t = next
	}
	for i, at := range changes {
		from := offsetBefore(loc, at)
		// An onset is written in the local time before it (RFC 5545).
		onsetText := at.Add(time.Duration(from) * time.Second).UTC().Format(localLayout)
		abbr, to := at.In(loc).Zone()
		if i == 0 && !ok {
			// No change within a year: one observance from 1970, as
			// RFC 5545's examples write a zone without daylight time.
			abbr, to = start.In(loc).Zone()
			from, onsetText, at = to, "19700101T000000", start
		}
		var c ics.Component
		props := []struct {
			p ics.ComponentProperty
			v string
		}{
			{ics.ComponentPropertyDtStart, onsetText},
			{ics.ComponentProperty(ics.PropertyTzoffsetfrom), offset(from)},
			{ics.ComponentProperty(ics.PropertyTzoffsetto), offset(to)},
			{ics.ComponentProperty(ics.PropertyTzname), abbr},
		}
		if daylight(loc, at) {
			d := &ics.Daylight{}
			for _, p := range props {
				d.SetProperty(p.p, p.v)
			}
			c = d
		} else {
			s := &ics.Standard{}
			for _, p := range props {
				s.SetProperty(p.p, p.v)
			}
			c = s
		}
		tz.Components = append(tz.Components, c)
	}
	return tz
}

// lastChange finds the latest instant at or before t when loc's offset
// changed, within a year; ok is false when it did not change in that year.
func lastChange(loc *time.Location, t time.Time) (time.Time, bool) {
	_, off := t.In(loc).Zone()
	lo := t
	for range 366 {
		prev := lo.Add(-24 * time.Hour)
		if _, o := prev.In(loc).Zone(); o != off {
			return bisect(loc, prev, lo), true
		}
		lo = prev
	}
	return time.Time{}, false
}

// nextChange finds the first instant after t and not after end when loc's
// offset changes.
func nextChange(loc *time.Location, t, end time.Time) (time.Time, bool) {
	_, off := t.In(loc).Zone()
	for lo := t; lo.Before(end); {
		hi := lo.Add(time.Hour)
		if hi.After(end) {
			hi = end
		}
		if _, o := hi.In(loc).Zone(); o != off {
			return bisect(loc, lo, hi), true
		}
		lo = hi
	}
	return time.Time{}, false
}

// bisect finds, to the second, the first instant in (lo, hi] whose offset
// is hi's.
func bisect(loc *time.Location, lo, hi time.Time) time.Time {
	_, want := hi.In(loc).Zone()
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if _, o := mid.In(loc).Zone(); o == want {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func offsetBefore(loc *time.Location, at time.Time) int {
	_, off := at.Add(-time.Second).In(loc).Zone()
	return off
}

// daylight reports whether the offset in effect at t is daylight time: more
// than the smaller of the offsets of January and July of its year (the
// standard offset, in either hemisphere).
func daylight(loc *time.Location, t time.Time) bool {
	_, off := t.In(loc).Zone()
	_, jan := time.Date(t.Year(), time.January, 1, 0, 0, 0, 0, time.UTC).In(loc).Zone()
	_, jul := time.Date(t.Year(), time.July, 1, 0, 0, 0, 0, time.UTC).In(loc).Zone()
	return off > min(jan, jul)
}

// offset writes seconds east of UTC as RFC 5545's UTC-OFFSET: +0530, -0400.
func offset(sec int) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	s := fmt.Sprintf("%s%02d%02d", sign, sec/3600, sec%3600/60)
	if sec%60 != 0 {
		s += fmt.Sprintf("%02d", sec%60)
	}
	return s
}

// oneLine drops control characters (the library escapes line feeds in text
// but not carriage returns), closing up the space around them.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }), " ")
}

// text keeps line breaks (as LF) and drops every other control character.
func text(s string) string {
	lines := strings.FieldsFunc(strings.ReplaceAll(s, "\r\n", "\n"), func(r rune) bool { return r == '\n' || r == '\r' })
	out := lines[:0]
	for _, l := range lines {
		if l = oneLine(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
