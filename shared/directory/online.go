package directory

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// Online meetings are ranked by the patient's clock, not the group's: a
// meeting at 19:00 in Edmonton is 21:00 for a patient in Atlanta. When the
// query gives the patient's zone (Query.Zone), each meeting of an online
// candidate is moved into it at the date of its next occurrence after
// Query.Now (so the daylight-saving rules of both zones in force that week
// apply), its day and time of day are scored against the patient's
// preferences, and a group whose zone is nearer the patient's ranks above
// one farther away. Without a zone, meetings are read in their own time.

// zoneSpanHours is the zone gap at which an online group's closeness bonus
// reaches zero; onlineZoneShare is the part of the online closeness score a
// far zone loses. A group in the patient's zone scores as every online group
// did before zones were known, so online and in-person groups weigh as
// before.
const (
	zoneSpanHours   = 8.0
	onlineZoneShare = 1.0 / 3
)

// zoneCache holds loaded time zones by name (nil for an unknown name).
var zoneCache sync.Map // string → *time.Location

func loadZone(name string) *time.Location {
	if name == "" {
		return nil
	}
	if l, ok := zoneCache.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		l = nil
	}
	zoneCache.Store(name, l)
	return l
}

// inPatientZone returns the slot as the patient's clock reads it at its next
// occurrence after now; ok is false when the slot has no zone or the time is
// unreadable.
func inPatientZone(s Slot, patient *time.Location, now time.Time) (Slot, bool) {
	from := loadZone(s.Zone)
	mins, ok := parseHHMM(s.Time)
	d := dayIndex(s.Day)
	if from == nil || patient == nil || !ok || d < 0 {
		return Slot{}, false
	}
	local := now.In(from)
	ahead := (d - int(local.Weekday()) + 7) % 7
	t := time.Date(local.Year(), local.Month(), local.Day()+ahead, mins/60, mins%60, 0, 0, from)
	if t.Before(local) {
		t = time.Date(local.Year(), local.Month(), local.Day()+ahead+7, mins/60, mins%60, 0, 0, from)
	}
	pt := t.In(patient)
	return Slot{Day: days[pt.Weekday()], Time: formatHHMM(pt.Hour()*60 + pt.Minute()), Zone: patient.String()}, true
}

// zoneGapHours is how many hours apart the patient's zone and the nearest of
// the group's meeting zones are at now; ok is false when none is known.
func zoneGapHours(c *Candidate, patient *time.Location, now time.Time) (float64, bool) {
	_, po := now.In(patient).Zone()
	best, ok := 0.0, false
	for _, m := range c.Meetings {
		z := loadZone(m.Zone)
		if z == nil {
			continue
		}
		_, o := now.In(z).Zone()
		gap := float64(o-po) / 3600
		if gap < 0 {
			gap = -gap
		}
		if !ok || gap < best {
			best, ok = gap, true
		}
	}
	return best, ok
}

// onlineCloseness is an online group's closeness score: weightDistance ×
// onlineDistance in the patient's zone (or with no zone known), less up to
// onlineZoneShare of it as the zone gap grows to zoneSpanHours.
func (p *prefs) onlineCloseness(c *Candidate) float64 {
	base := weightDistance * onlineDistance
	if p.zone == nil {
		return base
	}
	gap, ok := zoneGapHours(c, p.zone, p.q.Now)
	if !ok {
		return base
	}
	return base * (1 - onlineZoneShare*min(gap, zoneSpanHours)/zoneSpanHours)
}

// slotsFor returns a candidate's meetings as the patient's clock reads them
// when it is offered online and the patient's zone is known, else as listed.
func (p *prefs) slotsFor(c *Candidate, online bool) []Slot {
	if !online || p.zone == nil {
		return c.Meetings
	}
	out := make([]Slot, 0, len(c.Meetings))
	for _, m := range c.Meetings {
		if s, ok := inPatientZone(m, p.zone, p.q.Now); ok {
			out = append(out, s)
		} else {
			out = append(out, m)
		}
	}
	return out
}

// onlineReasons say when an online group meets by the patient's clock
// ("Tuesdays 7 pm your time"): the meeting that suits the patient's days and
// times best, else the first; and "in your time zone" when it is.
func (p *prefs) onlineReasons(r *ranked) []string {
	if !r.online || p.zone == nil {
		return nil
	}
	c := r.cand
	var out []string
	slots := p.slotsFor(c, true)
	pick, best := -1, -1.0
	for i, s := range slots {
		if s.Zone == "" || loadZone(s.Zone) != p.zone {
			continue
		}
		f := 0.0
		if p.anyDay || p.anyTime {
			f = p.slotFit(s)
		}
		if f > best {
			pick, best = i, f
		}
	}
	if pick >= 0 {
		s := slots[pick]
		mins, _ := parseHHMM(s.Time)
		out = append(out, dayNames[max(dayIndex(s.Day), 0)]+"s "+clockText(mins)+" your time")
	}
	if gap, ok := zoneGapHours(c, p.zone, p.q.Now); ok && gap == 0 {
		out = append(out, "in your time zone")
	}
	return out
}

// clockText writes minutes after midnight as a person says them: "7 pm",
// "7:30 pm", "12 pm".
func clockText(mins int) string {
	h, m := mins/60, mins%60
	suffix := " am"
	if h >= 12 {
		suffix = " pm"
	}
	h %= 12
	if h == 0 {
		h = 12
	}
	s := strconv.Itoa(h)
	if m != 0 {
		s += ":" + strconv.Itoa(m/10) + strconv.Itoa(m%10)
	}
	return s + suffix
}

// MarshalJSON leaves distance_km out for a group offered for its online
// meetings: it has no distance that means anything to the patient.
func (m Match) MarshalJSON() ([]byte, error) {
	type plain Match
	if !m.Online {
		return json.Marshal(plain(m))
	}
	return json.Marshal(struct {
		plain
		DistanceKm *float64 `json:"distance_km,omitempty"`
	}{plain: plain(m)})
}
