package pages

import (
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

const (
	consentLink = "https://handoff.example.org/c/q7WmN0xK-3_pZ8vLrT2yH5cB9dF1gJ4sA6eU0iO3kMw"
	groupLink   = "https://handoff.example.org/g/R2d2C3pO-0_bB8aA1xX9yY7zZ5wW3vV1uU4tT6sS8q"
)

// emailCase is one email in one language and what it must and must not hold.
type emailCase struct {
	name    string
	patient bool   // to a patient: no clinical word, no notice, no topic anywhere
	link    string // the link it must carry exactly ("" for none)
	build   func(lang string) (Email, error)
	texts   map[string][]string // in Subject, Text and HTML alike, by language
	absent  []string
}

func emailCases() []emailCase {
	return []emailCase{
		{
			name: "consent", patient: true, link: consentLink,
			build: func(lang string) (Email, error) {
				return ConsentEmail(lang, "Ana", "Lakeside Health Center", consentLink, testExpiry)
			},
			texts: map[string][]string{
				English: {"Lakeside Health Center: please review a referral", "Hi Ana,", "Saturday, March 14, 2026, 5:30 pm UTC"},
				Spanish: {"Lakeside Health Center: revise una referencia", "Hola, Ana:", "sábado 14 de marzo de 2026, 17:30 UTC"},
			},
		},
		{
			name: "receipt introduce", patient: true, link: consentLink,
			build: func(lang string) (Email, error) {
				return ConsentReceiptEmail(lang, "Ana", "Lakeside Health Center", consentLink, Receipt{
					Mode: ModeIntroduce, Channel: "your email address a***@example.org",
					Groups: []string{"Mission Tuesday Circle", "Evening Online Group"}, SignedAt: testSigned, ExpiresAt: testExpiry,
				})
			},
			texts: map[string][]string{
				English: {"Lakeside Health Center: your answer is saved", "Mission Tuesday Circle", "Evening Online Group",
					"a***@example.org", "Stop sharing", "Saturday, March 7, 2026, 9:05 am UTC", "Saturday, March 14, 2026"},
				Spanish: {"guardamos su respuesta", "Mission Tuesday Circle", "Dejar de compartir", "sábado 7 de marzo de 2026"},
			},
		},
		{
			name: "receipt self", patient: true, link: consentLink,
			build: func(lang string) (Email, error) {
				return ConsentReceiptEmail(lang, "Ana", "Lakeside Health Center", consentLink, Receipt{
					Mode: ModeSelf, Groups: []string{"Evening Online Group"}, SignedAt: testSigned, ExpiresAt: testExpiry,
				})
			},
			texts: map[string][]string{
				English: {"You will contact the groups yourself.", "Evening Online Group"},
				Spanish: {"Usted contactará a los grupos."},
			},
			absent: []string{"a***@example.org"},
		},
		{
			name: "self mode", patient: true,
			build: func(lang string) (Email, error) {
				return SelfModeEmail(lang, "Ana", "Lakeside Health Center", []GroupDetails{
					{Name: "Mission Tuesday Circle", When: "Tuesdays 7:30 pm", Where: "3200 Mission St", ContactName: "Jo", ContactEmail: "jo@circle.example"},
					{Name: "Evening Online Group", When: "Mondays 8 pm", OnlineHow: "Video call"},
				})
			},
			texts: map[string][]string{
				English: {"Lakeside Health Center: the details you asked for", "Mission Tuesday Circle", "When: Tuesdays 7:30 pm",
					"Where: 3200 Mission St", "Contact: Jo", "jo@circle.example", "Online: Video call"},
				Spanish: {"los datos que pidió", "Cuándo: Tuesdays 7:30 pm", "Dónde: 3200 Mission St", "Contacto: Jo", "En línea: Video call"},
			},
		},
		{
			name: "group notice", link: groupLink,
			build: func(lang string) (Email, error) {
				return GroupNoticeEmail(lang, "Mission Tuesday Circle", "Lakeside Health Center", "Ana", "ana.diaz@example.org",
					"es-MX", "Mondays; evenings", groupLink, testExpiry)
			},
			texts: map[string][]string{
				English: {"Lakeside Health Center referred someone to Mission Tuesday Circle", "First name", "Ana",
					"ana.diaz@example.org", "Preferred language", "Spanish", "Mondays; evenings", "42 CFR part 2",
					"by Saturday, March 14, 2026, 5:30 pm UTC"},
				Spanish: {"Lakeside Health Center refirió a una persona a Mission Tuesday Circle", "Nombre", "español", "42 CFR parte 2"},
			},
		},
		{
			name: "withdrawn", link: groupLink,
			build: func(lang string) (Email, error) {
				return WithdrawnEmail(lang, "Mission Tuesday Circle", "Lakeside Health Center", groupLink)
			},
			texts: map[string][]string{
				English: {"Lakeside Health Center: a referral to Mission Tuesday Circle is closed", "no longer open", "Please do not contact the person"},
				Spanish: {"se cerró una referencia a Mission Tuesday Circle", "ya no está abierta"},
			},
		},
		{
			name: "clinician status",
			build: func(lang string) (Email, error) {
				return ClinicianStatusEmail(lang, "Dr. Jan Rivera", "Lakeside Health Center", "EHR-ORDER-123", "01J9ZQ4K7M",
					referral.Accepted, testSigned.In(time.FixedZone("PDT", -7*3600)))
			},
			texts: map[string][]string{
				English: {"Referral EHR-ORDER-123: a group accepted", "Dear Dr. Jan Rivera,", "A group accepted the referral.",
					"01J9ZQ4K7M", "Saturday, March 7, 2026, 2:05 am PDT"},
				Spanish: {"Referencia EHR-ORDER-123: un grupo aceptó", "Un grupo aceptó la referencia."},
			},
		},
	}
}

func TestEmails(t *testing.T) {
	for _, tc := range emailCases() {
		for _, lang := range Languages() {
			t.Run(tc.name+"/"+lang, func(t *testing.T) { checkEmail(t, tc, lang) })
		}
	}
}

// checkEmail builds one email case in one language and checks it: every
// part there, the texts it must hold, none it must not, translated, its
// own link only, and no clinical word (nor, to a patient, a group in the
// subject).
func checkEmail(t *testing.T, tc emailCase, lang string) {
	t.Helper()
	e, err := tc.build(lang)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if e.Subject == "" || e.Text == "" || e.HTML == "" {
		t.Fatalf("empty part: %+v", e)
	}
	if strings.ContainsAny(e.Subject, "\r\n") {
		t.Errorf("subject spans lines: %q", e.Subject)
	}
	htmlText := visibleText(e.HTML)
	all := e.Subject + "\n" + e.Text + "\n" + htmlText
	for _, want := range tc.texts[lang] {
		if !strings.Contains(e.Subject+"\n"+e.Text, want) {
			t.Errorf("subject and text lack %q", want)
		}
		if !strings.Contains(e.Subject+"\n"+htmlText, want) {
			t.Errorf("subject and html lack %q", want)
		}
	}
	if !strings.Contains(e.HTML, "<title>"+template.HTMLEscapeString(e.Subject)+"</title>") {
		t.Errorf("html title is not the subject")
	}
	assertLacks(t, "email", all, tc.absent...)
	assertTranslated(t, "email", e.Subject+e.Text+e.HTML)
	assertContains(t, "html", e.HTML, `<html lang="`+lang+`">`)
	if tc.link != "" {
		if !strings.Contains(e.Text, "\n"+tc.link+"\n") {
			t.Errorf("text lacks the exact link on its own line")
		}
		if !strings.Contains(e.HTML, `href="`+tc.link+`"`) {
			t.Errorf("html lacks the exact link")
		}
	}
	if strings.Count(e.Text+e.HTML, "https://") != strings.Count(e.Text+e.HTML, tc.link) && tc.link != "" {
		t.Errorf("email carries a link other than its own")
	}
	if tc.patient {
		assertNoClinicalWords(t, "patient email", all, extraForPatientMail...)
		assertNoClinicalWords(t, "patient email subject", e.Subject, "group", "grupo")
	} else {
		assertNoClinicalWords(t, "email", all)
	}
}

func TestEmailsEscapeTypedValues(t *testing.T) {
	for _, bad := range append(hostileNames, "Ana\r\nBcc: evil@example.org") {
		builds := map[string]func() (Email, error){
			"consent": func() (Email, error) { return ConsentEmail(English, bad, bad, consentLink, testExpiry) },
			"receipt": func() (Email, error) {
				return ConsentReceiptEmail(English, bad, bad, consentLink, Receipt{Mode: ModeIntroduce, Channel: bad, Groups: []string{bad}, SignedAt: testSigned, ExpiresAt: testExpiry})
			},
			"self": func() (Email, error) {
				return SelfModeEmail(Spanish, bad, bad, []GroupDetails{{Name: bad, When: bad, Where: bad, OnlineHow: bad, ContactName: bad, ContactEmail: bad}})
			},
			"group": func() (Email, error) {
				return GroupNoticeEmail(English, bad, bad, bad, bad, bad, bad, groupLink, testExpiry)
			},
			"withdrawn": func() (Email, error) { return WithdrawnEmail(Spanish, bad, bad, groupLink) },
			"clinician": func() (Email, error) {
				return ClinicianStatusEmail(English, bad, bad, bad, bad, referral.Connected, testSigned)
			},
		}
		for name, build := range builds {
			t.Run(name+"/"+bad, func(t *testing.T) {
				e, err := build()
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				assertEscaped(t, name+" html", e.HTML)
				if strings.ContainsAny(e.Subject, "\r\n") {
					t.Errorf("subject spans lines: %q", e.Subject)
				}
				if strings.Contains(e.Text, "\r\nBcc:") || strings.Contains(e.Text, "\nBcc:") {
					t.Errorf("typed line break kept in the text")
				}
			})
		}
	}
}

func TestEmailsRefuseBadInput(t *testing.T) {
	cases := []struct {
		name  string
		build func() (Email, error)
		code  problem.Code // "" for a plain error
	}{
		{"relative link", func() (Email, error) { return ConsentEmail(English, "Ana", "Clinic", "/c/abc", testExpiry) }, problem.Invalid},
		{"script link", func() (Email, error) {
			return ConsentEmail(English, "Ana", "Clinic", "javascript:alert(1)", testExpiry)
		}, problem.Invalid},
		{"link with a space", func() (Email, error) { return WithdrawnEmail(English, "G", "Clinic", "https://x.example/g/a b") }, problem.Invalid},
		{"link with a line break", func() (Email, error) {
			return GroupNoticeEmail(English, "G", "C", "Ana", "a@b.example", "en", "", "https://x.example/g/a\nb", testExpiry)
		}, problem.Invalid},
		{"receipt with unknown mode", func() (Email, error) {
			return ConsentReceiptEmail(English, "Ana", "C", consentLink, Receipt{Mode: "all", SignedAt: testSigned, ExpiresAt: testExpiry})
		}, ""},
		{"receipt without dates", func() (Email, error) {
			return ConsentReceiptEmail(English, "Ana", "C", consentLink, Receipt{Mode: ModeSelf})
		}, ""},
		{"self mode without groups", func() (Email, error) { return SelfModeEmail(English, "Ana", "C", nil) }, ""},
		{"clinician with unknown status", func() (Email, error) {
			return ClinicianStatusEmail(English, "Dr", "C", "E", "R", "lost", testSigned)
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build()
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.code != "" && !problem.Is(err, tc.code) {
				t.Errorf("error %v, want code %s", err, tc.code)
			}
			if strings.Contains(err.Error(), "x.example") || strings.Contains(err.Error(), "/c/abc") {
				t.Errorf("error repeats the link: %v", err)
			}
		})
	}
}

func TestClinicianEmailEveryStatus(t *testing.T) {
	statuses := []referral.Status{
		referral.AwaitingConsent, referral.Consented, referral.Declined, referral.Expired, referral.Cancelled,
		referral.Revoked, referral.Routed, referral.SharedWithPatient, referral.Unmatched, referral.Accepted,
		referral.Connected, referral.NotConnected, referral.Unreachable,
	}
	for _, s := range statuses {
		for _, lang := range Languages() {
			t.Run(string(s)+"/"+lang, func(t *testing.T) {
				e, err := ClinicianStatusEmail(lang, "Dr. Jan Rivera", "Lakeside Health Center", "", "01J9ZQ4K7M", s, testSigned)
				if err != nil {
					t.Fatal(err)
				}
				// Without an external id, the referral id is the reference.
				assertContains(t, "subject", e.Subject, "01J9ZQ4K7M")
				assertTranslated(t, "email", e.Subject+e.Text+e.HTML)
				assertNoClinicalWords(t, "clinician email", e.Subject+e.Text)
			})
		}
	}
}
