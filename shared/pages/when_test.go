package pages

import (
	"testing"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/referral"
)

// TestMeetingWhen: a group's meetings in words, in each language: the
// English clock in am/pm, the Spanish one in 24 hours, four meetings at
// most and then "and more", an unknown day code as it is.
func TestMeetingWhen(t *testing.T) {
	five := []referral.MeetingTime{{Day: "mon", Time: "07:00"}, {Day: "tue", Time: "12:00"}, {Day: "wed", Time: "00:15"},
		{Day: "thu", Time: "19:30"}, {Day: "fri", Time: "20:00"}}
	tests := []struct {
		name, lang string
		ms         []referral.MeetingTime
		want       string
	}{
		{"one in English", English, []referral.MeetingTime{{Day: "mon", Time: "19:30"}}, "Mondays 7:30 pm"},
		{"one in Spanish", Spanish, []referral.MeetingTime{{Day: "mon", Time: "19:30"}}, "los lunes 19:30"},
		{"another language reads English", "fr", []referral.MeetingTime{{Day: "sun", Time: "09:05"}}, "Sundays 9:05 am"},
		{"five in English", English, five, "Mondays 7:00 am; Tuesdays 12:00 pm; Wednesdays 12:15 am; Thursdays 7:30 pm; and more"},
		{"five in Spanish", Spanish, five, "los lunes 07:00; los martes 12:00; los miércoles 00:15; los jueves 19:30; y más"},
		{"an unknown day as it is", English, []referral.MeetingTime{{Day: "someday", Time: "8:00"}}, "someday 8:00 am"},
		{"no time", English, []referral.MeetingTime{{Day: "sat"}}, "Saturdays"},
		{"none", English, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MeetingWhen(tc.lang, tc.ms); got != tc.want {
				t.Errorf("MeetingWhen = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestClock: a time of day as each language writes it; anything else as it is.
func TestClock(t *testing.T) {
	tests := []struct{ lang, in, want string }{
		{English, "00:00", "12:00 am"}, {English, "11:59", "11:59 am"}, {English, "12:00", "12:00 pm"},
		{English, "23:45", "11:45 pm"}, {Spanish, "7:05", "07:05"}, {Spanish, "23:45", "23:45"},
		{English, "24:00", "24:00"}, {English, "noon", "noon"}, {English, "", ""}, {English, "-1:00", "-1:00"},
	}
	for _, tc := range tests {
		if got := Clock(tc.lang, tc.in); got != tc.want {
			t.Errorf("Clock(%s, %q) = %q, want %q", tc.lang, tc.in, got, tc.want)
		}
	}
}

// TestGroupLang: a group is written to in its first language, English when
// it names none.
func TestGroupLang(t *testing.T) {
	tests := []struct {
		langs []string
		want  string
	}{{nil, English}, {[]string{"es-MX", "en"}, Spanish}, {[]string{"en", "es"}, English}, {[]string{"fr"}, English}}
	for _, tc := range tests {
		if got := GroupLang(directory.Group{Languages: tc.langs}); got != tc.want {
			t.Errorf("GroupLang(%v) = %q, want %q", tc.langs, got, tc.want)
		}
	}
}

// TestEmailTo: an addressed email carries the rendered email whole.
func TestEmailTo(t *testing.T) {
	att := []mail.Attachment{{Name: "meeting.ics", ContentType: "text/calendar", Data: []byte("BEGIN:VCALENDAR")}}
	m := Email{Subject: "s", Text: "t", HTML: "<p>h</p>", Attachments: att}.To("ana@example.org")
	if m.To != "ana@example.org" || m.Subject != "s" || m.Text != "t" || m.HTML != "<p>h</p>" || len(m.Attachments) != 1 || m.Attachments[0].Name != "meeting.ics" {
		t.Errorf("To = %+v", m)
	}
}

// TestDetailsOf: a group's public listing for the self-mode email: each
// meeting in words, its place in one line, its first online link, its
// contact.
func TestDetailsOf(t *testing.T) {
	g := directory.Group{Name: "Mission Circle",
		Meetings: []directory.Meeting{{Day: "mon", Time: "19:00"}, {Day: "thu", Time: "18:30", OnlineURL: "https://meet.example/mc"}},
		Location: directory.Location{Address: "1 Main St", City: "Chicago"},
		Contact:  directory.Contact{Name: "Sam", Email: "sam@groups.example"}}
	want := GroupDetails{Name: "Mission Circle", When: "los lunes 19:00; los jueves 18:30", Where: "1 Main St, Chicago",
		OnlineHow: "https://meet.example/mc", ContactName: "Sam", ContactEmail: "sam@groups.example"}
	if got := DetailsOf(g, Spanish); got != want {
		t.Errorf("DetailsOf =\n%+v, want\n%+v", got, want)
	}
}
