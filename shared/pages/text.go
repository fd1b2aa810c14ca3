package pages

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/handoff-health/handoff/shared/sms"
)

// MinTextClinic is the fewest characters of the clinic's name a text keeps;
// a link too long to leave that much room in one segment is an error.
const MinTextClinic = 12

// ConsentSMS is the text message that brings a patient the consent link: one SMS
// segment in GSM-7 (at most 160 characters), naming the clinic, holding link
// and ending with how to stop texts. It names no group, topic, condition or
// fellowship: a text shows on a lock screen. The clinic's name loses its
// accents (most are not in GSM-7, and one would make the text UCS-2, 70
// characters) and is shortened to fit. reminder picks the one reminder's
// wording. It returns an Invalid error for a bad link, and an error when the
// link leaves less than MinTextClinic characters for the clinic.
func ConsentSMS(lang, clinicName, link string, reminder bool) (string, error) {
	if err := checkLink(link); err != nil {
		return "", err
	}
	t, err := newTr(lang)
	if err != nil {
		return "", err
	}
	id := "text.consent"
	if reminder {
		id = "text.reminder"
	}
	// Measure the text with no clinic name, then give the name what is left.
	const mark = "\x00"
	frame, err := t.T(id, "Clinic", mark, "Link", link)
	if err != nil {
		return "", err
	}
	frame = gsmOnly(strings.Replace(frame, mark, "", 1))
	room := 160 - sms.Measure(frame).Units
	clinic := shorten(gsmOnly(oneLine(clinicName)), room)
	if room < MinTextClinic || (clinic == "" && clinicName != "") {
		return "", fmt.Errorf("a text with a %d-character link leaves %d characters for the clinic's name, fewer than %d: shorten HANDOFF_PUBLIC_URL", len(link), room, MinTextClinic)
	}
	body, err := t.T(id, "Clinic", clinic, "Link", link)
	if err != nil {
		return "", err
	}
	body = gsmOnly(body)
	if c := sms.Measure(body); c.Segments != 1 || c.Encoding != sms.GSM7 {
		return "", fmt.Errorf("consent text: %d %s units, want one GSM-7 segment", c.Units, c.Encoding)
	}
	return body, nil
}

// VolunteerSMS is the text that tells a patient reached by text who will
// reach out: one GSM-7 segment naming the clinic and the volunteer's first
// name, never the group (a text shows on a lock screen).
func VolunteerSMS(lang, clinicName, volunteer string) (string, error) {
	t, err := newTr(lang)
	if err != nil {
		return "", err
	}
	const mark = "\x00"
	name := shorten(gsmOnly(oneLine(volunteer)), 20)
	frame, err := t.T("text.volunteer", "Clinic", mark, "Volunteer", name)
	if err != nil {
		return "", err
	}
	room := 160 - sms.Measure(gsmOnly(strings.Replace(frame, mark, "", 1))).Units
	body, err := t.T("text.volunteer", "Clinic", shorten(gsmOnly(oneLine(clinicName)), room), "Volunteer", name)
	if err != nil {
		return "", err
	}
	body = gsmOnly(body)
	if c := sms.Measure(body); c.Segments != 1 || c.Encoding != sms.GSM7 {
		return "", fmt.Errorf("volunteer text: %d %s units, want one GSM-7 segment", c.Units, c.Encoding)
	}
	return body, nil
}

// gsmOnly writes s in the GSM-7 alphabet: a letter outside it loses its
// accent (á → a) when that brings it in; anything else that stays outside
// becomes a space, and runs of spaces close up.
func gsmOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if sms.Measure(string(r)).Encoding == sms.GSM7 {
			b.WriteRune(r)
			continue
		}
		base := []rune(norm.NFD.String(string(r)))
		if len(base) > 0 && sms.Measure(string(base[0])).Encoding == sms.GSM7 && !unicode.IsMark(base[0]) {
			b.WriteRune(base[0])
			continue
		}
		b.WriteByte(' ')
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// shorten cuts s to at most n septets, at a word boundary when one is in
// the last third, with no trailing punctuation or space.
func shorten(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if sms.Measure(s).Units <= n {
		return s
	}
	rs := []rune(s)
	for len(rs) > 0 && sms.Measure(string(rs)).Units > n {
		rs = rs[:len(rs)-1]
	}
	cut := string(rs)
	if i := strings.LastIndexByte(cut, ' '); i >= len(cut)*2/3 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " .,;:-&")
}
