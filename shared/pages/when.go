package pages

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/referral"
)

var dayNames = map[string]map[string]string{
	"en": {"mon": "Mondays", "tue": "Tuesdays", "wed": "Wednesdays", "thu": "Thursdays", "fri": "Fridays", "sat": "Saturdays", "sun": "Sundays"},
	"es": {"mon": "los lunes", "tue": "los martes", "wed": "los miércoles", "thu": "los jueves", "fri": "los viernes", "sat": "los sábados", "sun": "los domingos"},
}

// MeetingWhen says when a group meets, in words: "Mondays 7:30 pm". It
// names four meetings at most, then says there are more; a day code it
// does not know is shown as it is.
func MeetingWhen(lang string, ms []referral.MeetingTime) string {
	if lang != Spanish {
		lang = English
	}
	var parts []string
	for i, m := range ms {
		if i == 4 {
			more := map[string]string{English: "and more", Spanish: "y más"}[lang]
			parts = append(parts, more)
			break
		}
		day := dayNames[lang][m.Day]
		if day == "" {
			day = m.Day
		}
		parts = append(parts, strings.TrimSpace(day+" "+Clock(lang, m.Time)))
	}
	return strings.Join(parts, "; ")
}

// Clock turns "19:30" into "7:30 pm" (English) or keeps "19:30" (Spanish);
// a value that is not a time of day is returned as it is.
func Clock(lang, hhmm string) string {
	h, m, ok := strings.Cut(hhmm, ":")
	hour, err := strconv.Atoi(h)
	if !ok || err != nil || hour < 0 || hour > 23 {
		return hhmm
	}
	if lang == Spanish {
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

// DetailsOf is group g's public listing in lang, for SelfModeEmail: when
// it meets, where, how to join online and its contact.
func DetailsOf(g directory.Group, lang string) GroupDetails {
	d := GroupDetails{Name: g.Name, ContactName: g.Contact.Name, ContactEmail: g.Contact.Email}
	var when []string
	for _, m := range g.Meetings {
		when = append(when, MeetingWhen(lang, []referral.MeetingTime{{Day: m.Day, Time: m.Time}}))
		if d.OnlineHow == "" && m.OnlineURL != "" {
			d.OnlineHow = m.OnlineURL
		}
	}
	d.When = strings.Join(when, "; ")
	d.Where = g.Where()
	return d
}

// GroupLang is the language a group is written to in: its first
// language's, else English.
func GroupLang(g directory.Group) string {
	if len(g.Languages) > 0 {
		return Lang(g.Languages[0])
	}
	return English
}

// To addresses a rendered email, its attachments with it.
func (e Email) To(addr string) mail.Message {
	return mail.Message{To: addr, Subject: e.Subject, Text: e.Text, HTML: e.HTML, Attachments: e.Attachments}
}
