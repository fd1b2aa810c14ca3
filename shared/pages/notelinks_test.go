package pages

import (
	"net/url"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/problem"
)

// TestNoteLink: what a mail or phone app would make a link is found, named
// by its kind; ordinary sentences pass.
func TestNoteLink(t *testing.T) {
	for note, want := range map[string]string{
		"Join at zoom.us/j/123":                 "a web address",
		"see example.ca":                        "a web address",
		"parking info: city.gov/parking":        "a web address",
		"our page is at mit.edu":                "a web address",
		"gruppe.de":                             "a web address",
		"NHS.UK has more":                       "a web address",
		"www.stmarys-hall.org":                  "a web address",
		"WWW.Example.Com/meet":                  "a web address",
		"meet.google.com/abc-defg-hij":          "a web address",
		"https://meet.example.org/x":            "a web address",
		"http://localhost:8080":                 "a web address",
		"ftp://files.example.net":               "a web address",
		"bit.ly/3xYz":                           "a web address",
		"the back door.It is open":              "a web address", // .it: an app would link it
		"write to maria@example.org":            "an email address",
		"mailto:maria@example.org":              "an email address",
		"Maria.Lopez+aa@groups.example.co.uk":   "an email address",
		"on 192.168.0.10 at home":               "an IP address",
		"10.0.0.1:8080/room":                    "an IP address",
		"http://[2001:db8::1]/x":                "an IP address",
		"2001:db8::1":                           "an IP address",
		"I'll call Tue. at 7 pm":                "",
		"St. Mary's hall, side door":            "",
		"Dr. Lee will meet you":                 "",
		"about 3.5 miles from the station":      "",
		"e.g. parking behind the church":        "",
		"i.e. the blue door; 7:30 pm":           "",
		"U.S. Route 1, Mon.-Fri., a.m. or p.m.": "",
		"Room 101a, 2nd fl. No. 4":              "",
		"I'm at St.Mary's from 6":               "",
		"v1.2 of the map":                       "",
		"call 555-0100 after 6":                 "",
		"café at 12:30, línea 3":                "",
		"":                                      "",
	} {
		if got := noteLink(note); got != want {
			t.Errorf("noteLink(%q) = %q, want %q", note, got, want)
		}
	}
}

// TestVolunteerNoteRefused: a note holding a link is a 400 on
// volunteer_note that says what kind of address it found, and never
// repeats the note.
func TestVolunteerNoteRefused(t *testing.T) {
	for note, kind := range map[string]string{
		"Qzx at qzxhall.example.de/door": "a web address",
		"Qzx: qzx@hall.example.org":      "an email address",
		"Qzx 10.1.2.3":                   "an IP address",
	} {
		body := url.Values{"action": {"accept"}, "volunteer_name": {"Maria"}, "volunteer_note": {note}}.Encode()
		_, err := ParseGroupForm(formRequest(formType, body))
		b := problem.BodyOf(err)
		if !problem.Is(err, problem.Invalid) || len(b.Errors) != 1 || b.Errors[0].Field != "volunteer_note" {
			t.Fatalf("%q: %v, want one invalid volunteer_note", note, err)
		}
		if d := b.Errors[0].Detail; !strings.Contains(d, kind) || strings.Contains(strings.ToLower(d+b.Detail), "qzx") {
			t.Errorf("%q: detail %q: want it to name %q and not repeat the note", note, d, kind)
		}
	}
	body := url.Values{"action": {"accept"}, "volunteer_name": {"Maria"}, "volunteer_note": {"I'll call Tue. at 7 pm; St. Mary's hall, e.g. parking"}}.Encode()
	if _, err := ParseGroupForm(formRequest(formType, body)); err != nil {
		t.Errorf("an ordinary note: %v", err)
	}
}

// TestVolunteerNoteStaysText: a note is read as a reader's phone reads it
// — compatibility forms folded (NFKC), the ideographic full stop as a dot —
// so a link written with look-alike dots is refused; format characters
// (zero-width spaces, bidi overrides and isolates) are refused outright,
// with a message that says so and repeats nothing; ordinary notes pass and
// are kept in their normal form.
func TestVolunteerNoteStaysText(t *testing.T) {
	const (
		link   = "a web address"
		hidden = "invisible formatting character"
	)
	for note, want := range map[string]string{
		"Qzx at evil．com":                   link,               // U+FF0E fullwidth full stop
		"Qzx at evil。com":                   link,               // U+3002 ideographic full stop
		"Qzx at evil｡com":                   link,               // U+FF61 halfwidth ideographic full stop
		"Qzx at ｅｖｉｌ.ｃｏｍ":                   link,               // fullwidth letters
		"Qzx at evil\u200d.com":             link,               // a joiner is let through, and read past
		"Qzx at evil\u200b.com":             hidden,             // zero-width space
		"Qzx at evil\u2060.com":             hidden,             // word joiner
		"Qzx at \u202emoc.live":             hidden,             // right-to-left override
		"Qzx \u2066hall\u2069 side door":    hidden,             // isolates
		"Qzx\u00adhall":                     hidden,             // soft hyphen
		"Qzx \ufeffhall":                    hidden,             // byte-order mark
		"Qzx write to qzx＠hall.example.org": "an email address", // fullwidth @
	} {
		body := url.Values{"action": {"accept"}, "volunteer_name": {"Maria"}, "volunteer_note": {note}}.Encode()
		_, err := ParseGroupForm(formRequest(formType, body))
		b := problem.BodyOf(err)
		if !problem.Is(err, problem.Invalid) || len(b.Errors) != 1 || b.Errors[0].Field != "volunteer_note" {
			t.Errorf("%q: %v, want one invalid volunteer_note", note, err)
			continue
		}
		if d := b.Errors[0].Detail; !strings.Contains(d, want) || strings.Contains(strings.ToLower(d+b.Detail), "qzx") {
			t.Errorf("%q: detail %q, want it to say %q and not repeat the note", note, d, want)
		}
	}
	for note, stored := range map[string]string{
		"I'll call Tue. at 7 pm; St. Mary's hall, e.g. parking": "I'll call Tue. at 7 pm; St. Mary's hall, e.g. parking",
		"Te espero en la puerta azul, ¿vale? Línea 3":           "Te espero en la puerta azul, ¿vale? Línea 3",
		"Ｍｅｅｔ at the ｂｌｕｅ door":                                 "Meet at the blue door",
		"See you there 👩‍👩‍👧 — side entrance":                   "See you there 👩‍👩‍👧 — side entrance",
		"Room ①, ½ block east":                                  "Room 1, 1⁄2 block east",
		"会場の入口で待っています。よろしく":                                     "会場の入口で待っています。よろしく",
	} {
		body := url.Values{"action": {"accept"}, "volunteer_name": {"Ｍａｒｉａ"}, "volunteer_note": {note}}.Encode()
		f, err := ParseGroupForm(formRequest(formType, body))
		if err != nil {
			t.Errorf("%q: %v", note, err)
			continue
		}
		if f.VolunteerNote != stored || f.VolunteerName != "Maria" {
			t.Errorf("%q stored as %q by %q", note, f.VolunteerNote, f.VolunteerName)
		}
	}
}
