package directory

import "github.com/handoff-health/handoff/shared/referral"

// OfferOf is group g as a referral offers it to a patient with prefs, as
// matched (m): its format that suits the patient best, its meetings in
// their zones, its online link unless it is offered in person.
func OfferOf(g Group, m Match, prefs referral.Preferences) referral.Offer {
	o := referral.Offer{
		GroupID: g.ID, Name: g.Name, DistanceKm: m.DistanceKm, Reasons: m.Reasons,
		City: g.Location.City, PostalCode: g.Location.PostalCode,
	}
	o.Format = pickFormat(g.Formats, prefs.Formats)
	for _, mt := range g.Meetings {
		o.Meetings = append(o.Meetings, referral.MeetingTime{Day: mt.Day, Time: mt.Time, Timezone: mt.Timezone})
		if o.OnlineURL == "" && mt.OnlineURL != "" {
			o.OnlineURL = mt.OnlineURL
		}
	}
	if o.Format == InPerson {
		o.OnlineURL = ""
	}
	return o
}

// pickFormat names the group's format that suits the patient best.
func pickFormat(group, wanted []string) string {
	for _, w := range wanted {
		for _, f := range group {
			if f == w {
				return f
			}
		}
	}
	if len(group) > 0 {
		return group[0]
	}
	return InPerson
}
