// Package icaltest reads calendar files back for tests, with a library
// other than the one that wrote them (github.com/arran4/golang-ical): the
// file's one event, a property's raw value, an event's start and end.
package icaltest

import (
	"bytes"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
)

// Parse reads calendar file b and returns it and its one event; a file
// that does not parse, or holds other than one event, fails the test.
func Parse(t testing.TB, b []byte) (*ics.Calendar, *ics.VEvent) {
	t.Helper()
	cal, err := ics.ParseCalendar(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("calendar file: %v\n%s", err, b)
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("calendar file: %d events, want 1\n%s", len(evs), b)
	}
	return cal, evs[0]
}

// Prop is property p of a component (an event, a time zone's rule) as
// written, still escaped; "" when it has none.
func Prop(c interface {
	GetProperty(ics.ComponentProperty) *ics.IANAProperty
}, p ics.ComponentProperty) string {
	if v := c.GetProperty(p); v != nil {
		return v.Value
	}
	return ""
}

// Span is an event's start and end, in the zones the file names; an
// event without either fails the test.
func Span(t testing.TB, ev *ics.VEvent) (start, end time.Time) {
	t.Helper()
	start, err := ev.GetStartAt()
	if err != nil {
		t.Fatalf("event start: %v", err)
	}
	end, err = ev.GetEndAt()
	if err != nil {
		t.Fatalf("event end: %v", err)
	}
	return start, end
}
