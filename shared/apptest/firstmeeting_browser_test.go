package apptest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
)

// TestBrowserFirstMeeting walks the first meeting's pages in Chromium, in
// English and in Spanish, each state checked with axe-core: the group's
// page with its meeting choices, by day; the accept with one chosen; the
// patient's page with the plan and its calendar link; once the meeting has
// begun, the check-in's answers; after "missed", the group's next
// meetings and the other groups; and the group's page once it is answered.
func TestBrowserFirstMeeting(t *testing.T) {
	for _, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			b := newChromium(t)
			g := tuesdayGroup("tue-a", false, false)
			g.Languages = []string{lang}
			w := newMeetWorld(t, monday, g, apptest.SampleGroup("mission-b", 37.7609, -122.4148))
			b.use(w.Harness)
			email := "browser-" + lang + "@patient.example"
			w.referMeetIn(t, email, "", lang)
			link := w.patientLink(t, email, "")
			w.post(t, link, url.Values{"action": {"confirm"}, "groups": {"tue-a"}})
			glink := w.Link(w.MailsTo("contact+tue-a@groups.example")[0], "g")

			// The group's page: the meetings to choose from, by day.
			if st := b.open(glink); st != http.StatusOK {
				t.Fatalf("group page: %d", st)
			}
			if b.lang() != lang {
				t.Errorf("the group page is in %q", b.lang())
			}
			days := b.texts(`fieldset.day legend`)
			if len(days) != 2 || !strings.Contains(days[0], map[string]string{"en": "Tuesday, June 2", "es": "martes 2 de junio"}[lang]) {
				t.Errorf("days offered: %q", days)
			}
			b.check("group page with meeting choices " + lang)
			b.click(`input[name="first_meeting"][value="2026-06-02T19:00"] + label`)
			b.submit(`button[value="accept"]`)
			if !b.has(`button[value="connected"]`) || !strings.Contains(b.text("main"), map[string]string{"en": "7:00 pm–8:30 pm PDT", "es": "19:00–20:30 PDT"}[lang]) {
				t.Error("the accepted page does not show the chosen meeting")
			}
			b.check("group accepted with a first meeting " + lang)

			// The patient's page: the plan and its calendar file.
			if st := b.open(link); st != http.StatusOK {
				t.Fatalf("patient page: %d", st)
			}
			if !b.has(`a[href$="/meeting.ics"]`) || b.has(`button[value="attended"]`) {
				t.Error("the plan page has no calendar link, or asks too early")
			}
			b.check("patient plan " + lang)

			// Once the meeting has begun: the check-in's answers.
			w.at(t, pdt("2026-06-02 19:15"))
			if st := b.open(link); st != http.StatusOK {
				t.Fatalf("patient page: %d", st)
			}
			if !b.has(`button[value="attended"]`) || !b.has(`button[value="missed"]`) {
				t.Fatal("no check-in answers on the patient's page")
			}
			b.check("patient check-in " + lang)
			b.submit(`button[value="missed"]`)
			if body := b.text("main"); !strings.Contains(body, "Group mission-b") ||
				!strings.Contains(body, map[string]string{"en": "Tuesday, June 9", "es": "martes 9 de junio"}[lang]) {
				t.Errorf("after missed, the page does not offer the next meeting and the other group")
			}
			b.check("patient missed " + lang)

			// The group's page after the patient's word.
			if st := b.open(glink); st != http.StatusOK {
				t.Fatalf("group page: %d", st)
			}
			if b.has(`button[value="attended"]`) {
				t.Error("the group is asked again after the patient answered")
			}
			b.check("group after the word " + lang)
		})
	}
}
