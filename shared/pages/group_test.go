package pages

import (
	"html/template"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/referral"
)

func renderGroup(t *testing.T, v GroupView) string {
	t.Helper()
	var b strings.Builder
	if err := RenderGroup(&b, v); err != nil {
		t.Fatalf("RenderGroup: %v", err)
	}
	return b.String()
}

// patientData is everything on a group view that is about the patient.
var patientData = []string{"Ana", "ana.diaz@example.org", "weekday evenings", "Spanish", "español"}

func TestRenderGroupStates(t *testing.T) {
	cases := []struct {
		name   string
		state  referral.RouteStatus
		notice string
		texts  map[string][]string
		markup []string
		absent []string
		closed bool // nothing about the patient may show
	}{
		{
			name: "notified", state: referral.RouteNotified,
			texts: map[string][]string{
				English: {"A referral for Mission Tuesday Circle", "Lakeside Health Center referred someone to your group.",
					"First name", "Ana", "ana.diaz@example.org", "Preferred language", "Spanish", "weekday evenings",
					"Please answer by Saturday, March 14, 2026, 5:30 pm UTC.", "42 CFR part 2",
					"Yes, we will contact them", "We have no room right now", "Our group is not a good fit", "We are too far away", "Another reason"},
				Spanish: {"Una referencia para Mission Tuesday Circle", "Nombre", "español", "42 CFR parte 2", "Sí, le vamos a contactar", "Ahora no tenemos lugar"},
			},
			markup: []string{
				`name="action" value="accept"`, `name="action" value="decline"`,
				`name="reason" value="no-capacity" required`, `name="reason" value="not-a-fit"`,
				`name="reason" value="out-of-area"`, `name="reason" value="other"`,
				`<input type="hidden" name="csrf" value="tok-csrf-456">`, `href="mailto:ana.diaz@example.org"`,
				`<form method="post" action="/g/ZyXwVu9876543210?lang=`,
			},
			absent: []string{`value="connected"`},
		},
		{
			name: "notified with a missing reason", state: referral.RouteNotified, notice: NoticeChooseReason,
			texts: map[string][]string{
				English: {"Please pick a reason."},
				Spanish: {"Elija un motivo."},
			},
			markup: []string{`role="alert"`},
		},
		{
			name: "accepted", state: referral.RouteAccepted, notice: NoticeAccepted,
			texts: map[string][]string{
				English: {"Thank you for saying yes", "Please contact Ana soon.", "ana.diaz@example.org", "Did you reach them?", "Yes, we talked", "We could not reach them"},
				Spanish: {"Gracias por decir que sí", "contacten pronto a Ana", "Sí, hablamos", "No pudimos contactarle"},
			},
			markup: []string{`name="action" value="connected"`, `name="action" value="not-connected"`, `role="status"`},
			absent: []string{`value="accept"`, `name="reason"`, "Please answer by"},
		},
		{
			name: "declined", state: referral.RouteDeclined, notice: NoticeDeclined, closed: true,
			texts: map[string][]string{
				English: {"Thank you for your answer", "We will let Lakeside Health Center know."},
				Spanish: {"Gracias por su respuesta"},
			},
		},
		{
			name: "connected", state: referral.RouteConnected, notice: NoticeConnected, closed: true,
			texts: map[string][]string{
				English: {"We let Lakeside Health Center know that you talked with the person."},
				Spanish: {"ustedes hablaron con la persona"},
			},
		},
		{
			name: "not connected", state: referral.RouteNotConnected, notice: NoticeNotConnected, closed: true,
			texts: map[string][]string{
				English: {"you could not reach the person"},
				Spanish: {"no pudieron contactar a la persona"},
			},
		},
		{
			name: "timed out", state: referral.RouteTimedOut, closed: true,
			texts: map[string][]string{
				English: {"This referral is no longer open", "Please do not contact the person"},
				Spanish: {"Esta referencia ya no está abierta"},
			},
		},
		{
			name: "withdrawn", state: referral.RouteWithdrawn, closed: true,
			texts: map[string][]string{
				English: {"This referral is no longer open"},
				Spanish: {"Esta referencia ya no está abierta"},
			},
		},
	}
	for _, tc := range cases {
		for _, lang := range Languages() {
			t.Run(tc.name+"/"+lang, func(t *testing.T) {
				v := testGroupView(lang, tc.state)
				v.Notice = tc.notice
				page := renderGroup(t, v)
				assertAccessiblePage(t, tc.name, page)
				assertContains(t, "page", page, tc.texts[lang]...)
				assertContains(t, "page", page, tc.markup...)
				assertLacks(t, "page", page, tc.absent...)
				assertTranslated(t, "page", page)
				assertNoClinicalWords(t, "page", page)
				if tc.closed {
					assertLacks(t, "closed page", page, patientData...)
					assertLacks(t, "closed page", page, "<form", "42 CFR")
				}
			})
		}
	}
}

func TestRenderGroupEscapesTypedValues(t *testing.T) {
	for _, bad := range hostileNames {
		for _, state := range []referral.RouteStatus{referral.RouteNotified, referral.RouteAccepted, referral.RouteDeclined} {
			t.Run(string(state)+"/"+bad, func(t *testing.T) {
				v := testGroupView(English, state)
				v.GroupName, v.ClinicName, v.GivenName, v.Contact, v.PreferredLanguage, v.PreferredTimes = bad, bad, bad, bad, bad, bad
				page := renderGroup(t, v)
				assertEscaped(t, "group page", page)
				if !strings.Contains(page, "&lt;") {
					t.Errorf("hostile value not shown escaped")
				}
			})
		}
	}
}

func TestRenderGroupRefusesInconsistentViews(t *testing.T) {
	cases := []struct {
		name string
		edit func(*GroupView)
	}{
		{"unknown state", func(v *GroupView) { v.State = "lost" }},
		{"unknown notice", func(v *GroupView) { v.Notice = "surprise" }},
		{"consent notice on the group page", func(v *GroupView) { v.Notice = NoticeChooseGroup }},
		{"notified without csrf token", func(v *GroupView) { v.CSRFToken = "" }},
		{"accepted without action url", func(v *GroupView) { v.State, v.ActionURL = referral.RouteAccepted, "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := testGroupView(English, referral.RouteNotified)
			tc.edit(&v)
			var b strings.Builder
			if err := RenderGroup(&b, v); err == nil {
				t.Fatal("RenderGroup accepted an inconsistent view")
			}
			if b.Len() != 0 {
				t.Errorf("a failed render wrote %d bytes", b.Len())
			}
		})
	}
}

func TestRenderGroupClosedNeedsNoForm(t *testing.T) {
	v := GroupView{Lang: Spanish, State: referral.RouteWithdrawn}
	page := renderGroup(t, v)
	assertContains(t, "page", page, "Esta referencia ya no está abierta")
	assertAccessiblePage(t, "withdrawn without link", page)
}

func TestContactURL(t *testing.T) {
	cases := []struct {
		name, contact string
		want          template.URL
	}{
		{"email", "ana.diaz@example.org", "mailto:ana.diaz@example.org"},
		{"e164 phone", "+14155550100", "tel:+14155550100"},
		{"formatted phone", "(415) 555-0100", "tel:4155550100"},
		{"too short for a phone", "12345", ""},
		{"email with a query", "ana@example.org?bcc=x@evil.example", ""},
		{"named address", "Ana <ana@example.org>", ""},
		{"script", "javascript:alert(1)", ""},
		{"words", "call the front desk", ""},
		{"plus inside a phone", "415+5550100", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := contactURL(tc.contact); got != tc.want {
				t.Errorf("contactURL(%q) = %q, want %q", tc.contact, got, tc.want)
			}
		})
	}
}
