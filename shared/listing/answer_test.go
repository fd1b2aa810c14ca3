package listing

import (
	"errors"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
)

func group(source string) directory.Group {
	return directory.Group{
		ID: "mission-a", Name: "Mission Circle", Topics: []string{"alcohol"}, Model: directory.ModelTwelveStep,
		Formats: []string{directory.InPerson}, Languages: []string{"en"},
		Meetings: []directory.Meeting{{Day: "mon", Time: "19:00", EndTime: "20:00", Timezone: "America/Chicago"}},
		Location: directory.Location{Lat: 41.88, Lon: -87.63, City: "Chicago", PostalCode: "60601", Country: "US"},
		Contact:  directory.Contact{Name: "Sam", Email: "sam@groups.example"}, AcceptingReferrals: true, Source: source,
	}
}

// TestUpdated: the update form changes what the contact may change, the
// meetings in the group's own zone; a feed's format and meetings are the
// feed's, refused naming the field; a listing the checks refuse is
// refused whole.
func TestUpdated(t *testing.T) {
	capacity := 3
	meetings := []pages.MeetingFields{{Day: "wed", Time: "18:30", EndTime: "19:30", OnlineURL: ""}}
	t.Run("the contact's own group", func(t *testing.T) {
		g, err := updated(group("admin"), pages.ListingForm{Accepting: false, Capacity: &capacity,
			Contact: &pages.ContactFields{Phone: "+13125550100", Texts: true}, Meetings: meetings})
		if err != nil {
			t.Fatal(err)
		}
		if g.AcceptingReferrals || g.WeeklyCapacity != 3 || g.Contact.Phone != "+13125550100" || !g.Contact.Texts {
			t.Errorf("updated = %+v", g)
		}
		if len(g.Meetings) != 1 || g.Meetings[0].Day != "wed" || g.Meetings[0].Timezone != "America/Chicago" {
			t.Errorf("meetings = %+v, want Wednesday in the group's zone", g.Meetings)
		}
	})
	for _, tc := range []struct {
		name  string
		form  pages.ListingForm
		field string
	}{
		{"a feed's format", pages.ListingForm{Accepting: true, Formats: []string{directory.Online}}, "format"},
		{"a feed's meetings", pages.ListingForm{Accepting: true, Meetings: meetings}, "day"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := updated(group("meeting-guide:https://feed.example"), tc.form)
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Code != problem.Invalid || len(pe.Fields) != 1 || pe.Fields[0].Field != tc.field {
				t.Errorf("updated = %v, want Invalid naming %s", err, tc.field)
			}
		})
	}
	t.Run("a listing the checks refuse", func(t *testing.T) {
		bad := -1
		if _, err := updated(group("admin"), pages.ListingForm{Accepting: true, Capacity: &bad}); !problem.Is(err, problem.Invalid) {
			t.Errorf("a negative capacity: %v, want Invalid", err)
		}
	})
}

// TestAnswered: any answer clears what unanswered checks did (the count,
// the lower rank, their pause) and keeps a pause of another reason.
func TestAnswered(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	g := group("admin")
	g.ListingUnanswered, g.PenaltyUntil = 2, now.Add(time.Hour)
	g.Pause(unansweredPauseReason)
	answered(&g, now)
	if !g.LastConfirmedAt.Equal(now) || g.ListingUnanswered != 0 || !g.PenaltyUntil.IsZero() || g.Paused {
		t.Errorf("after an answer: %+v", g)
	}
	g = group("admin")
	g.ListingUnanswered = 1
	g.Pause("contact email bounce")
	answered(&g, now)
	if !g.Paused || g.PausedReason != "contact email bounce" {
		t.Errorf("a bounce's pause was lifted by an answer: %+v", g)
	}
}

// TestNextCheck: a period after a check or an answer, or at the end of the
// contact's pause when that is later.
func TestNextCheck(t *testing.T) {
	every := 90 * 24 * time.Hour
	l := New(&app.App{Config: config.Config{ListingCheckEvery: every}})
	at := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	g := group("admin")
	if got := l.nextCheck(g, at); !got.Equal(at.Add(every)) {
		t.Errorf("no pause: %v, want a period later", got)
	}
	g.PauseUntil(contactPauseReason, at.Add(2*every))
	if got := l.nextCheck(g, at); !got.Equal(at.Add(2 * every)) {
		t.Errorf("a long pause: %v, want its end", got)
	}
	g.PauseUntil(contactPauseReason, at.Add(7*24*time.Hour))
	if got := l.nextCheck(g, at); !got.Equal(at.Add(every)) {
		t.Errorf("a short pause: %v, want a period later", got)
	}
}
