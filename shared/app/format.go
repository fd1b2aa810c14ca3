package app

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/handoff-health/handoff/shared/referral"
)

var dayNames = map[string]map[string]string{
	"en": {"mon": "Mondays", "tue": "Tuesdays", "wed": "Wednesdays", "thu": "Thursdays", "fri": "Fridays", "sat": "Saturdays", "sun": "Sundays"},
	"es": {"mon": "los lunes", "tue": "los martes", "wed": "los miércoles", "thu": "los jueves", "fri": "los viernes", "sat": "los sábados", "sun": "los domingos"},
}

var partNames = map[string]map[string]string{
	"en": {"morning": "mornings", "afternoon": "afternoons", "evening": "evenings"},
	"es": {"morning": "por la mañana", "afternoon": "por la tarde", "evening": "por la noche"},
}

// meetingWhen says when a group meets, in words: "Mondays 7:30 pm".
func meetingWhen(lang string, ms []referral.MeetingTime) string {
	if lang != "es" {
		lang = "en"
	}
	var parts []string
	for i, m := range ms {
		if i == 4 {
			more := map[string]string{"en": "and more", "es": "y más"}[lang]
			parts = append(parts, more)
			break
		}
		day := dayNames[lang][m.Day]
		if day == "" {
			day = m.Day
		}
		parts = append(parts, strings.TrimSpace(day+" "+clock(lang, m.Time)))
	}
	return strings.Join(parts, "; ")
}

// clock turns "19:30" into "7:30 pm" (English) or keeps "19:30" (Spanish).
func clock(lang, hhmm string) string {
	h, m, ok := strings.Cut(hhmm, ":")
	hour, err := strconv.Atoi(h)
	if !ok || err != nil || hour < 0 || hour > 23 {
		return hhmm
	}
	if lang == "es" {
		return fmt.Sprintf("%02d:%s", hour, m)
	}
	suffix := "am"
	if hour >= 12 {
		suffix = "pm"
	}
	hour %= 12
	if hour == 0 {
		hour = 12
	}
	return fmt.Sprintf("%d:%s %s", hour, m, suffix)
}

// preferredTimes says when the patient would like to meet, in words.
func preferredTimes(lang string, p referral.Preferences) string {
	if lang != "es" {
		lang = "en"
	}
	var days, parts []string
	for _, d := range p.Days {
		if n := dayNames[lang][d]; n != "" {
			days = append(days, n)
		}
	}
	for _, t := range p.Times {
		if n := partNames[lang][t]; n != "" {
			parts = append(parts, n)
		}
	}
	out := strings.Join(append(days, parts...), ", ")
	if out == "" {
		return map[string]string{"en": "any time", "es": "cualquier momento"}[lang]
	}
	return out
}
