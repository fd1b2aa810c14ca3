package directory_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/referral"
)

func ExampleImportMeetingGuide() {
	feed := `[
	  {"name": "Loop Secular", "slug": "loop-secular", "day": 3, "time": "6:00 PM", "types": ["O", "A", "X"],
	   "address": "400 S State St", "city": "Chicago", "state": "IL", "postal_code": "60605",
	   "latitude": 41.8763, "longitude": -87.6277},
	  {"name": "No Time", "slug": "no-time", "day": 1}
	]`
	res, err := directory.ImportMeetingGuide(strings.NewReader(feed), directory.ImportOptions{
		Topic: "alcohol", Fellowship: "aa", ContactEmail: "intergroup@groups.example",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	g := res.Groups[0]
	fmt.Println(g.Name, g.Spirituality, g.Formats, g.Accessibility, g.Meetings[0].Day, g.Meetings[0].Time, g.Meetings[0].Timezone)
	fmt.Println(res.Skipped)
	// Output:
	// Loop Secular secular [in-person] [wheelchair] wed 18:00 America/Chicago
	// [{1 no day and time (meetings by appointment are not listed)}]
}

func ExampleRank() {
	near := directory.Candidate{
		GroupID: "near-north", Name: "Near North Group", Topics: []string{"alcohol"}, Spirituality: "spiritual",
		Formats: []string{"in-person"}, Languages: []string{"en"}, HasLocation: true, Lat: 41.90, Lon: -87.63,
		Accepting: true, Meetings: []directory.Slot{{Day: "mon", Time: "19:00"}},
	}
	secular := directory.Candidate{
		GroupID: "loop-secular", Name: "Loop Secular Recovery", Topics: []string{"alcohol"}, Spirituality: "secular",
		Formats: []string{"hybrid"}, Languages: []string{"en"}, HasLocation: true, Lat: 41.8763, Lon: -87.6277,
		Accepting: true, Meetings: []directory.Slot{{Day: "wed", Time: "18:00"}},
	}
	q := directory.Query{
		Topics: []string{"alcohol"}, Lat: 41.8847, Lon: -87.6245, HasLocation: true, Limit: 3,
		Prefs: referral.Preferences{Spirituality: "secular", Days: []string{"wed"}, Times: []string{"evening"}},
		Now:   time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC),
	}
	for _, m := range directory.Rank(q, []directory.Candidate{near, secular}) {
		fmt.Println(m.Group.Name, m.Score, m.Reasons)
	}
	// Output:
	// Loop Secular Recovery 5.964 [1.0 km away meets Wednesday evening secular]
	// Near North Group 2.184 [1.8 km away]
}
