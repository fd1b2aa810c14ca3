package app

import (
	"sync"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/referral"
)

// zones caches loaded time zones by name.
var zones sync.Map // string → *time.Location

// zoned returns t in the IANA time zone tz, or in UTC when tz is empty or
// unknown, so that a date shown to a person reads in their local time
// (pages name the zone beside the time).
func zoned(t time.Time, tz string) time.Time {
	if tz == "" {
		return t.UTC()
	}
	if loc, ok := zones.Load(tz); ok {
		return t.In(loc.(*time.Location))
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return t.UTC()
	}
	zones.Store(tz, loc)
	return t.In(loc)
}

// groupZone is the time zone a group meets in: that of its first meeting.
func groupZone(g directory.Group) string {
	for _, m := range g.Meetings {
		if m.Timezone != "" {
			return m.Timezone
		}
	}
	return ""
}

// patientZone is the time zone the patient most likely lives in, as far as
// handoff knows without asking: that of the first group offered that meets
// in person (in-person offers are near the patient), else of any group
// offered, else none (UTC).
func patientZone(r *referral.Referral) string {
	var fallback string
	for _, o := range r.Offers {
		for _, m := range o.Meetings {
			if m.Timezone == "" {
				continue
			}
			if o.Format != directory.Online {
				return m.Timezone
			}
			if fallback == "" {
				fallback = m.Timezone
			}
		}
	}
	return fallback
}
