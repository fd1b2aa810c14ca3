package pages

import (
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/problem"
)

func testListingView(lang string) ListingView {
	return ListingView{
		Lang: lang, GroupName: "Mission Tuesday Circle",
		Meetings: []string{"Tuesdays 7:00 pm–8:00 pm (America/Los_Angeles)"}, Formats: []string{"in-person"},
		Where: "3100 22nd St, San Francisco, 94110", Languages: []string{"en", "es"}, Accessibility: []string{"wheelchair"},
		Capacity: 5, Accepting: true, LastConfirmed: testSigned,
		Edit:         []MeetingFields{{Day: "tue", Time: "19:00", EndTime: "20:00"}},
		ContactPhone: "+14155550142", ContactTexts: true,
		CSRFToken: "tok-csrf-789", ActionURL: "/l/LiStInG0123456789",
	}
}

// TestParseListingFormContact: the update form's contact_phone and
// contact_texts.
func TestParseListingFormContact(t *testing.T) {
	long := strings.Repeat("5", 41)
	cases := []struct {
		name  string
		body  string
		want  *ContactFields
		code  problem.Code
		field string
	}{
		{"no contact fields: they stay", "action=update&accepting_referrals=yes", nil, "", ""},
		{"number and texts", "action=update&accepting_referrals=yes&contact_phone=%28415%29+555-0142&contact_texts=yes",
			&ContactFields{Phone: "(415) 555-0142", Texts: true}, "", ""},
		{"number, box unticked", "action=update&accepting_referrals=yes&contact_phone=%2B14155550142",
			&ContactFields{Phone: "+14155550142"}, "", ""},
		{"empty number removes it", "action=update&accepting_referrals=yes&contact_phone=", &ContactFields{}, "", ""},
		{"a line break is no part of a number", "action=update&accepting_referrals=yes&contact_phone=%2B1415%0D%0A5550142",
			&ContactFields{Phone: "+1415  5550142"}, "", ""},
		{"texts need a number", "action=update&accepting_referrals=yes&contact_phone=&contact_texts=yes", nil, problem.Invalid, "contact_texts"},
		{"texts value", "action=update&accepting_referrals=yes&contact_phone=%2B14155550142&contact_texts=all", nil, problem.Invalid, "contact_texts"},
		{"number too long", "action=update&accepting_referrals=yes&contact_phone=" + long, nil, problem.Invalid, "contact_phone"},
		{"number twice", "action=update&accepting_referrals=yes&contact_phone=1&contact_phone=2", nil, problem.Invalid, "contact_phone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseListingForm(formRequest(formType, tc.body))
			checkFormResult(t, err, tc.code, tc.field, tc.body)
			if tc.code != "" {
				return
			}
			switch {
			case tc.want == nil && got.Contact != nil:
				t.Errorf("contact %+v, want none", *got.Contact)
			case tc.want != nil && (got.Contact == nil || *got.Contact != *tc.want):
				t.Errorf("contact %+v, want %+v", got.Contact, *tc.want)
			}
		})
	}
}

// TestRenderListingContact: the update form shows the contact's number and
// whether they take texts, in both languages.
func TestRenderListingContact(t *testing.T) {
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			var b strings.Builder
			v := testListingView(lang)
			if err := RenderListing(&b, v); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			for _, want := range []string{
				`name="contact_phone"`, `value="&#43;14155550142"`, `type="tel"`, `autocomplete="tel"`,
				`name="contact_texts" value="yes" checked`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			v.ContactTexts, v.ContactPhone = false, ""
			b.Reset()
			if err := RenderListing(&b, v); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), `name="contact_texts" value="yes" checked`) {
				t.Error("the texts box is ticked for a contact who did not agree")
			}
		})
	}
}

// TestParseFirstMeetingAndAttendance: an accept may carry first_meeting (a
// local start; whether the page offered it is the caller's check), and the
// group's and the patient's forms take attended and missed.
func TestParseFirstMeetingAndAttendance(t *testing.T) {
	testParseGroupForm(t, []groupFormCase{
		{"accept with a first meeting", "action=accept&volunteer_name=Sam&first_meeting=2026-03-10T19%3A00",
			GroupForm{Action: ActionAccept, VolunteerName: "Sam", FirstMeeting: "2026-03-10T19:00"}, "", ""},
		{"accept without one", "action=accept", GroupForm{Action: ActionAccept}, "", ""},
		{"first meeting ignored on a decline", "action=decline&reason=other&first_meeting=nonsense",
			GroupForm{Action: ActionDecline, Reason: "other"}, "", ""},
		{"attended", "action=attended", GroupForm{Action: ActionAttended}, "", ""},
		{"missed", "action=missed", GroupForm{Action: ActionMissed}, "", ""},
		{"a date only", "action=accept&first_meeting=2026-03-10", GroupForm{}, problem.Invalid, "first_meeting"},
		{"seconds", "action=accept&first_meeting=2026-03-10T19%3A00%3A00", GroupForm{}, problem.Invalid, "first_meeting"},
		{"no such day", "action=accept&first_meeting=2026-02-30T19%3A00", GroupForm{}, problem.Invalid, "first_meeting"},
		{"script", "action=accept&first_meeting=%3Cscript%3E", GroupForm{}, problem.Invalid, "first_meeting"},
		{"twice", "action=accept&first_meeting=2026-03-10T19%3A00&first_meeting=2026-03-17T19%3A00", GroupForm{}, problem.Invalid, "first_meeting"},
	})
	for _, a := range []string{ActionAttended, ActionMissed} {
		f, err := ParseConsentForm(formRequest(formType, "action="+a+"&csrf=x"))
		if err != nil || f.Action != a || f.CSRF != "x" {
			t.Errorf("consent form %s: %+v %v", a, f, err)
		}
	}
}
