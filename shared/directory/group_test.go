package directory

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/problem"
)

func validGroup() Group {
	return Group{
		ID: "lakeview-grief-circle", Name: "Lakeview Grief Circle", Description: "Peer support after a loss.",
		Topics: []string{"grief"}, Model: ModelPeerSupport, Spirituality: Secular,
		Formats: []string{InPerson}, Languages: []string{"en"},
		Meetings: []Meeting{{Day: "tue", Time: "18:30", EndTime: "20:00", Timezone: "America/Chicago"}},
		Location: Location{Lat: 41.94, Lon: -87.65, PostalCode: "60657", Country: "US"},
		Contact:  Contact{Name: "Sam", Email: "sam@groups.example"}, AcceptingReferrals: true, Source: "admin",
	}
}

func TestGroupValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(g *Group)
		fields []string // failing fields, in any order; none for a valid group
	}{
		{name: "valid", edit: func(g *Group) {}},
		{name: "valid online with a link", edit: func(g *Group) {
			g.Formats, g.Location = []string{Online}, Location{}
			g.Meetings[0].OnlineURL = "https://meet.example/x"
		}},
		{name: "valid online with join instructions", edit: func(g *Group) {
			g.Formats, g.Location, g.JoinInstructions = []string{Online}, Location{}, "Write to the contact for the link."
		}},
		{name: "bad id", edit: func(g *Group) { g.ID = "Lakeview Grief" }, fields: []string{"id"}},
		{name: "id too long", edit: func(g *Group) { g.ID = strings.Repeat("a", 65) }, fields: []string{"id"}},
		{name: "no name", edit: func(g *Group) { g.Name = "" }, fields: []string{"name"}},
		{name: "unknown topic", edit: func(g *Group) { g.Topics = []string{"grief", "cheese"} }, fields: []string{"topics[1]"}},
		{name: "no topics", edit: func(g *Group) { g.Topics = nil }, fields: []string{"topics"}},
		{name: "too many topics", edit: func(g *Group) {
			g.Topics = []string{"grief", "cancer", "diabetes", "depression", "anxiety", "bipolar"}
		}, fields: []string{"topics"}},
		{name: "too many languages", edit: func(g *Group) { g.Languages = []string{"en", "es", "fr", "de", "it", "pt"} }, fields: []string{"languages"}},
		{name: "bad language", edit: func(g *Group) { g.Languages = []string{"english!"} }, fields: []string{"languages[0]"}},
		{name: "bad model", edit: func(g *Group) { g.Model = "church" }, fields: []string{"model"}},
		{name: "bad spirituality", edit: func(g *Group) { g.Spirituality = "religious" }, fields: []string{"spirituality"}},
		{name: "bad format", edit: func(g *Group) { g.Formats = []string{"radio"} }, fields: []string{"formats[0]"}},
		{name: "in person without a location", edit: func(g *Group) { g.Location = Location{} }, fields: []string{"location"}},
		{name: "hybrid without a link", edit: func(g *Group) { g.Formats = []string{Hybrid} }, fields: []string{"meetings"}},
		{name: "location not placed", edit: func(g *Group) { g.Location.Lat, g.Location.Lon = 0, 0 }, fields: []string{"location.lat"}},
		{name: "latitude off the globe", edit: func(g *Group) { g.Location.Lat = 100 }, fields: []string{"location.lat"}},
		{name: "bad day and times", edit: func(g *Group) {
			g.Meetings[0].Day, g.Meetings[0].Time, g.Meetings[0].EndTime = "monday", "7pm", "24:00"
		}, fields: []string{"meetings[0].day", "meetings[0].time", "meetings[0].end_time"}},
		{name: "unknown time zone", edit: func(g *Group) { g.Meetings[0].Timezone = "Chicago" }, fields: []string{"meetings[0].timezone"}},
		{name: "Local is not a zone", edit: func(g *Group) { g.Meetings[0].Timezone = "Local" }, fields: []string{"meetings[0].timezone"}},
		{name: "online url not http", edit: func(g *Group) { g.Meetings[0].OnlineURL = "javascript:alert(1)" }, fields: []string{"meetings[0].online_url"}},
		{name: "contact email", edit: func(g *Group) { g.Contact.Email = "sam at example" }, fields: []string{"contact.email"}},
		{name: "no contact", edit: func(g *Group) { g.Contact = Contact{} }, fields: []string{"contact.name", "contact.email"}},
		{name: "unknown audience and accessibility", edit: func(g *Group) {
			g.Audience, g.Accessibility = []string{"women", "martians"}, []string{"ramp"}
		}, fields: []string{"audience[1]", "accessibility[0]"}},
		{name: "negative capacity", edit: func(g *Group) { g.WeeklyCapacity = -1 }, fields: []string{"weekly_capacity"}},
		{name: "repeated topic", edit: func(g *Group) { g.Topics = []string{"grief", "grief"} }, fields: []string{"topics"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := validGroup()
			tt.edit(&g)
			err := g.Validate()
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var pe *problem.Error
			if !asProblem(err, &pe) || pe.Code != problem.Invalid {
				t.Fatalf("err = %v, want an invalid problem", err)
			}
			var got []string
			for _, f := range pe.Fields {
				got = append(got, f.Field)
				if f.Detail == "" || f.Detail == "is not valid" {
					t.Errorf("field %s has no useful detail: %q", f.Field, f.Detail)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.fields))
			if !slices.Equal(got, want) {
				t.Errorf("fields = %v, want %v", got, want)
			}
		})
	}
}

func TestValidateNeverEchoesValues(t *testing.T) {
	g := validGroup()
	g.Contact.Email = "private-person-name@@example"
	g.Name = ""
	b, _ := json.Marshal(problem.BodyOf(g.Validate()))
	if strings.Contains(string(b), "private-person-name") {
		t.Errorf("problem body repeats a value: %s", b)
	}
}

func TestGroupNormalize(t *testing.T) {
	g := Group{
		ID: " westside ", Name: " Westside ", Topics: []string{"Grief", "grief"}, Model: " Peer-Support ",
		Formats: []string{"In-Person"}, Languages: []string{"ES-mx", "es-MX", ""},
		Meetings: []Meeting{{Day: "Monday", Time: "19:00", Timezone: "America/Chicago"}},
		Location: Location{PostalCode: "60601", Country: "us"},
		Contact:  Contact{Name: "Lee", Email: " lee@groups.example "},
	}
	g.Normalize()
	if g.ID != "westside" || g.Name != "Westside" || !slices.Equal(g.Topics, []string{"grief"}) || g.Model != ModelPeerSupport {
		t.Errorf("tidied: %+v", g)
	}
	if !slices.Equal(g.Languages, []string{"es-MX"}) || g.Source != "admin" || g.Contact.Email != "lee@groups.example" {
		t.Errorf("languages %v source %q email %q", g.Languages, g.Source, g.Contact.Email)
	}
	if m := g.Meetings[0]; m.Day != "mon" || m.EndTime != "20:00" {
		t.Errorf("meeting %+v", m)
	}
	if l := g.Location; l.Country != "US" || l.Lat < 41.8 || l.Lat > 41.9 || l.Lon > -87.6 || l.Lon < -87.7 {
		t.Errorf("location %+v", l)
	}
	if err := g.Validate(); err != nil {
		t.Errorf("normalized group does not validate: %v", err)
	}
	empty := Group{}
	empty.Normalize()
	if !slices.Equal(empty.Languages, []string{"en"}) || empty.Meetings == nil {
		t.Errorf("defaults: languages %v meetings %v", empty.Languages, empty.Meetings)
	}
}

func TestGroupJSONNames(t *testing.T) {
	g := validGroup()
	g.WeeklyCapacity = 4
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "name", "description", "topics", "model", "spirituality", "formats", "languages",
		"meetings", "location", "contact", "accepting_referrals", "weekly_capacity", "source", "paused", "temporarily_closed"} {
		if _, ok := m[k]; !ok {
			t.Errorf("listing JSON lacks %q: %s", k, b)
		}
	}
	meeting := m["meetings"].([]any)[0].(map[string]any)
	for _, k := range []string{"day", "time", "end_time", "timezone"} {
		if _, ok := meeting[k]; !ok {
			t.Errorf("meeting JSON lacks %q", k)
		}
	}
	loc := m["location"].(map[string]any)
	for _, k := range []string{"lat", "lon", "postal_code"} {
		if _, ok := loc[k]; !ok {
			t.Errorf("location JSON lacks %q", k)
		}
	}
}

// TestGroupPause: the pause methods set the three pause fields together.
// A pause without an end replaces a contact's timed one; a timed pause is
// over at its end (PausedAt, EndPause); a long reason is cut to
// MaxPauseReason bytes on a character boundary.
func TestGroupPause(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	until := now.Add(14 * 24 * time.Hour)
	long := strings.Repeat("a", MaxPauseReason-1) + "é and more"
	tests := []struct {
		name       string
		do         func(g *Group)
		paused     bool
		reason     string
		until      time.Time
		timed      bool
		pausedNow  bool
		pausedThen bool // at the timed pause's end
		indexed    bool
	}{
		{"pause", func(g *Group) { g.Pause("contact email bounce") },
			true, "contact email bounce", time.Time{}, false, true, true, false},
		{"pause until", func(g *Group) { g.PauseUntil("paused by its contact", until) },
			true, "paused by its contact", until, true, true, false, true},
		{"a pause replaces a timed one", func(g *Group) {
			g.PauseUntil("paused by its contact", until)
			g.Pause(UnansweredPause)
		}, true, UnansweredPause, time.Time{}, false, true, true, false},
		{"unpause", func(g *Group) {
			g.PauseUntil("paused by its contact", until)
			g.Unpause()
		}, false, "", time.Time{}, false, false, false, true},
		{"a long reason is cut", func(g *Group) { g.Pause(long) },
			true, strings.Repeat("a", MaxPauseReason-1), time.Time{}, false, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := Group{AcceptingReferrals: true}
			tc.do(&g)
			if g.Paused != tc.paused || g.PausedReason != tc.reason || !g.PausedUntil.Equal(tc.until) {
				t.Errorf("paused %v %q until %v; want %v %q until %v", g.Paused, g.PausedReason, g.PausedUntil, tc.paused, tc.reason, tc.until)
			}
			if g.TimedPause() != tc.timed || g.PausedAt(now) != tc.pausedNow || g.PausedAt(until) != tc.pausedThen || g.Indexed() != tc.indexed {
				t.Errorf("timed %v, paused now %v, at the end %v, indexed %v; want %v %v %v %v",
					g.TimedPause(), g.PausedAt(now), g.PausedAt(until), g.Indexed(), tc.timed, tc.pausedNow, tc.pausedThen, tc.indexed)
			}
			if ended := g.EndPause(until); ended != (tc.timed) || (ended && (g.Paused || g.PausedReason != "")) {
				t.Errorf("EndPause at the end: %v, leaving %v %q", ended, g.Paused, g.PausedReason)
			}
		})
	}
}

// TestGroupTimezone: a group meets in its first meeting's zone that names
// one; none when no meeting names one.
func TestGroupTimezone(t *testing.T) {
	tests := []struct {
		name     string
		meetings []Meeting
		want     string
	}{
		{"no meetings", nil, ""},
		{"no zone", []Meeting{{Day: "mon", Time: "19:00"}}, ""},
		{"the first that names one", []Meeting{{Day: "mon"}, {Day: "tue", Timezone: "America/Denver"}, {Day: "wed", Timezone: "America/Chicago"}}, "America/Denver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := Group{Meetings: tc.meetings}
			if got := g.Timezone(); got != tc.want {
				t.Errorf("Timezone() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestGroupWhere: where a group meets in one line, of the parts it has.
func TestGroupWhere(t *testing.T) {
	tests := []struct {
		loc  Location
		want string
	}{
		{Location{Address: "3100 22nd St", City: "San Francisco", PostalCode: "94110"}, "3100 22nd St, San Francisco, 94110"},
		{Location{City: "San Francisco", Country: "US"}, "San Francisco"},
		{Location{}, ""},
	}
	for _, tc := range tests {
		g := Group{Location: tc.loc}
		if got := g.Where(); got != tc.want {
			t.Errorf("Where(%+v) = %q, want %q", tc.loc, got, tc.want)
		}
	}
}
