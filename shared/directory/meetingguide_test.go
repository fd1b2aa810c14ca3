package directory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/problem"
)

const feedContact = "intergroup@groups.example"

func importFeed(t *testing.T, path string, opt ImportOptions) Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ImportMeetingGuide(f, opt)
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return res
}

// The real feeds the demo directory loads are kept once, in
// infra/seed/feeds (its README gives their sources and licence): the tests
// read them there.
var (
	sussexFeed   = filepath.Join("..", "..", "infra", "seed", "feeds", "sussexaa.json")
	atlantaFeed  = filepath.Join("..", "..", "infra", "seed", "feeds", "atlantaaa.json")
	edmontonFeed = filepath.Join("..", "..", "infra", "seed", "feeds", "edmontonaa.json")
)

// meetingsFeed is the path of a test feed of testdata/meetings.
func meetingsFeed(name string) string { return filepath.Join("testdata", "meetings", name) }

func meetingCount(gs []Group) int {
	n := 0
	for _, g := range gs {
		n += len(g.Meetings)
	}
	return n
}

func reasonCounts(skips []Skip) map[string]int {
	out := map[string]int{}
	for _, s := range skips {
		out[s.Reason]++
	}
	return out
}

func groupNamed(t *testing.T, gs []Group, name string) Group {
	t.Helper()
	for _, g := range gs {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no group named %q among %d", name, len(gs))
	return Group{}
}

const (
	noContact = "no contact email (give the feed a contact: contact_email in the API, -contact-email in handoff import)"
	noPlace   = "no place for an in-person meeting (give latitude and longitude, or a US postal code)"
	byAppt    = "no day and time (meetings by appointment are not listed)"
)

func TestImportMeetingGuideFeeds(t *testing.T) {
	tests := []struct {
		name                                string
		file                                string
		contact                             string
		groups, meetings, skipped           int
		reasons                             map[string]int
		closedGroups, onlineOnly, hybridish int
	}{
		// Sussex: 123 rows; 8 meetings are listed twice (in person and online,
		// same group, day and time) and fold into one.
		{name: "sussex with a feed contact", file: sussexFeed, contact: feedContact,
			groups: 88, meetings: 115, skipped: 0, reasons: map[string]int{},
			onlineOnly: 14, hybridish: 3},
		// Without a feed contact only the groups whose rows carry an email stay.
		{name: "sussex without a feed contact", file: sussexFeed,
			groups: 7, meetings: 7, skipped: 116, reasons: map[string]int{noContact: 116},
			onlineOnly: 2, hybridish: 1},
		{name: "atlanta", file: atlantaFeed, contact: feedContact,
			groups: 5, meetings: 6, skipped: 0, reasons: map[string]int{}},
		// Edmonton has no coordinates and Canadian postal codes: only the 74
		// meetings with an online link can be listed (as online).
		{name: "edmonton", file: edmontonFeed, contact: feedContact,
			groups: 49, meetings: 74, skipped: 241, reasons: map[string]int{noPlace: 241},
			onlineOnly: 49},
		{name: "edmonton without a feed contact", file: edmontonFeed,
			groups: 0, meetings: 0, skipped: 315, reasons: map[string]int{noPlace: 241, noContact: 74}},
		{name: "times", file: meetingsFeed("tsml-ui-times.json"), contact: feedContact,
			groups: 1, meetings: 7, skipped: 2, reasons: map[string]int{byAppt: 1, noPlace: 1},
			onlineOnly: 1},
		// "Nowhere Online" names no time zone: it takes Chicago's, which
		// every located meeting of the feed keeps, and is then skipped for
		// its missing contact (see TestImportMeetingGuideInfersZone).
		{name: "edge cases", file: meetingsFeed("edge-cases.json"),
			groups: 4, meetings: 6, skipped: 9, closedGroups: 1, onlineOnly: 1,
			reasons: map[string]int{
				"no name": 1,
				"day must be 0 (Sunday) to 6 (Saturday), a list of them, or a day name": 1,
				"time must be HH:MM (24-hour) or like 7:30 PM":                          1,
				noPlace:                         1,
				"row is not a JSON object":      1,
				"field name has the wrong type": 1,
				byAppt:                          1,
				noContact:                       2,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := importFeed(t, tt.file, ImportOptions{Topic: "alcohol", Fellowship: "aa", ContactEmail: tt.contact, Source: "test"})
			if len(res.Groups) != tt.groups || meetingCount(res.Groups) != tt.meetings || len(res.Skipped) != tt.skipped {
				t.Fatalf("groups/meetings/skipped = %d/%d/%d, want %d/%d/%d (reasons %v)",
					len(res.Groups), meetingCount(res.Groups), len(res.Skipped), tt.groups, tt.meetings, tt.skipped, reasonCounts(res.Skipped))
			}
			if got := reasonCounts(res.Skipped); !mapsEqual(got, tt.reasons) {
				t.Errorf("reasons = %v, want %v", got, tt.reasons)
			}
			closed, online, hybrid := 0, 0, 0
			ids := map[string]bool{}
			for _, g := range res.Groups {
				if err := g.Validate(); err != nil {
					t.Errorf("group %s does not validate: %v", g.ID, err)
				}
				if ids[g.ID] {
					t.Errorf("id %s given twice", g.ID)
				}
				ids[g.ID] = true
				if g.TemporarilyClosed {
					closed++
				}
				if slices.Equal(g.Formats, []string{Online}) {
					online++
				}
				if slices.Contains(g.Formats, Hybrid) || len(g.Formats) > 1 {
					hybrid++
				}
				if g.Model != ModelTwelveStep || !slices.Equal(g.Topics, []string{"alcohol"}) || g.Source != "test" {
					t.Errorf("group %s: model %s topics %v source %s", g.ID, g.Model, g.Topics, g.Source)
				}
			}
			if closed != tt.closedGroups || online != tt.onlineOnly || hybrid != tt.hybridish {
				t.Errorf("closed/online-only/hybrid = %d/%d/%d, want %d/%d/%d", closed, online, hybrid, tt.closedGroups, tt.onlineOnly, tt.hybridish)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestImportMeetingGuideMapsFields(t *testing.T) {
	sussex := importFeed(t, sussexFeed, ImportOptions{Topic: "alcohol", Fellowship: "aa", ContactEmail: feedContact})
	edmonton := importFeed(t, edmontonFeed, ImportOptions{Topic: "alcohol", ContactEmail: feedContact})
	edge := importFeed(t, meetingsFeed("edge-cases.json"), ImportOptions{Topic: "alcohol", Fellowship: "aa"})
	smart := importFeed(t, meetingsFeed("edge-cases.json"), ImportOptions{Topic: "alcohol", Fellowship: "smart"})

	t.Run("secular meeting", func(t *testing.T) {
		g := groupNamed(t, edge.Groups, "Loop Secular Women")
		if g.Spirituality != Secular || !slices.Equal(g.Audience, []string{"women"}) || !slices.Equal(g.Accessibility, []string{"wheelchair"}) {
			t.Errorf("spirituality %q audience %v accessibility %v", g.Spirituality, g.Audience, g.Accessibility)
		}
		// The phone is kept in E.164, and an import never agrees to texts.
		if g.Contact != (Contact{Name: "Pat", Email: "loop-secular@groups.example", Phone: "+13125550100"}) {
			t.Errorf("contact = %+v", g.Contact)
		}
		if !g.HasLocation() || g.Location.Lat != 41.8763 || g.Location.PostalCode != "60605" || g.Location.Country != "US" {
			t.Errorf("location = %+v", g.Location)
		}
		want := []Meeting{{Day: "mon", Time: "18:30", EndTime: "19:30", Timezone: "America/Chicago"}}
		if !slices.Equal(g.Meetings, want) {
			t.Errorf("meetings = %+v", g.Meetings)
		}
	})
	t.Run("fellowship sets spirituality unless typed secular", func(t *testing.T) {
		if g := groupNamed(t, edge.Groups, "Noon ASL Group"); g.Spirituality != Spiritual || g.Model != ModelTwelveStep {
			t.Errorf("aa: %s %s", g.Model, g.Spirituality)
		}
		if g := groupNamed(t, smart.Groups, "Noon ASL Group"); g.Spirituality != Secular || g.Model != ModelSecularRecovery {
			t.Errorf("smart: %s %s", g.Model, g.Spirituality)
		}
	})
	t.Run("spanish meeting in sussex", func(t *testing.T) {
		g := groupNamed(t, sussex.Groups, "Lunes Nueva Generacion")
		if !slices.Equal(g.Languages, []string{"es"}) || !slices.Equal(g.Formats, []string{InPerson}) {
			t.Errorf("languages %v formats %v", g.Languages, g.Formats)
		}
		if g.Meetings[0].Timezone != "America/New_York" || g.Location.PostalCode == "" {
			t.Errorf("meeting %+v location %+v", g.Meetings[0], g.Location)
		}
	})
	t.Run("spanish online meeting with a 7:00 PM time", func(t *testing.T) {
		g := groupNamed(t, edge.Groups, "Mision Hispana en Linea")
		want := []Meeting{{Day: "wed", Time: "19:00", EndTime: "20:00", Timezone: "America/Los_Angeles", OnlineURL: "https://meet.example/mision"}}
		if !slices.Equal(g.Formats, []string{Online}) || !slices.Equal(g.Languages, []string{"es"}) || !slices.Equal(g.Meetings, want) || g.HasLocation() {
			t.Errorf("formats %v languages %v meetings %+v location %+v", g.Formats, g.Languages, g.Meetings, g.Location)
		}
	})
	t.Run("hybrid meeting", func(t *testing.T) {
		g := groupNamed(t, sussex.Groups, "Love & Service Group")
		if !slices.Equal(g.Formats, []string{Hybrid}) || !g.HasLocation() || g.Meetings[0].OnlineURL == "" {
			t.Errorf("formats %v location %+v meetings %+v", g.Formats, g.Location, g.Meetings)
		}
		if g.Contact.Email != "loveandservicerehoboth@gmail.com" {
			t.Errorf("the row's own email should win over the feed's: %s", g.Contact.Email)
		}
	})
	t.Run("meeting listed in person and online folds into one", func(t *testing.T) {
		g := groupNamed(t, sussex.Groups, "Bethany Early Birds Group")
		if len(g.Meetings) != 6 || !slices.Contains(g.Formats, InPerson) || !slices.Contains(g.Formats, Online) {
			t.Fatalf("formats %v meetings %+v", g.Formats, g.Meetings)
		}
		for _, m := range g.Meetings {
			if m.OnlineURL == "" || m.Time != "08:00" {
				t.Errorf("meeting %+v: want 08:00 with the online link kept", m)
			}
		}
	})
	t.Run("TC with a link stays online", func(t *testing.T) {
		g := groupNamed(t, sussex.Groups, "Terra Firma Big Book")
		if g.TemporarilyClosed || !slices.Equal(g.Formats, []string{Online}) || !g.AcceptingReferrals {
			t.Errorf("closed %v formats %v accepting %v", g.TemporarilyClosed, g.Formats, g.AcceptingReferrals)
		}
	})
	t.Run("TC without a link is temporarily closed", func(t *testing.T) {
		g := groupNamed(t, edge.Groups, "Congress Avenue Step Study")
		if !g.TemporarilyClosed || g.AcceptingReferrals || g.Offered() {
			t.Errorf("closed %v accepting %v", g.TemporarilyClosed, g.AcceptingReferrals)
		}
		if !g.HasLocation() || g.Location.PostalCode != "78701" || g.Location.Lat == 0 {
			t.Errorf("location from the postal code: %+v", g.Location)
		}
	})
	t.Run("edmonton 11:00 AM time", func(t *testing.T) {
		g := groupNamed(t, edmonton.Groups, "St Albert Breakfast Hybrid")
		if len(g.Meetings) == 0 || g.Meetings[0].Time != "10:30" || g.Meetings[0].Timezone != "America/Edmonton" {
			t.Errorf("meetings %+v", g.Meetings)
		}
		g = groupNamed(t, edmonton.Groups, "Alano Ray of Hope Hybrid")
		for _, m := range g.Meetings {
			if m.Time != "07:00" {
				t.Errorf("Alano Ray of Hope meets at 7:00 AM, got %+v", m)
			}
		}
		found := false
		for _, g := range edmonton.Groups {
			for _, m := range g.Meetings {
				found = found || m.Time == "11:00"
			}
		}
		if !found {
			t.Error("no meeting read at 11:00")
		}
	})
	t.Run("days as a list and a name, noon, postal code as a number", func(t *testing.T) {
		g := groupNamed(t, edge.Groups, "Noon ASL Group")
		var got []string
		for _, m := range g.Meetings {
			got = append(got, m.Day+" "+m.Time+"-"+m.EndTime)
		}
		if want := []string{"mon 12:00-13:00", "wed 12:00-13:00", "fri 12:00-13:00"}; !slices.Equal(got, want) {
			t.Errorf("meetings %v, want %v", got, want)
		}
		if !slices.Equal(g.Accessibility, []string{"asl"}) || !slices.Equal(g.Audience, []string{"newcomers"}) {
			t.Errorf("accessibility %v audience %v", g.Accessibility, g.Audience)
		}
		if !g.HasLocation() || g.Location.PostalCode != "60601" || g.Location.Lat < 41 || g.Location.Lat > 42 {
			t.Errorf("location %+v", g.Location)
		}
	})
	t.Run("ids are stable across imports", func(t *testing.T) {
		again := importFeed(t, sussexFeed, ImportOptions{Topic: "alcohol", Fellowship: "aa", ContactEmail: feedContact})
		for i := range sussex.Groups {
			if sussex.Groups[i].ID != again.Groups[i].ID {
				t.Fatalf("group %d: %s then %s", i, sussex.Groups[i].ID, again.Groups[i].ID)
			}
		}
	})
}

func TestImportMeetingGuideRefuses(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		opt   ImportOptions
		code  problem.Code
		field string
	}{
		{name: "no topic", body: `[]`, opt: ImportOptions{}, code: problem.Invalid, field: "topic"},
		{name: "unknown topic", body: `[]`, opt: ImportOptions{Topic: "cheese"}, code: problem.Invalid, field: "topic"},
		{name: "bad contact email", body: `[]`, opt: ImportOptions{Topic: "alcohol", ContactEmail: "not an email"}, code: problem.Invalid, field: "contact_email"},
		{name: "bad time zone", body: `[]`, opt: ImportOptions{Topic: "alcohol", Timezone: "Mars/Olympus"}, code: problem.Invalid, field: "timezone"},
		{name: "unknown fellowship", body: `[]`, opt: ImportOptions{Topic: "alcohol", Fellowship: "xyz"}, code: problem.Invalid, field: "fellowship"},
		{name: "an object, not an array", body: `{"name": "x"}`, opt: ImportOptions{Topic: "alcohol"}, code: problem.Malformed},
		{name: "not JSON", body: `<html>`, opt: ImportOptions{Topic: "alcohol"}, code: problem.Malformed},
		{name: "too large", body: `[` + strings.Repeat(`{"name":"x"},`, 100) + `{}]`, opt: ImportOptions{Topic: "alcohol", MaxBytes: 512}, code: problem.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportMeetingGuide(strings.NewReader(tt.body), tt.opt)
			if problem.CodeOf(err) != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			if tt.field != "" {
				var pe *problem.Error
				if !asProblem(err, &pe) || len(pe.Fields) != 1 || pe.Fields[0].Field != tt.field {
					t.Errorf("fields = %+v, want %s", pe, tt.field)
				}
			}
		})
	}
}

func TestImportMeetingGuideInvalidFeed(t *testing.T) {
	// The file is a JSON array followed by stray text: the whole feed is
	// refused, with the byte where it goes wrong and nothing of its content.
	f, err := os.Open(filepath.Join("testdata", "meetings", "tsml-ui-invalid.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = ImportMeetingGuide(f, ImportOptions{Topic: "alcohol", ContactEmail: feedContact})
	if !problem.Is(err, problem.Malformed) {
		t.Fatalf("err = %v, want malformed", err)
	}
	if body := problem.BodyOf(err); !strings.Contains(body.Detail, "byte 1907") || strings.Contains(body.Detail, "invalid text") {
		t.Errorf("detail = %q", body.Detail)
	}
}

// TestMeetingGuideTypeCodesExist guards the type maps against typos: every
// code they map is an official code of types.json.
func TestMeetingGuideTypeCodesExist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "meetings", "types.json"))
	if err != nil {
		t.Fatal(err)
	}
	var official map[string]map[string]string
	if err := json.Unmarshal(b, &official); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]map[string]string{"languages": mgLanguages, "audiences": mgAudiences, "access": mgAccess} {
		for code, v := range m {
			if _, ok := official[code]; !ok {
				t.Errorf("%s: %s is not an official type code", name, code)
			}
			if name == "audiences" && !ValidAudience(v) || name == "access" && !ValidAccessibility(v) {
				t.Errorf("%s: %s maps to %s, outside the vocabulary", name, code, v)
			}
		}
	}
	for code, names := range official {
		if _, ok := mgLanguages[code]; !ok && isLanguageName(names["en"]) {
			t.Errorf("language type %s (%s) is not mapped", code, names["en"])
		}
	}
}

func isLanguageName(en string) bool {
	switch en {
	case "English", "Spanish", "French", "Polish", "Portuguese", "Russian", "Ukrainian", "Italian", "German",
		"Korean", "Japanese", "Tagalog", "Arabic", "Persian", "Hindi", "Punjabi", "Hebrew", "Greek", "Turkish",
		"Dutch", "Swedish", "Danish", "Norwegian", "Finnish", "Icelandic", "Hungarian", "Croatian", "Bulgarian",
		"Slovak", "Slovenian", "Lithuanian", "Maltese", "Georgian", "Amharic", "Afrikaans", "Malayalam", "Nepali", "Thai":
		return true
	}
	return false
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"19:00", 19 * 60, true}, {"7:00", 7 * 60, true}, {"07:05:00", 7*60 + 5, true},
		{"11:00 AM", 11 * 60, true}, {"12:00 AM", 0, true}, {"12:30 PM", 12*60 + 30, true},
		{"7:30 pm", 19*60 + 30, true}, {"11:00 a.m.", 11 * 60, true}, {"7 PM", 19 * 60, true},
		{"noon", 12 * 60, true}, {"midnight", 0, true},
		{"25:00", 0, false}, {"13:00 PM", 0, false}, {"7", 0, false}, {"7:5", 0, false}, {"", 0, false}, {"soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseClock(tt.in)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("parseClock(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
