package app

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/referral"
)

var dayNames = map[string]map[string]string{
	"en": {"mon": "Mondays", "tue": "Tuesdays", "wed": "Wednesdays", "thu": "Thursdays", "fri": "Fridays", "sat": "Saturdays", "sun": "Sundays"},
	"es": {"mon": "los lunes", "tue": "los martes", "wed": "los miércoles", "thu": "los jueves", "fri": "los viernes", "sat": "los sábados", "sun": "los domingos"},
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

// preferredTimes says when the patient would like to meet, in words (""
// when they did not say), in the page's translations.
func preferredTimes(lang string, p referral.Preferences) string {
	t, err := pages.PreferredTimesText(lang, p.Days, p.Times)
	if err != nil {
		return "" // intake admits only known codes; nothing to show otherwise
	}
	return t
}
