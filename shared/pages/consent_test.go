package pages

import (
	"html/template"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/referral"
)

func renderConsent(t *testing.T, v ConsentView) string {
	t.Helper()
	var b strings.Builder
	if err := RenderConsent(&b, v); err != nil {
		t.Fatalf("RenderConsent: %v", err)
	}
	return b.String()
}

func TestRenderConsentStates(t *testing.T) {
	type want struct {
		texts  map[string][]string // by language
		markup []string            // in both languages
		absent []string
	}
	openMarkup := []string{
		`<form method="post" action="/c/AbCdEf0123456789?lang=`,
		`<input type="hidden" name="csrf" value="tok-csrf-123">`,
		`name="groups" value="grp-01"`, `name="groups" value="grp-02"`, `name="groups" value="grp-03"`,
		`name="mode" value="introduce" checked`, `name="mode" value="self">`,
		`name="action" value="confirm"`, `name="action" value="decline"`,
		`42 CFR`,
	}
	cases := []struct {
		name  string
		state ConsentState
		edit  func(*ConsentView)
		want  want
	}{
		{
			name: "open", state: ConsentOpen,
			want: want{
				texts: map[string][]string{
					English: {
						"Your referral from Lakeside Health Center", "Hi Ana.",
						"Mission Tuesday Circle", "Evening Online Group", "Bernal Heights Saturday Group",
						"Meets in person", "Meets online", "Meets in person and online",
						"Tuesdays 7:30 pm", "About 1 mile away (2.4 km)", "About 3 miles away (5.1 km)", "Mission District, San Francisco",
						"Introduce me", "The group gets your first name and how to reach you, so they can contact you.",
						"You get the groups&#39; details and contact them yourself. The groups get nothing about you.",
						"Your first name: Ana", "Your email address a***@example.org",
						"So a group can welcome you and tell you how to join.",
						"Saturday, March 14, 2026, 5:30 pm UTC",
						"Open this same link and press “Stop sharing”",
						"This information has been disclosed to you from records protected by federal confidentiality rules (42 CFR part 2).",
						"Yes, I agree", "No, thank you", "call or text 988",
					},
					Spanish: {
						"Su referencia de Lakeside Health Center", "Hola, Ana.",
						"Se reúne en persona", "Se reúne en línea", "A unas 3 millas (5,1 km)",
						"Preséntenme", "Yo les contacto", "Su nombre: Ana", "Su correo electrónico a***@example.org",
						"sábado 14 de marzo de 2026, 17:30 UTC", "Dejar de compartir",
						"Esta información se le ha revelado", "42 CFR parte 2", "Sí, acepto", "No, gracias",
					},
				},
				markup: openMarkup,
				absent: []string{`value="revoke"`, `checked>` + "\n<label for=\"group"},
			},
		},
		{
			name: "open with chosen groups and self mode kept after an error", state: ConsentOpen,
			edit: func(v *ConsentView) {
				v.Chosen, v.Mode, v.Notice = []string{"grp-03"}, ModeSelf, NoticeChooseGroup
			},
			want: want{
				texts: map[string][]string{
					English: {"Please pick at least one group."},
					Spanish: {"Elija al menos un grupo."},
				},
				markup: []string{`value="grp-03" checked>`, `value="grp-01">`, `name="mode" value="self" checked>`, `role="alert"`},
				absent: []string{`value="introduce" checked`},
			},
		},
		{
			name: "confirmed introduce", state: ConsentConfirmed,
			edit: func(v *ConsentView) {
				v.Chosen, v.Mode, v.Notice, v.ConfirmedAt = []string{"grp-02", "grp-01", "grp-unknown"}, ModeIntroduce, NoticeConfirmed, testSigned
			},
			want: want{
				texts: map[string][]string{
					English: {"You said yes", "Thank you, Ana.", "Each group we ask gets your first name and your email address a***@example.org.",
						"Evening Online Group", "Mission Tuesday Circle", "Stop sharing", "Saturday, March 7, 2026, 9:05 am UTC",
						"Thank you. Your answer is saved."},
					Spanish: {"Usted dijo que sí", "Gracias, Ana.", "su correo electrónico a***@example.org", "Dejar de compartir"},
				},
				markup: []string{`name="action" value="revoke"`, `<input type="hidden" name="csrf" value="tok-csrf-123">`, `role="status"`},
				absent: []string{`value="confirm"`, `value="decline"`, "Bernal Heights Saturday Group", `name="groups"`},
			},
		},
		{
			name: "confirmed self", state: ConsentConfirmed,
			edit: func(v *ConsentView) { v.Chosen, v.Mode = []string{"grp-03"}, ModeSelf },
			want: want{
				texts: map[string][]string{
					English: {"You will contact the groups yourself.", "Bernal Heights Saturday Group"},
					Spanish: {"Usted contactará a los grupos."},
				},
				markup: []string{`value="revoke"`},
				absent: []string{"Mission Tuesday Circle", "a***@example.org"},
			},
		},
		{
			name: "declined", state: ConsentDeclined,
			want: want{
				texts: map[string][]string{
					English: {"You said no", "We did not share anything about you.", "please talk to Lakeside Health Center"},
					Spanish: {"Usted dijo que no", "No compartimos nada sobre usted."},
				},
				absent: []string{"<form", "Mission Tuesday Circle", "a***@example.org"},
			},
		},
		{
			name: "revoked", state: ConsentRevoked,
			edit: func(v *ConsentView) { v.Notice = NoticeRevoked },
			want: want{
				texts: map[string][]string{
					English: {"Sharing is stopped", "We will not share anything more about you.", "Done. Sharing is stopped."},
					Spanish: {"Ya no compartimos sus datos"},
				},
				absent: []string{"<form", "Mission Tuesday Circle"},
			},
		},
		{
			name: "unmatched", state: ConsentUnmatched,
			edit: func(v *ConsentView) { v.Groups = nil },
			want: want{
				texts: map[string][]string{
					English: {"We could not find a group that fits right now",
						"If you are in crisis, call or text 988 (Suicide &amp; Crisis Lifeline, US).",
						"SAMHSA&#39;s National Helpline", "1-800-662-4357", "free, confidential, and open 24/7, in English and Spanish"},
					Spanish: {"Por ahora no encontramos un grupo adecuado", "988", "1-800-662-4357", "en inglés y en español"},
				},
				markup: []string{`href="tel:988"`, `href="sms:988"`, `href="tel:+18006624357"`},
				absent: []string{"<form", "<button"},
			},
		},
	}
	for _, tc := range cases {
		for _, lang := range Languages() {
			t.Run(tc.name+"/"+lang, func(t *testing.T) {
				v := testConsentView(lang, tc.state)
				if tc.edit != nil {
					tc.edit(&v)
				}
				page := renderConsent(t, v)
				assertAccessiblePage(t, tc.name, page)
				assertContains(t, "page", page, tc.want.texts[lang]...)
				assertContains(t, "page", page, tc.want.markup...)
				assertLacks(t, "page", page, tc.want.absent...)
				assertTranslated(t, "page", page)
				assertNoClinicalWords(t, "page", page)
				if !strings.Contains(page, `<html lang="`+lang+`">`) {
					t.Errorf("page not marked as %s", lang)
				}
				other := map[string]string{English: "es", Spanish: "en"}[lang]
				assertContains(t, "page", page, `href="/c/AbCdEf0123456789?lang=`+other+`" hreflang="`+other+`"`)
			})
		}
	}
}

func TestRenderConsentEscapesTypedValues(t *testing.T) {
	for _, bad := range hostileNames {
		for _, lang := range Languages() {
			for _, state := range []ConsentState{ConsentOpen, ConsentConfirmed, ConsentDeclined} {
				t.Run(lang+"/"+string(state)+"/"+bad, func(t *testing.T) {
					v := testConsentView(lang, state)
					v.GivenName, v.ClinicName, v.Channel, v.Purpose = bad, bad, bad, bad
					v.Groups[0].Name, v.Groups[0].When, v.Groups[0].Where = bad, bad, bad
					v.Groups[1].OnlineHow = bad
					v.Groups[2].ID = bad
					v.Chosen = []string{v.Groups[0].ID, bad}
					page := renderConsent(t, v)
					assertEscaped(t, "consent page", page)
					if state != ConsentDeclined && !strings.Contains(page, "&lt;") && !strings.Contains(page, "&#34;") {
						t.Errorf("hostile value not shown escaped")
					}
				})
			}
		}
	}
}

func TestRenderConsentRefusesInconsistentViews(t *testing.T) {
	cases := []struct {
		name string
		edit func(*ConsentView)
	}{
		{"unknown state", func(v *ConsentView) { v.State = "expired" }},
		{"unknown mode", func(v *ConsentView) { v.Mode = "broadcast" }},
		{"unknown format", func(v *ConsentView) { v.Groups[1].Format = "telepathy" }},
		{"unknown notice", func(v *ConsentView) { v.Notice = "<b>hi</b>" }},
		{"group notice on the consent page", func(v *ConsentView) { v.Notice = NoticeChooseReason }},
		{"open with no group", func(v *ConsentView) { v.Groups = nil }},
		{"open without csrf token", func(v *ConsentView) { v.CSRFToken = "" }},
		{"open without action url", func(v *ConsentView) { v.ActionURL = "" }},
		{"open without expiry", func(v *ConsentView) { v.ExpiresAt = time.Time{} }},
		{"confirmed without csrf token", func(v *ConsentView) { v.State, v.CSRFToken = ConsentConfirmed, "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := testConsentView(English, ConsentOpen)
			tc.edit(&v)
			var b strings.Builder
			if err := RenderConsent(&b, v); err == nil {
				t.Fatal("RenderConsent accepted an inconsistent view")
			}
			if b.Len() != 0 {
				t.Errorf("a failed render wrote %d bytes", b.Len())
			}
		})
	}
}

func TestConsentText(t *testing.T) {
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			v := testConsentView(lang, ConsentOpen)
			first, err := ConsentText(v)
			if err != nil {
				t.Fatalf("ConsentText: %v", err)
			}

			t.Run("stable", func(t *testing.T) {
				for range 3 {
					again, err := ConsentText(v)
					if err != nil || again != first {
						t.Fatalf("ConsentText changed between calls (err %v)", err)
					}
				}
			})

			t.Run("ignores the form's state", func(t *testing.T) {
				w := v
				w.State, w.Chosen, w.Mode, w.Notice, w.CSRFToken, w.ConfirmedAt = ConsentConfirmed, []string{"grp-02"}, ModeSelf, NoticeConfirmed, "other", testSigned
				got, err := ConsentText(w)
				if err != nil || got != first {
					t.Errorf("ConsentText depends on the form's state (err %v)", err)
				}
			})

			changes := []struct {
				name string
				edit func(*ConsentView)
			}{
				{"a group fewer", func(w *ConsentView) { w.Groups = w.Groups[:2] }},
				{"groups reordered", func(w *ConsentView) { w.Groups[0], w.Groups[1] = w.Groups[1], w.Groups[0] }},
				{"a group renamed", func(w *ConsentView) { w.Groups[2].Name = "Another Name" }},
				{"a meeting time changed", func(w *ConsentView) { w.Groups[0].When = "Wednesdays 6 pm" }},
				{"another clinic", func(w *ConsentView) { w.ClinicName = "Hillside Clinic" }},
				{"another channel", func(w *ConsentView) { w.Channel = "your phone number •••• 00" }},
				{"another purpose", func(w *ConsentView) { w.Purpose = "To find a place to meet others." }},
				{"another expiry", func(w *ConsentView) { w.ExpiresAt = w.ExpiresAt.Add(24 * time.Hour) }},
				{"another language", func(w *ConsentView) { w.Lang = map[string]string{English: Spanish, Spanish: English}[lang] }},
			}
			for _, c := range changes {
				t.Run("changes with "+c.name, func(t *testing.T) {
					w := testConsentView(lang, ConsentOpen)
					c.edit(&w)
					got, err := ConsentText(w)
					if err != nil {
						t.Fatalf("ConsentText: %v", err)
					}
					if got == first {
						t.Errorf("ConsentText did not change")
					}
				})
			}

			t.Run("every line is on the page", func(t *testing.T) {
				page := visibleText(renderConsent(t, v))
				lines := strings.Split(strings.ReplaceAll(first, "] [", "\n"), "\n")
				checked := 0
				for _, line := range lines {
					line = strings.TrimSpace(line)
					line = strings.TrimPrefix(line, "[ ] ")
					line = strings.TrimPrefix(line, "( ) ")
					line = strings.TrimPrefix(line, "- ")
					line = strings.Trim(line, "[]")
					if line == "" {
						continue
					}
					checked++
					if !strings.Contains(page, line) {
						t.Errorf("consent text line not on the page: %q", line)
					}
				}
				if checked < 30 {
					t.Errorf("only %d lines checked", checked)
				}
			})

			t.Run("holds the §2.31 elements", func(t *testing.T) {
				assertContains(t, "consent text", first, "Ana", "Lakeside Health Center", "a***@example.org",
					"Mission Tuesday Circle", "Evening Online Group", "Bernal Heights Saturday Group", "42 CFR")
				assertNoClinicalWords(t, "consent text", first)
			})
		})
	}
}

func TestConsentStateFor(t *testing.T) {
	cases := []struct {
		status referral.Status
		want   ConsentState
		ok     bool
	}{
		{referral.AwaitingConsent, ConsentOpen, true},
		{referral.Consented, ConsentConfirmed, true},
		{referral.Routed, ConsentConfirmed, true},
		{referral.SharedWithPatient, ConsentConfirmed, true},
		{referral.Accepted, ConsentConfirmed, true},
		{referral.Connected, ConsentConfirmed, true},
		{referral.NotConnected, ConsentConfirmed, true},
		{referral.Declined, ConsentDeclined, true},
		{referral.Revoked, ConsentRevoked, true},
		{referral.Unmatched, ConsentUnmatched, true},
		{referral.Expired, "", false},
		{referral.Cancelled, "", false},
		{"made-up", "", false},
	}
	for _, tc := range cases {
		t.Run(string(tc.status), func(t *testing.T) {
			got, ok := ConsentStateFor(tc.status)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ConsentStateFor(%s) = %q, %v; want %q, %v", tc.status, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRenderConsentOffersEveryGroupOnce(t *testing.T) {
	page := renderConsent(t, testConsentView(English, ConsentOpen))
	got := regexp.MustCompile(`name="groups" value="([^"]+)"`).FindAllStringSubmatch(page, -1)
	var ids []string
	for _, m := range got {
		ids = append(ids, m[1])
	}
	if strings.Join(ids, ",") != "grp-01,grp-02,grp-03" {
		t.Errorf("offered ids %v, want the three groups in order", ids)
	}
}

func BenchmarkRenderConsent(b *testing.B) {
	v := testConsentView(English, ConsentOpen)
	if err := RenderConsent(io.Discard, v); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := RenderConsent(io.Discard, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsentText(b *testing.B) {
	v := testConsentView(Spanish, ConsentOpen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ConsentText(v); err != nil {
			b.Fatal(err)
		}
	}
}

// A patient who gave no contact is offered only "I will contact them
// myself", told why, and shown nothing to share — on the page and in the
// consent text their agreement is hashed from — in every language.
func TestConsentWithoutContactOffersOnlySelf(t *testing.T) {
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			v := testConsentView(lang, ConsentOpen)
			v.NoContact, v.Channel = true, ""
			tr, err := newTr(lang)
			if err != nil {
				t.Fatal(err)
			}
			only, _ := tr.T("consent.mode.selfonly")
			nothing, _ := tr.T("consent.share.nothing")
			introduce, _ := tr.T("consent.mode.introduce")
			page := renderConsent(t, v)
			text, err := ConsentText(v)
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name, doc, want, absent string
			}{
				{name: "page: self checked", doc: page, want: `name="mode" value="self" checked`},
				{name: "page: no introduce", doc: page, absent: `value="introduce"`},
				{name: "page: says why", doc: page, want: htmlEscape(only)},
				{name: "page: shares nothing", doc: page, want: htmlEscape(nothing), absent: `<ul class="shared">`},
				{name: "text: says why", doc: text, want: only},
				{name: "text: no introduce", doc: text, absent: introduce},
				{name: "text: shares nothing", doc: text, want: nothing},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					if tc.want != "" && !strings.Contains(tc.doc, tc.want) {
						t.Errorf("missing %q", tc.want)
					}
					if tc.absent != "" && strings.Contains(tc.doc, tc.absent) {
						t.Errorf("holds %q", tc.absent)
					}
				})
			}
		})
	}
}

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }
