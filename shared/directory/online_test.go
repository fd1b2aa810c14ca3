package directory

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/referral"
)

// online is an online-only group meeting at day/time in zone.
func online(id, zone string, meetings ...string) Candidate {
	c := Candidate{GroupID: id, Name: "Group " + id, Topics: []string{"alcohol"}, Formats: []string{Online},
		Languages: []string{"en"}, Accepting: true}
	for _, m := range meetings {
		day, hhmm, _ := strings.Cut(m, " ")
		c.Meetings = append(c.Meetings, Slot{Day: day, Time: hhmm, Zone: zone})
	}
	return c
}

// onlineDirectory holds evening and morning meetings across North America,
// listed (and so tied) in an order that favours no one: ids sort Edmonton
// and Austin before Atlanta, as the flat score used to offer them.
func onlineDirectory() []Candidate {
	return []Candidate{
		online("a-edmonton-eve", "America/Edmonton", "tue 19:00"),
		online("b-austin-eve", "America/Chicago", "tue 19:00"),
		online("c-la-eve", "America/Los_Angeles", "tue 19:00"),
		online("d-atlanta-eve", "America/New_York", "tue 19:00"),
		online("e-atlanta-am", "America/New_York", "tue 08:00"),
		online("f-la-am", "America/Los_Angeles", "tue 08:00"),
		online("g-honolulu-eve", "Pacific/Honolulu", "tue 19:00"),
	}
}

func refPrefs(formats, times []string) referral.Preferences {
	return referral.Preferences{Formats: formats, Times: times}
}

func onlineQuery(zone string, edit ...func(*Query)) Query {
	q := Query{Topics: []string{"alcohol"}, Zone: zone, Now: rankNow, Limit: 10,
		Prefs: refPrefs([]string{Online}, []string{"evening"})}
	for _, e := range edit {
		e(&q)
	}
	return q
}

func TestOnlineRankedByThePatientsClock(t *testing.T) {
	t.Run("Atlanta evening: Eastern evening first, then the nearer zones", func(t *testing.T) {
		got := ids(Rank(onlineQuery("America/New_York"), onlineDirectory()))
		// Honolulu 19:00 is 00:00 in Atlanta: not an evening meeting there.
		want := []string{"d-atlanta-eve", "b-austin-eve", "a-edmonton-eve", "c-la-eve"}
		if !slices.Equal(got[:4], want) {
			t.Errorf("order %v, want %v first", got, want)
		}
	})
	t.Run("Pacific evening: Pacific evening first; an Eastern evening is a Pacific afternoon", func(t *testing.T) {
		got := ids(Rank(onlineQuery("America/Los_Angeles"), onlineDirectory()))
		if got[0] != "c-la-eve" {
			t.Errorf("order %v, want c-la-eve first", got)
		}
		if slices.Index(got, "d-atlanta-eve") < slices.Index(got, "a-edmonton-eve") {
			t.Errorf("order %v: Atlanta's 4 pm meeting ranked above Edmonton's 6 pm one", got)
		}
	})
	t.Run("no zone: as before, meetings read in their own time", func(t *testing.T) {
		ms := Rank(onlineQuery(""), onlineDirectory())
		if ms[0].Group.ID != "a-edmonton-eve" || ms[0].Score != ms[1].Score {
			t.Errorf("without a zone, the evening meetings tie in id order; got %v", ids(ms))
		}
	})
	t.Run("language stays a hard filter", func(t *testing.T) {
		dir := onlineDirectory()
		dir[3].Languages = []string{"es"}
		got := ids(Rank(onlineQuery("America/New_York", func(q *Query) { q.Prefs.Languages = []string{"en"} }), dir))
		if slices.Contains(got, "d-atlanta-eve") {
			t.Errorf("a Spanish-only group offered to a patient requiring English: %v", got)
		}
		got = ids(Rank(onlineQuery("America/New_York", func(q *Query) { q.Prefs.Languages = []string{"es"} }), dir))
		if !slices.Equal(got, []string{"d-atlanta-eve"}) {
			t.Errorf("requiring Spanish gave %v", got)
		}
	})
	t.Run("audience still ranks a group for others down", func(t *testing.T) {
		dir := onlineDirectory()
		dir[3].Audience = []string{"women"}
		got := ids(Rank(onlineQuery("America/New_York"), dir))
		if got[0] == "d-atlanta-eve" {
			t.Errorf("a women's group ranked first for a patient who did not ask: %v", got)
		}
		got = ids(Rank(onlineQuery("America/New_York", func(q *Query) { q.Prefs.Audience = []string{"women"} }), dir))
		if got[0] != "d-atlanta-eve" {
			t.Errorf("a women's group not first for a patient asking for one: %v", got)
		}
	})
	t.Run("an in-person group near the patient still comes before online ones", func(t *testing.T) {
		q := onlineQuery("America/Chicago", func(q *Query) {
			q.Prefs.Formats = nil
			q.Lat, q.Lon, q.HasLocation = 41.8847, -87.6245, true
		})
		near := cand("near", 0.05, func(c *Candidate) { c.Meetings = []Slot{{Day: "tue", Time: "19:00", Zone: "America/Chicago"}} })
		got := ids(Rank(q, append(onlineDirectory(), near)))
		if got[0] != "near" {
			t.Errorf("order %v, want the in-person group 5.6 km away first", got)
		}
	})
}

func TestOnlineReasonsInLocalTime(t *testing.T) {
	ms := Rank(onlineQuery("America/New_York"), onlineDirectory())
	byID := map[string][]string{}
	for _, m := range ms {
		byID[m.Group.ID] = m.Reasons
	}
	for id, want := range map[string][]string{
		"d-atlanta-eve":  {"online", "Tuesdays 7 pm your time", "in your time zone"},
		"a-edmonton-eve": {"online", "Tuesdays 9 pm your time"},
		"c-la-eve":       {"online", "Tuesdays 10 pm your time"},
		"g-honolulu-eve": {"online", "Wednesdays 12 am your time"},
	} {
		if !slices.Equal(byID[id], want) {
			t.Errorf("%s: reasons %q, want %q", id, byID[id], want)
		}
	}
	b, err := json.Marshal(ms[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "distance_km") {
		t.Errorf("an online offer carries distance_km: %s", b)
	}
	inPerson, _ := json.Marshal(Rank(query(), []Candidate{cand("here", 0)})[0])
	if !strings.Contains(string(inPerson), `"distance_km":0`) {
		t.Errorf("an in-person offer at 0 km lost distance_km: %s", inPerson)
	}
}

// Daylight saving: the US and Europe change clocks on different Sundays, and
// Arizona not at all; a meeting moves on the patient's clock accordingly.
func TestOnlineAcrossDaylightSaving(t *testing.T) {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, c := range []struct {
		name, zone, meeting, patient string
		now                          string
		want                         string
	}{
		{"Phoenix in Atlanta's winter", "America/Phoenix", "tue 19:00", "America/New_York", "2026-01-05T12:00:00Z", "Tuesdays 9 pm your time"},
		{"Phoenix in Atlanta's summer", "America/Phoenix", "tue 19:00", "America/New_York", "2026-07-06T12:00:00Z", "Tuesdays 10 pm your time"},
		// US clocks go forward on 8 March 2026, the UK's on 29 March.
		{"London, both on winter time", "Europe/London", "tue 23:00", "America/New_York", "2026-03-02T12:00:00Z", "Tuesdays 6 pm your time"},
		{"London, between the two changes", "Europe/London", "tue 23:00", "America/New_York", "2026-03-09T12:00:00Z", "Tuesdays 7 pm your time"},
		{"London, both on summer time", "Europe/London", "tue 23:00", "America/New_York", "2026-03-30T12:00:00Z", "Tuesdays 6 pm your time"},
		// Saturday night before the change: Monday's meeting falls after it.
		{"the meeting after the change, asked before it", "America/Chicago", "mon 19:00", "America/Phoenix", "2026-03-07T23:00:00Z", "Mondays 5 pm your time"},
		{"a week earlier", "America/Chicago", "mon 19:00", "America/Phoenix", "2026-02-28T23:00:00Z", "Mondays 6 pm your time"},
		// Sydney's Monday 10:00 is a Sunday afternoon in Los Angeles: 3 pm
		// before the US change, 4 pm after it (Sydney keeps summer time).
		{"the day changes", "Australia/Sydney", "mon 10:00", "America/Los_Angeles", "2026-02-28T12:00:00Z", "Sundays 3 pm your time"},
		{"the day changes, after the US change", "Australia/Sydney", "mon 10:00", "America/Los_Angeles", "2026-03-02T12:00:00Z", "Sundays 4 pm your time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := Query{Topics: []string{"alcohol"}, Zone: c.patient, Now: at(c.now), Prefs: refPrefs([]string{Online}, nil)}
			ms := Rank(q, []Candidate{online("g", c.zone, c.meeting)})
			if len(ms) != 1 || len(ms[0].Reasons) < 2 || ms[0].Reasons[1] != c.want {
				t.Fatalf("got %+v, want reason %q", ms, c.want)
			}
		})
	}
}
