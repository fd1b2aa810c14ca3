package apptest

import "github.com/handoff-health/handoff/shared/directory"

// SampleGroup returns a valid in-person AA-style listing for the alcohol topic
// at a place, accepting referrals, in English and Spanish.
func SampleGroup(id string, lat, lon float64) directory.Group {
	return directory.Group{
		ID: id, Name: "Group " + id, Description: "A weekly peer support meeting.",
		Topics: []string{"alcohol"}, Model: directory.ModelTwelveStep, Spirituality: directory.Secular,
		Formats: []string{directory.InPerson}, Languages: []string{"en", "es"},
		Meetings: []directory.Meeting{
			{Day: "mon", Time: "19:00", EndTime: "20:00", Timezone: "America/Los_Angeles"},
			{Day: "thu", Time: "19:00", EndTime: "20:00", Timezone: "America/Los_Angeles"},
		},
		Location:           directory.Location{Lat: lat, Lon: lon, PostalCode: "94110", City: "San Francisco", Country: "US"},
		Contact:            directory.Contact{Name: "Volunteer " + id, Email: "contact+" + id + "@groups.example"},
		AcceptingReferrals: true, Source: "admin",
	}
}
