package pages

import (
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/sms"
)

// TestConsentSMS checks the consent text in every language, first and
// reminder, for a short and a long clinic name and the longest public URL a
// text allows: one GSM-7 segment, the clinic, the link whole, the STOP line,
// and none of the words a lock screen must not show.
func TestConsentSMS(t *testing.T) {
	token := strings.Repeat("T", 22) // a 128-bit text token
	links := []string{
		"http://127.0.0.1:3000/c/" + token,
		"https://handoff.example.org/c/" + token,
		"https://referrals.lakeside-health-center.example.org/c/" + token,
	}
	clinics := []string{
		"Lakeside Health",
		"Clínica Comunitaria San José de la Montaña — Servicios de Salud Mental y Adicciones",
	}
	forbidden := []string{"alcohol", "AA", "NA ", "SMART", "grief", "cancer", "diabetes", "group", "grupo", "recovery"}
	for _, lang := range Languages() {
		for _, reminder := range []bool{false, true} {
			for _, clinic := range clinics {
				for _, link := range links {
					body, err := ConsentSMS(lang, clinic, link, reminder)
					if err != nil {
						t.Fatalf("%s reminder=%v %q %s: %v", lang, reminder, clinic, link, err)
					}
					c := sms.Measure(body)
					t.Logf("%s reminder=%-5v link %2d clinic %2d: %3d septets: %s", lang, reminder, len(link), len([]rune(clinic)), c.Units, body)
					if c.Encoding != sms.GSM7 || c.Segments != 1 {
						t.Errorf("%q: %d %s units in %d segments, want one GSM-7 segment", body, c.Units, c.Encoding, c.Segments)
					}
					if !strings.Contains(body, " "+link+" ") {
						t.Errorf("%q: the link is not whole", body)
					}
					if !strings.Contains(body, "STOP") {
						t.Errorf("%q: no STOP line", body)
					}
					if !strings.Contains(body, "Lakeside Health") && !strings.Contains(body, "Clinica Comunit") {
						t.Errorf("%q: the clinic's name is missing", body)
					}
					for _, w := range forbidden {
						if strings.Contains(body, w) {
							t.Errorf("%q names %q", body, w)
						}
					}
				}
			}
		}
	}
}

func TestConsentSMSLinkTooLong(t *testing.T) {
	link := "https://" + strings.Repeat("a", 90) + ".example.org/c/" + strings.Repeat("T", 22)
	if _, err := ConsentSMS("en", "Lakeside", link, false); err == nil || !strings.Contains(err.Error(), "HANDOFF_PUBLIC_URL") {
		t.Errorf("a link too long for one segment: got %v, want an error naming HANDOFF_PUBLIC_URL", err)
	}
	if _, err := ConsentSMS("en", "Lakeside", "javascript:alert(1)", false); err == nil {
		t.Error("a non-http link was accepted")
	}
}

func TestGSMOnly(t *testing.T) {
	for in, want := range map[string]string{
		"Clínica San José":  "Clinica San José", // é is GSM-7, í is not
		"Salud · Bienestar": "Salud Bienestar",
		"Zoë's Place":       "Zoe's Place",
		"Ünited Çare":       "Ünited Çare",
		"北京 Clinic":         "Clinic",
	} {
		if got := gsmOnly(in); got != want {
			t.Errorf("gsmOnly(%q) = %q, want %q", in, got, want)
		}
	}
}
