package occurrence

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

func load(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// group is a valid in-person group meeting at the given weekly times in zone.
func group(zone string, ms ...directory.Meeting) directory.Group {
	for i := range ms {
		if ms[i].Timezone == "" {
			ms[i].Timezone = zone
		}
	}
	return directory.Group{
		ID: "mission-tuesday", Name: "Mission Tuesday Circle", Topics: []string{"alcohol"}, Model: directory.ModelTwelveStep,
		Formats: []string{directory.InPerson}, Languages: []string{"en"}, Meetings: ms,
		Location: directory.Location{Lat: 37.76, Lon: -122.42, Address: "3100 22nd St", City: "San Francisco", PostalCode: "94110", Country: "US"},
		Contact:  directory.Contact{Name: "Sam", Email: "sam@groups.example"}, AcceptingReferrals: true, Source: "admin",
	}
}

func mt(day, start, end string) directory.Meeting {
	return directory.Meeting{Day: day, Time: start, EndTime: end}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func values(os []Occurrence) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Value())
	}
	return out
}

// TestListAcrossDaylightSaving: a Tuesday 7 pm meeting lists at 7 pm local
// time on both sides of the US changes in March and November (and of
// Europe's and Australia's), its instant moving by the hour the change
// moves.
func TestListAcrossDaylightSaving(t *testing.T) {
	tests := []struct {
		name     string
		zone     string
		from     string
		want     []string // local starts
		wantUTC  []string // the same instants in UTC
		wantEnds []string // local ends
	}{
		{name: "New York, March: the Tuesday after the change", zone: "America/New_York", from: "2026-03-03T12:00:00Z",
			want:     []string{"2026-03-03T19:00", "2026-03-10T19:00"},
			wantUTC:  []string{"2026-03-04T00:00:00Z", "2026-03-10T23:00:00Z"},
			wantEnds: []string{"2026-03-03T20:30", "2026-03-10T20:30"}},
		{name: "New York, November", zone: "America/New_York", from: "2026-10-27T12:00:00Z",
			want:    []string{"2026-10-27T19:00", "2026-11-03T19:00"},
			wantUTC: []string{"2026-10-27T23:00:00Z", "2026-11-04T00:00:00Z"}},
		{name: "Los Angeles, March", zone: "America/Los_Angeles", from: "2026-03-03T12:00:00Z",
			want:    []string{"2026-03-03T19:00", "2026-03-10T19:00"},
			wantUTC: []string{"2026-03-04T03:00:00Z", "2026-03-11T02:00:00Z"}},
		{name: "Phoenix keeps no daylight time", zone: "America/Phoenix", from: "2026-03-03T12:00:00Z",
			want:    []string{"2026-03-03T19:00", "2026-03-10T19:00"},
			wantUTC: []string{"2026-03-04T02:00:00Z", "2026-03-11T02:00:00Z"}},
		{name: "London, March 29", zone: "Europe/London", from: "2026-03-24T00:00:00Z",
			want:    []string{"2026-03-24T19:00", "2026-03-31T19:00"},
			wantUTC: []string{"2026-03-24T19:00:00Z", "2026-03-31T18:00:00Z"}},
		{name: "Sydney, April 5 (autumn there)", zone: "Australia/Sydney", from: "2026-03-30T12:00:00Z",
			want:    []string{"2026-03-31T19:00", "2026-04-07T19:00"},
			wantUTC: []string{"2026-03-31T08:00:00Z", "2026-04-07T09:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := group(tt.zone, mt("tue", "19:00", "20:30"))
			got := List(g, utc(tt.from))
			if !slices.Equal(values(got), tt.want) {
				t.Fatalf("starts %v, want %v", values(got), tt.want)
			}
			loc := load(t, tt.zone)
			for i, o := range got {
				if o.Start.Location().String() != loc.String() || o.Zone != tt.zone {
					t.Errorf("%d: start in %s, zone %s", i, o.Start.Location(), o.Zone)
				}
				if u := o.Start.UTC().Format(time.RFC3339); u != tt.wantUTC[i] {
					t.Errorf("%d: start %s UTC, want %s", i, u, tt.wantUTC[i])
				}
				if tt.wantEnds != nil && o.End.Format(ValueLayout) != tt.wantEnds[i] {
					t.Errorf("%d: end %s, want %s", i, o.End.Format(ValueLayout), tt.wantEnds[i])
				}
				if o.End.Sub(o.Start) != 90*time.Minute {
					t.Errorf("%d: lasts %s", i, o.End.Sub(o.Start))
				}
				if !o.InPerson || o.Place != "3100 22nd St, San Francisco, 94110" || o.Online {
					t.Errorf("%d: %+v", i, o)
				}
			}
		})
	}
}

// TestWallTimeOnChangeDays: a wall time a change skips is read with the
// offset before it; one that happens twice is the first — RFC 5545's rule,
// deterministic whatever the platform.
func TestWallTimeOnChangeDays(t *testing.T) {
	ny := load(t, "America/New_York")
	lh := load(t, "Australia/Lord_Howe") // a half-hour change
	tests := []struct {
		name      string
		loc       *time.Location
		y         int
		m         time.Month
		d, min    int
		wantUTC   string
		wantLocal string
	}{
		{"gap: 02:30 on the spring-forward day is 03:30 daylight time", ny, 2026, time.March, 8, 2*60 + 30, "2026-03-08T07:30:00Z", "2026-03-08T03:30"},
		{"gap's first minute", ny, 2026, time.March, 8, 2 * 60, "2026-03-08T07:00:00Z", "2026-03-08T03:00"},
		{"just before the gap", ny, 2026, time.March, 8, 60 + 59, "2026-03-08T06:59:00Z", "2026-03-08T01:59"},
		{"just after the gap", ny, 2026, time.March, 8, 3 * 60, "2026-03-08T07:00:00Z", "2026-03-08T03:00"},
		{"twice: 01:30 on the fall-back day is the first, daylight time", ny, 2026, time.November, 1, 60 + 30, "2026-11-01T05:30:00Z", "2026-11-01T01:30"},
		{"after the repeat", ny, 2026, time.November, 1, 2 * 60, "2026-11-01T07:00:00Z", "2026-11-01T02:00"},
		{"Lord Howe's half-hour gap", lh, 2026, time.October, 4, 2*60 + 15, "2026-10-03T15:45:00Z", "2026-10-04T02:45"},
		{"an ordinary day", ny, 2026, time.June, 2, 19 * 60, "2026-06-02T23:00:00Z", "2026-06-02T19:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WallTime(tt.y, tt.m, tt.d, tt.min, tt.loc)
			if u := got.UTC().Format(time.RFC3339); u != tt.wantUTC {
				t.Errorf("UTC %s, want %s", u, tt.wantUTC)
			}
			if l := got.Format(ValueLayout); l != tt.wantLocal || got.Location() != tt.loc {
				t.Errorf("local %s in %s, want %s", l, got.Location(), tt.wantLocal)
			}
		})
	}
	t.Run("the fall-back day's second 01:30 is not listed twice", func(t *testing.T) {
		g := group("America/New_York", mt("sun", "01:30", "02:30"))
		got := List(g, utc("2026-10-31T00:00:00Z"))
		if len(got) == 0 || got[0].Value() != "2026-11-01T01:30" || got[0].Start.UTC().Hour() != 5 {
			t.Fatalf("%v", values(got))
		}
		// 01:30 EDT to 02:30 EST: two hours on the clock's way round.
		if d := got[0].End.Sub(got[0].Start); d != 2*time.Hour {
			t.Errorf("lasts %s", d)
		}
	})
	t.Run("a meeting in the gap lists at the time it falls on", func(t *testing.T) {
		g := group("America/New_York", mt("sun", "02:30", "03:30"), mt("sun", "03:30", "04:30"))
		got := List(g, utc("2026-03-07T00:00:00Z"))
		// Both read 03:30 daylight time that day: one option, the first meeting's.
		if v := values(got); len(v) < 2 || v[0] != "2026-03-08T03:30" || v[1] != "2026-03-15T02:30" || got[0].Meeting != 0 {
			t.Errorf("%v (meeting %d)", v, got[0].Meeting)
		}
		// 02:30 → 03:30 read in the gap: ends at 03:30, which is its start; an hour on.
		if d := got[0].End.Sub(got[0].Start); d != time.Hour {
			t.Errorf("lasts %s", d)
		}
	})
}

// TestListWindowAndOrder: occurrences start in [from, from+14 days), are in
// order across meetings and zones, and a meeting past midnight ends the next
// day.
func TestListWindowAndOrder(t *testing.T) {
	g := group("America/Chicago",
		mt("tue", "19:00", "20:00"),
		mt("fri", "23:30", "00:30"),
		directory.Meeting{Day: "tue", Time: "20:30", EndTime: "21:30", Timezone: "America/New_York"}, // 19:30 Chicago
	)
	from := utc("2026-06-02T00:00:00Z") // Monday evening in Chicago
	got := List(g, from)
	want := []string{"2026-06-02T19:00", "2026-06-02T20:30", "2026-06-05T23:30", "2026-06-09T19:00", "2026-06-09T20:30", "2026-06-12T23:30"}
	if !slices.Equal(values(got), want) {
		t.Fatalf("%v, want %v", values(got), want)
	}
	if got[1].Zone != "America/New_York" || got[1].Start.UTC() != utc("2026-06-03T00:30:00Z") {
		t.Errorf("New York meeting %+v", got[1])
	}
	if e := got[2].End.Format(ValueLayout); e != "2026-06-06T00:30" {
		t.Errorf("past midnight ends %s", e)
	}
	for _, o := range got {
		if o.Start.Before(from) || !o.Start.Before(from.Add(Window)) || !o.End.After(o.Start) {
			t.Errorf("%s out of the window or ends before it starts", o.Value())
		}
	}
	// From exactly a start: included; the same start 14 days on: excluded.
	start := got[0].Start
	at := List(g, start)
	if at[0].Value() != "2026-06-02T19:00" || at[len(at)-1].Start.Equal(start.Add(Window)) {
		t.Errorf("from a start: %v", values(at))
	}
	if after := List(g, start.Add(time.Second)); after[0].Value() == "2026-06-02T19:00" {
		t.Errorf("a meeting that has begun is offered: %v", values(after))
	}
}

// TestModes: in person with the place, online with the link or the join
// instructions, by the listing's formats.
func TestModes(t *testing.T) {
	const link = "https://meet.example/mtc"
	tests := []struct {
		name             string
		edit             func(g *directory.Group)
		inPerson, online bool
		joinURL, join    string
	}{
		{"in person", func(g *directory.Group) {}, true, false, "", ""},
		{"in person, a meeting with a link (so hybrid)", func(g *directory.Group) { g.Meetings[0].OnlineURL = link }, true, true, link, ""},
		{"hybrid with a link", func(g *directory.Group) { g.Formats = []string{directory.Hybrid}; g.Meetings[0].OnlineURL = link }, true, true, link, ""},
		{"hybrid by instructions", func(g *directory.Group) {
			g.Formats, g.JoinInstructions = []string{directory.Hybrid}, "Write to Sam for the link."
		}, true, true, "", "Write to Sam for the link."},
		{"in person and online-only meetings: the one with a link is online only", func(g *directory.Group) {
			g.Formats = []string{directory.InPerson, directory.Online}
			g.Meetings[0].OnlineURL = link
		}, false, true, link, ""},
		{"in person and online-only meetings: the one without is in person", func(g *directory.Group) {
			g.Formats = []string{directory.InPerson, directory.Online}
			g.Meetings = append(g.Meetings, directory.Meeting{Day: "wed", Time: "19:00", EndTime: "20:00", Timezone: "America/Los_Angeles", OnlineURL: link})
		}, true, false, "", ""},
		{"online with a link", func(g *directory.Group) {
			g.Formats, g.Location = []string{directory.Online}, directory.Location{}
			g.Meetings[0].OnlineURL = link
		}, false, true, link, ""},
		{"online by phone", func(g *directory.Group) {
			g.Formats, g.Location, g.JoinInstructions = []string{directory.Online}, directory.Location{}, "Join by phone: +1 646 558 8656"
		}, false, true, "", "Join by phone: +1 646 558 8656"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := group("America/Los_Angeles", mt("tue", "19:00", "20:00"))
			tt.edit(&g)
			got := List(g, utc("2026-06-01T00:00:00Z"))
			if len(got) < 2 {
				t.Fatalf("%d occurrences", len(got))
			}
			o := got[0]
			if o.InPerson != tt.inPerson || o.Online != tt.online || o.JoinURL != tt.joinURL || o.JoinInstructions != tt.join {
				t.Errorf("got %+v", o)
			}
			if (o.Place != "") != tt.inPerson {
				t.Errorf("place %q", o.Place)
			}
		})
	}
	t.Run("neither: nothing to offer", func(t *testing.T) {
		g := group("America/Los_Angeles", mt("tue", "19:00", "20:00"))
		g.Formats, g.Location = []string{directory.Online}, directory.Location{}
		if got := List(g, utc("2026-06-01T00:00:00Z")); len(got) != 0 {
			t.Errorf("%d occurrences of a meeting no one can attend", len(got))
		}
	})
}

// TestPick: a posted value is one of the offered occurrences, or a clear
// Invalid error naming first_meeting that never repeats the value.
func TestPick(t *testing.T) {
	g := group("America/New_York", mt("tue", "19:00", "20:30"), mt("thu", "12:00", "13:00"))
	offered := List(g, utc("2026-03-05T00:00:00Z"))
	for _, o := range offered {
		got, err := Pick(o.Value(), offered)
		if err != nil || !got.Start.Equal(o.Start) || got.Meeting != o.Meeting {
			t.Errorf("Pick(%s) = %+v, %v", o.Value(), got, err)
		}
	}
	for _, bad := range []string{"", "2026-03-10", "2026-03-10T19:00:00", "2026-03-10 19:00", "2026-03-10T18:00",
		"2026-03-03T19:00", "2026-03-31T19:00", "<script>", "2026-13-10T19:00", "2026-03-10T19:00Z"} {
		_, err := Pick(bad, offered)
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Code != problem.Invalid || len(pe.Fields) != 1 || pe.Fields[0].Field != Field {
			t.Errorf("Pick(%q): %v", bad, err)
			continue
		}
		if bad != "" && strings.Contains(pe.Message+pe.Fields[0].Detail, bad) {
			t.Errorf("Pick(%q) repeats the value", bad)
		}
	}
}

// FuzzWallTime: in every zone tried, the instant read back on the zone's
// clock is the wall time asked for, or — in a gap — as much later as the
// gap is long; and, outside gaps, later wall times are never earlier
// instants.
func FuzzWallTime(f *testing.F) {
	f.Add(uint16(2026), uint8(3), uint8(8), uint16(150), uint8(0))
	f.Add(uint16(2026), uint8(11), uint8(1), uint16(90), uint8(0))
	f.Add(uint16(2026), uint8(10), uint8(4), uint16(135), uint8(4))
	zs := []string{"America/New_York", "Europe/London", "Australia/Sydney", "America/Phoenix", "Australia/Lord_Howe", "America/St_Johns", "Etc/GMT-3"}
	locs := make([]*time.Location, len(zs))
	for i, z := range zs {
		locs[i] = load(f, z)
	}
	f.Fuzz(func(t *testing.T, y uint16, m, d uint8, minutes uint16, z uint8) {
		year, month, day, mins := 1990+int(y%60), time.Month(1+m%12), 1+int(d%28), int(minutes%(24*60))
		loc := locs[int(z)%len(locs)]
		got := WallTime(year, month, day, mins, loc)
		want := time.Date(year, month, day, mins/60, mins%60, 0, 0, time.UTC)
		local := time.Date(got.Year(), got.Month(), got.Day(), got.Hour(), got.Minute(), 0, 0, time.UTC)
		switch skew := local.Sub(want); {
		case skew == 0:
		case skew > 0 && skew <= 2*time.Hour:
			// a gap: no instant reads the wall time
			before := got.Add(-skew)
			if before.In(loc).Format(ValueLayout) == want.Format(ValueLayout) {
				t.Errorf("%s in %s read as %s though it exists", want.Format(ValueLayout), loc, local.Format(ValueLayout))
			}
		default:
			t.Fatalf("%s in %s read as %s", want.Format(ValueLayout), loc, local.Format(ValueLayout))
		}
		// Outside gaps (whose times fall later by the gap's length, past
		// the first times after it), a later wall time is never earlier.
		if next := WallTime(year, month, day, mins+1, loc); mins < 24*60-1 && local.Equal(want) &&
			next.Format(ValueLayout) == want.Add(time.Minute).Format(ValueLayout) && next.Before(got) {
			t.Errorf("%s in %s: a minute later is earlier", want.Format(ValueLayout), loc)
		}
	})
}

// FuzzList: whatever the instant, every occurrence is in the window, in
// order, ends after it starts, and Pick finds it by its value.
func FuzzList(f *testing.F) {
	f.Add(int64(1772755200), "tue", "19:00", "20:30", "America/New_York")
	f.Add(int64(1793491200), "sun", "01:30", "02:30", "America/New_York")
	f.Add(int64(1772755200), "fri", "23:30", "00:30", "Australia/Sydney")
	f.Fuzz(func(t *testing.T, unix int64, day, start, end, zone string) {
		from := time.Unix(unix%(200*365*24*3600), 0).UTC()
		g := group(zone, mt(day, start, end))
		got := List(g, from)
		for i, o := range got {
			if o.Start.Before(from) || !o.Start.Before(from.Add(Window)) || !o.End.After(o.Start) {
				t.Fatalf("%s: outside [%s, +14d) or ends first", o.Value(), from)
			}
			if i > 0 && o.Start.Before(got[i-1].Start) {
				t.Fatal("out of order")
			}
			if p, err := Pick(o.Value(), got); err != nil || !p.Start.Equal(o.Start) {
				t.Fatalf("Pick(%s): %v", o.Value(), err)
			}
		}
		if len(got) > 2*len(g.Meetings)+1 {
			t.Fatalf("%d occurrences of one weekly meeting in two weeks", len(got))
		}
	})
}

// BenchmarkList: a group of seven weekly meetings, listed for two weeks
// across the March change (the group page does this once per view).
func BenchmarkList(b *testing.B) {
	g := group("America/New_York", mt("mon", "19:00", "20:00"), mt("tue", "07:00", "08:00"), mt("wed", "12:00", "13:00"),
		mt("thu", "19:00", "20:30"), mt("fri", "23:30", "00:30"), mt("sat", "10:00", "11:00"), mt("sun", "02:30", "03:30"))
	from := utc("2026-03-02T12:00:00Z")
	b.ReportAllocs()
	for b.Loop() {
		if len(List(g, from)) != 14 {
			b.Fatal("want 14")
		}
	}
}

// TestZoned: a time in a named zone, in UTC when the zone is empty or
// unknown.
func TestZoned(t *testing.T) {
	at := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
	tests := []struct{ tz, want string }{
		{"America/New_York", "2026-03-08T08:00:00-04:00"},
		{"Europe/Madrid", "2026-03-08T13:00:00+01:00"},
		{"", "2026-03-08T12:00:00Z"},
		{"Mars/Olympus_Mons", "2026-03-08T12:00:00Z"},
	}
	for _, tc := range tests {
		if got := Zoned(at, tc.tz).Format(time.RFC3339); got != tc.want {
			t.Errorf("Zoned(%q) = %s, want %s", tc.tz, got, tc.want)
		}
	}
}

// TestPatientZone: the zone of the first offered group that meets in
// person, else of any offered group, else none.
func TestPatientZone(t *testing.T) {
	offer := func(format string, zones ...string) referral.Offer {
		o := referral.Offer{Format: format}
		for _, z := range zones {
			o.Meetings = append(o.Meetings, referral.MeetingTime{Day: "mon", Time: "19:00", Timezone: z})
		}
		return o
	}
	tests := []struct {
		name   string
		offers []referral.Offer
		want   string
	}{
		{"none offered", nil, ""},
		{"online only", []referral.Offer{offer(directory.Online, "", "Europe/Madrid"), offer(directory.Online, "Asia/Tokyo")}, "Europe/Madrid"},
		{"in person first", []referral.Offer{offer(directory.Online, "Europe/Madrid"), offer(directory.InPerson, "America/Chicago")}, "America/Chicago"},
		{"hybrid is in person", []referral.Offer{offer(directory.Hybrid, "America/Denver")}, "America/Denver"},
		{"no zones", []referral.Offer{offer(directory.InPerson, "")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PatientZone(&referral.Referral{Offers: tc.offers}); got != tc.want {
				t.Errorf("PatientZone = %q, want %q", got, tc.want)
			}
		})
	}
}
