package directory

import (
	"reflect"
	"testing"

	"github.com/handoff-health/handoff/shared/referral"
)

// TestOfferOf: a group as a referral offers it: the format the patient
// wants when the group has it, else its first; its meetings with their
// zones; the first online link, none when it is offered in person.
func TestOfferOf(t *testing.T) {
	g := Group{ID: "mission-a", Name: "Mission Circle", Formats: []string{InPerson, Online},
		Meetings: []Meeting{
			{Day: "mon", Time: "19:00", Timezone: "America/Chicago"},
			{Day: "thu", Time: "18:30", Timezone: "America/Chicago", OnlineURL: "https://meet.example/mc"},
		},
		Location: Location{City: "Chicago", PostalCode: "60601", Address: "1 Main St"}}
	m := Match{Group: GroupRef{ID: g.ID, Name: g.Name}, DistanceKm: 2.5, Reasons: []string{"near"}}
	meetings := []referral.MeetingTime{{Day: "mon", Time: "19:00", Timezone: "America/Chicago"}, {Day: "thu", Time: "18:30", Timezone: "America/Chicago"}}
	tests := []struct {
		name         string
		group        Group
		wanted       []string
		format, link string
	}{
		{"wants online", g, []string{Online}, Online, "https://meet.example/mc"},
		{"wants nothing in particular", g, nil, InPerson, ""},
		{"wants what it has not", g, []string{Hybrid}, InPerson, ""},
		{"no format listed", Group{ID: g.ID, Name: g.Name, Meetings: g.Meetings, Location: g.Location}, nil, InPerson, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := OfferOf(tc.group, m, referral.Preferences{Formats: tc.wanted})
			want := referral.Offer{GroupID: "mission-a", Name: "Mission Circle", DistanceKm: 2.5, Reasons: []string{"near"},
				City: "Chicago", PostalCode: "60601", Format: tc.format, OnlineURL: tc.link, Meetings: meetings}
			if !reflect.DeepEqual(o, want) {
				t.Errorf("OfferOf =\n%+v, want\n%+v", o, want)
			}
		})
	}
}
