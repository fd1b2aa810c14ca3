package apptest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/referral"
)

// TestVolunteerNamed: a group accepting names who will reach out; the patient
// is told by email (name, group, channel, note) or, reached by text, by a
// text that names the volunteer and never the group; the clinic's timeline
// and webhook say a volunteer was named, never the name; the name is sealed
// at rest.
func TestVolunteerNamed(t *testing.T) {
	hook := newHookRecorder(t)
	w := newWorld(t, hook.URL)
	const name, note = "Marisol", "I will call you on Tuesday evening."

	id, link := w.refer(t, "vol@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	glink := w.groupLink(t, w.groups[0], 1)
	w.answer(t, glink, url.Values{"action": {"accept"}, "volunteer_name": {name}, "volunteer_note": {note}})
	mails := w.MailsTo("vol@patient.example")
	if len(mails) != 3 {
		t.Fatalf("%d emails to the patient, want the link, the receipt and who will reach out", len(mails))
	}
	m := mails[2]
	if !strings.Contains(m.Body.Text, name+", de Group mission-a, se comunicará con usted por su correo electrónico") ||
		!strings.Contains(m.Body.Text, note) || strings.Contains(m.Subject, "mission") {
		t.Errorf("the patient's email: %q\n%s", m.Subject, m.Body.Text)
	}
	v := w.Status(w.clinic, id)
	b, _ := json.Marshal(v)
	if !strings.Contains(string(b), "named the volunteer") || strings.Contains(string(b), name) {
		t.Errorf("the clinic's view should say a volunteer was named, without the name: %s", b)
	}
	w.Settle()
	for _, h := range hook.bodies() {
		if strings.Contains(h, name) {
			t.Errorf("a status webhook names the volunteer: %s", h)
		}
	}
	if dump := dynamotest.Dump(t, w.DB, w.DB.Tables.Referrals); strings.Contains(dump, name) || strings.Contains(dump, "Tuesday") {
		t.Error("the volunteer's name or note is stored in the clear")
	}
	if strings.Contains(w.Logs.String(), name) {
		t.Error("a log line names the volunteer")
	}

	// A patient reached by text is told by text, without the group's name.
	const phone = "+14155550160"
	tid := w.referTo(t, referralWith(t, "", phone, ""))
	tlink := w.TextLink(w.TextsTo(phone)[0])
	w.confirm(t, tlink, "introduce", "mission-b")
	w.answer(t, w.groupLink(t, w.groups[1], 1), url.Values{"action": {"accept"}, "volunteer_name": {"Ana María"}})
	w.settleAll()
	// One text a day to a patient: the consent link went today, so the
	// volunteer's name waits for tomorrow.
	if texts := w.TextsTo(phone); len(texts) != 1 {
		t.Fatalf("%d texts to the patient on the day of the consent link, want 1", len(texts))
	}
	w.Advance(24 * time.Hour)
	w.settleAll()
	texts := w.TextsTo(phone)
	if len(texts) != 2 || !strings.Contains(texts[1].Body, "Ana Maria se comunicara") || strings.Contains(texts[1].Body, "mission") {
		t.Fatalf("texts to the patient: %+v", texts)
	}
	if st := w.Status(w.clinic, tid).Status; st != referral.Accepted {
		t.Errorf("status %s", st)
	}

	// A patient with both who prefers texts is told by text, as their
	// consent link was, and gets no email about it.
	const both = "+14155550161"
	w.referTo(t, referralWith(t, "both@patient.example", both, "sms"))
	w.confirm(t, w.TextLink(w.TextsTo(both)[0]), "introduce", "mission-c")
	w.answer(t, w.groupLink(t, w.groups[2], 1), url.Values{"action": {"accept"}, "volunteer_name": {"Lucía"}})
	w.settleAll()
	w.Advance(24 * time.Hour) // the next day's text
	w.settleAll()
	if texts := w.TextsTo(both); len(texts) != 2 || !strings.Contains(texts[1].Body, "Lucia") {
		t.Errorf("texts to the patient who prefers them: %+v", texts)
	}
	for _, m := range w.MailsTo("both@patient.example") {
		if strings.Contains(m.Body.Text, "Lucía") {
			t.Errorf("the volunteer's message went by email too: %q", m.Subject)
		}
	}
}

// TestVolunteerRefused: a name that is not a first name, or a note with a
// link, is refused (400, the page forms' answer to a bad field) and changes
// nothing.
func TestVolunteerRefused(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "vol2@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	glink := w.groupLink(t, w.groups[0], 1)
	for _, f := range []url.Values{
		{"volunteer_name": {"Call 555-0100"}},
		{"volunteer_name": {strings.Repeat("a", 41)}},
		{"volunteer_name": {"Maria"}, "volunteer_note": {"See https://evil.example/x"}},
		{"volunteer_name": {"Maria"}, "volunteer_note": {"join at meet.example.com"}},
		{"volunteer_name": {"Maria"}, "volunteer_note": {"Zoom: zoom.us/j/123"}},
		{"volunteer_name": {"Maria"}, "volunteer_note": {"see stmarys.ca first"}},
		{"volunteer_name": {"Maria"}, "volunteer_note": {"maria@groups.example.org"}},
		{"volunteer_name": {"Maria"}, "volunteer_note": {"room at 10.0.0.7"}},
		{"volunteer_name": {"Maria"}, "volunteer_note": {strings.Repeat("n", 281)}},
		{"volunteer_note": {"a note with no name"}},
	} {
		f.Set("action", "accept")
		st, _ := w.Form(glink, f)
		if st != http.StatusBadRequest { // as every page form refuses bad fields
			t.Errorf("%v: %d, want 400", f, st)
		}
	}
	if v := w.Status(w.clinic, id); v.Status != referral.Routed {
		t.Errorf("status %s after refused answers, want routed", v.Status)
	}
}
