package ical

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/ical/icaltest"
	"github.com/handoff-health/handoff/shared/occurrence"
)

func load(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestWriteInPersonAfterTheChange: the Tuesday after the US change in
// March, written and read back with the library: start, end and place in
// the meeting's zone, METHOD:PUBLISH, the zone's VTIMEZONE.
func TestWriteInPersonAfterTheChange(t *testing.T) {
	g := directory.Group{
		Name: "Mission Tuesday Circle", Formats: []string{directory.InPerson},
		Meetings: []directory.Meeting{{Day: "tue", Time: "19:00", EndTime: "20:30", Timezone: "America/New_York"}},
		Location: directory.Location{Lat: 40.7, Lon: -74, Address: "1 Main St", City: "Brooklyn", PostalCode: "11201"},
	}
	occ := occurrence.List(g, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC))[0]
	if occ.Value() != "2026-03-10T19:00" {
		t.Fatalf("occurrence %s", occ.Value())
	}
	e := Event{
		UID: UID("handoff.example", "01JREFERRAL", occ.Value()), Start: occ.Start, End: occ.End,
		Stamp: time.Date(2026, 3, 9, 15, 4, 5, 0, time.UTC), Summary: "First meeting, with Sam",
		Location: occ.Place, Description: "Mission Tuesday Circle\nSam: see you at the door, blue jacket; ask for me",
	}
	b, err := Write(e)
	if err != nil {
		t.Fatal(err)
	}
	cal, ev := icaltest.Parse(t, b)
	start, end := icaltest.Span(t, ev)
	if !start.Equal(occ.Start) || !end.Equal(occ.End) || start.Location().String() != "America/New_York" {
		t.Errorf("start %s end %s, want %s %s", start, end, occ.Start, occ.End)
	}
	if start.UTC() != time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC) {
		t.Errorf("7 pm daylight time is 23:00 UTC, got %s", start.UTC())
	}
	if tz := ev.GetProperty(ics.ComponentPropertyDtStart).ICalParameters["TZID"]; len(tz) != 1 || tz[0] != "America/New_York" {
		t.Errorf("DTSTART TZID %v", tz)
	}
	if got := icaltest.Prop(ev, ics.ComponentPropertyLocation); got != "1 Main St\\, Brooklyn\\, 11201" && ics.FromText(got) != "1 Main St, Brooklyn, 11201" {
		t.Errorf("location %q", got)
	}
	if got := ics.FromText(icaltest.Prop(ev, ics.ComponentPropertyDescription)); got != e.Description {
		t.Errorf("description %q", got)
	}
	if got := icaltest.Prop(ev, ics.ComponentPropertySummary); ics.FromText(got) != e.Summary {
		t.Errorf("summary %q", got)
	}
	if ev.Id() != e.UID || !strings.HasSuffix(e.UID, "@handoff.example") || strings.Contains(e.UID, "01JREFERRAL") {
		t.Errorf("uid %q", ev.Id())
	}
	if stamp, err := ev.GetDtStampTime(); err != nil || !stamp.Equal(e.Stamp) {
		t.Errorf("dtstamp %v %v", stamp, err)
	}
	method := ""
	for _, p := range cal.CalendarProperties {
		if p.IANAToken == "METHOD" {
			method = p.Value
		}
	}
	if method != "PUBLISH" {
		t.Errorf("METHOD %q", method)
	}
	tzs := cal.Timezones()
	if len(tzs) != 1 || icaltest.Prop(tzs[0], ics.ComponentPropertyTzid) != "America/New_York" {
		t.Fatalf("timezones %v", tzs)
	}
	// The observance in effect: daylight time since 2026-03-08 02:00 EST.
	if len(tzs[0].Components) != 1 {
		t.Fatalf("%d observances", len(tzs[0].Components))
	}
	d, ok := tzs[0].Components[0].(*ics.Daylight)
	if !ok {
		t.Fatalf("observance %T, want daylight", tzs[0].Components[0])
	}
	for p, want := range map[ics.ComponentProperty]string{
		ics.ComponentPropertyDtStart: "20260308T020000", ics.ComponentProperty(ics.PropertyTzoffsetfrom): "-0500",
		ics.ComponentProperty(ics.PropertyTzoffsetto): "-0400", ics.ComponentProperty(ics.PropertyTzname): "EDT",
	} {
		if got := icaltest.Prop(d, p); got != want {
			t.Errorf("daylight %s = %q, want %q", p, got, want)
		}
	}
	if !bytes.HasPrefix(b, []byte("BEGIN:VCALENDAR\r\n")) || bytes.Count(b, []byte("BEGIN:VEVENT")) != 1 {
		t.Errorf("not one VEVENT in a VCALENDAR:\n%s", b)
	}
}

// TestWriteOnlineAndAcrossAChange: an online meeting's LOCATION is Online
// with its link in URL; one that spans the fall-back change carries both
// observances.
func TestWriteOnlineAndAcrossAChange(t *testing.T) {
	ny := load(t, "America/New_York")
	start := occurrence.WallTime(2026, time.November, 1, 60+30, ny) // the first 01:30
	end := occurrence.WallTime(2026, time.November, 1, 2*60+30, ny)
	b, err := Write(Event{UID: "u1@handoff.example", Start: start, End: end, Summary: "First meeting",
		Location: Online, JoinURL: "https://meet.example/mtc?pwd=a,b;c"})
	if err != nil {
		t.Fatal(err)
	}
	cal, ev := icaltest.Parse(t, b)
	if got := icaltest.Prop(ev, ics.ComponentPropertyLocation); got != Online {
		t.Errorf("location %q", got)
	}
	if got := icaltest.Prop(ev, ics.ComponentPropertyUrl); got != "https://meet.example/mtc?pwd=a,b;c" {
		t.Errorf("url %q", got)
	}
	s, _ := ev.GetStartAt()
	e, _ := ev.GetEndAt()
	if !s.Equal(start) || !e.Equal(end) || e.Sub(s) != 2*time.Hour {
		t.Errorf("start %s end %s", s, e)
	}
	obs := cal.Timezones()[0].Components
	if len(obs) != 2 {
		t.Fatalf("%d observances, want daylight then standard", len(obs))
	}
	if _, ok := obs[0].(*ics.Daylight); !ok {
		t.Errorf("first observance %T", obs[0])
	}
	st, ok := obs[1].(*ics.Standard)
	if !ok || icaltest.Prop(st, ics.ComponentPropertyDtStart) != "20261101T020000" || icaltest.Prop(st, ics.ComponentProperty(ics.PropertyTzoffsetto)) != "-0500" {
		t.Errorf("standard observance %+v", obs[1])
	}
}

// TestWriteZonesWithoutChanges: a zone that keeps one offset gets one
// standard observance; UTC is written in UTC with no VTIMEZONE.
func TestWriteZonesWithoutChanges(t *testing.T) {
	phx := load(t, "America/Phoenix")
	start := time.Date(2026, 7, 7, 19, 0, 0, 0, phx)
	b, err := Write(Event{UID: "u2@handoff.example", Start: start, End: start.Add(time.Hour), Location: "1 Main St"})
	if err != nil {
		t.Fatal(err)
	}
	cal, ev := icaltest.Parse(t, b)
	obs := cal.Timezones()[0].Components
	if len(obs) != 1 {
		t.Fatalf("%d observances", len(obs))
	}
	if st, ok := obs[0].(*ics.Standard); !ok || icaltest.Prop(st, ics.ComponentProperty(ics.PropertyTzoffsetto)) != "-0700" || icaltest.Prop(st, ics.ComponentPropertyDtStart) != "19700101T000000" {
		t.Errorf("observance %+v", obs[0])
	}
	if s, _ := ev.GetStartAt(); !s.Equal(start) {
		t.Errorf("start %s", s)
	}
	u := time.Date(2026, 7, 7, 19, 0, 0, 0, time.UTC)
	b, err = Write(Event{UID: "u3@handoff.example", Start: u, End: u.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cal, ev = icaltest.Parse(t, b)
	if len(cal.Timezones()) != 0 || icaltest.Prop(ev, ics.ComponentPropertyDtStart) != "20260707T190000Z" {
		t.Errorf("UTC event:\n%s", b)
	}
}

// TestWriteKeepsToOneEvent: line breaks and other control characters in
// what a person typed add no line, property or component.
func TestWriteKeepsToOneEvent(t *testing.T) {
	la := load(t, "America/Los_Angeles")
	start := time.Date(2026, 6, 2, 19, 0, 0, 0, la)
	b, err := Write(Event{UID: "u4@handoff.example\r\nATTENDEE:x", Start: start, End: start.Add(time.Hour),
		Summary: "Evil\r\nEND:VEVENT\r\nBEGIN:VEVENT", Location: "Hall\rB", Description: "one\r\ntwo\rthree\x07"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b, []byte("\r\nBEGIN:VEVENT\r\n")) != 1 || bytes.Contains(b, []byte("\nATTENDEE")) || bytes.Contains(b, []byte("\x07")) {
		t.Errorf("typed text broke the file:\n%s", b)
	}
	for _, line := range bytes.Split(b, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("a bare line break: %q", line)
		}
	}
	_, ev := icaltest.Parse(t, b)
	if got := ics.FromText(icaltest.Prop(ev, ics.ComponentPropertyDescription)); got != "one\ntwo\nthree" {
		t.Errorf("description %q", got)
	}
}

func TestWriteRefusesBadEvents(t *testing.T) {
	la := load(t, "America/Los_Angeles")
	start := time.Date(2026, 6, 2, 19, 0, 0, 0, la)
	for name, tc := range map[string]struct {
		e    Event
		want error
	}{
		"no uid":         {Event{Start: start, End: start.Add(time.Hour)}, ErrUID},
		"no start":       {Event{UID: "u", End: start}, ErrTimes},
		"ends at start":  {Event{UID: "u", Start: start, End: start}, ErrTimes},
		"local time":     {Event{UID: "u", Start: start.Local(), End: start.Local().Add(time.Hour)}, ErrTimes},
		"ends before it": {Event{UID: "u", Start: start, End: start.Add(-time.Minute)}, ErrTimes},
	} {
		if _, err := Write(tc.e); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// TestWriteFoldsLongLines: lines longer than 75 octets are folded (also
// inside multi-byte letters' neighbours) and read back whole.
func TestWriteFoldsLongLines(t *testing.T) {
	la := load(t, "America/Los_Angeles")
	start := time.Date(2026, 6, 2, 19, 0, 0, 0, la)
	desc := strings.Repeat("Reunión en español, ¿la puerta azul? Sí: a la izquierda. ", 6)
	b, err := Write(Event{UID: "u5@handoff.example", Start: start, End: start.Add(time.Hour), Summary: "Primera reunión", Description: desc})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\r\n")) {
		if len(line) > 75 {
			t.Errorf("line of %d octets", len(line))
		}
	}
	_, ev := icaltest.Parse(t, b)
	if got := ics.FromText(icaltest.Prop(ev, ics.ComponentPropertyDescription)); got != strings.TrimSpace(desc) {
		t.Errorf("description read back as %q", got)
	}
}

// BenchmarkWrite: one plan's calendar file, VTIMEZONE included.
func BenchmarkWrite(b *testing.B) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 3, 10, 19, 0, 0, 0, ny)
	e := Event{UID: "u@handoff.example", Start: start, End: start.Add(90 * time.Minute), Summary: "First meeting, with Sam",
		Location: "3100 22nd St, Brooklyn, 11201", Description: "Mission Tuesday Circle\nI'll wait at the side door."}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := Write(e)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/file")
}
