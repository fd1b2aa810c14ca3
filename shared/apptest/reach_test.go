package apptest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
)

// referralWith is the sample native referral with the patient's contact
// fields replaced: an empty value drops the field.
func referralWith(t testing.TB, email, phone, preferred string) []byte {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(nativeReferral), &r); err != nil {
		t.Fatal(err)
	}
	p := r["patient"].(map[string]any)
	for k, v := range map[string]string{"email": email, "phone": phone, "preferred_channel": preferred} {
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// referTo sends a referral to the world's clinic and settles.
func (w *world) referTo(t testing.TB, body []byte) string {
	t.Helper()
	id := referAccepted(t, w.Harness, w.clinic, body)
	w.settleAll()
	return id
}

// referAccepted sends a referral to clinic c, wants it accepted, and
// returns its id, settling nothing.
func referAccepted(t testing.TB, h *apptest.Harness, c apptest.Clinic, body []byte) string {
	t.Helper()
	st, b := h.Refer(c, "application/json", body)
	if st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	var r struct{ ID string }
	_ = json.Unmarshal(b, &r)
	return r.ID
}

// settleAll runs due events and the delivery events they cause until none
// is left.
func (w *world) settleAll() {
	for range 3 {
		w.Settle()
		w.Phones.Wait()
	}
	w.Settle()
}

// The words a text on a lock screen must never show for the sample
// referral and groups.
var lockScreen = []string{"alcohol", "Alcohol", "F10", "Mission", "group", "Diaz", "AA", "grupo"}

// TestPhoneOnlyReferralGetsAText: a patient with only a phone number gets
// the consent link by text — one GSM-7 segment naming the clinic, with the
// link and the STOP line and nothing a lock screen must not show — and the
// link opens the consent page, whose yes notifies the group.
func TestPhoneOnlyReferralGetsAText(t *testing.T) {
	w := newWorld(t, "")
	const phone = "+14155550123"
	id := w.referTo(t, referralWith(t, "", phone, ""))
	texts := w.TextsTo(phone)
	if len(texts) != 1 {
		t.Fatalf("%d texts to the patient, want 1", len(texts))
	}
	body := texts[0].Body
	if c := sms.Measure(body); c.Segments != 1 || c.Encoding != sms.GSM7 {
		t.Errorf("the text is %d %s units in %d segments, want one GSM-7 segment", c.Units, c.Encoding, c.Segments)
	}
	if !strings.Contains(body, "STOP") {
		t.Errorf("the text has no STOP line")
	}
	// The link's token is random: it may spell "AA" by chance.
	for _, s := range lockScreen {
		if strings.Contains(apptest.Redact(body), s) {
			t.Errorf("the text shows %q", s)
		}
	}
	link := w.TextLink(texts[0])
	if len(link) != len("/c/")+22 {
		t.Errorf("the text's link token has %d characters, want 22 (128 bits)", len(link)-3)
	}
	st, _, page := w.Do(http.MethodGet, link, nil, nil)
	if st != http.StatusOK || !strings.Contains(string(page), `value="mission-a"`) {
		t.Fatalf("the text's link: %d, want the consent page offering the groups", st)
	}
	if !strings.Contains(string(page), "•••• 23") || strings.Contains(string(page), "4155550123") {
		t.Errorf("the consent page does not name, masked, the phone number the group would get")
	}
	w.confirm(t, link, "introduce", "mission-a")
	if v := w.Status(w.clinic, id); v.Status != referral.Routed {
		t.Fatalf("after confirm: %s", v.Status)
	}
	notice := w.MailsTo(w.groups[0].Contact.Email)
	if len(notice) != 1 || !strings.Contains(notice[0].Body.Text, phone) {
		t.Fatalf("the group got %d emails; want one with the patient's number", len(notice))
	}
	// The operator's funnel counts it under texts.
	st, _, b := w.Do(http.MethodGet, "/v1/admin/outcomes", nil, http.Header{"Authorization": {"Bearer " + apptest.AdminToken}})
	var out struct {
		ByChannel map[string]map[string]int64 `json:"funnel_by_channel"`
		Channels  map[string]struct{ Sent int64 }
	}
	if st != http.StatusOK || json.Unmarshal(b, &out) != nil || out.ByChannel["sms"]["received"] != 1 ||
		out.ByChannel["sms"]["consented"] != 1 || out.Channels["sms"].Sent != 1 {
		t.Errorf("outcomes: %d %s, want the referral in the sms funnel and one text sent", st, b)
	}
	if n := len(w.Mails()) - 1; n != 0 {
		t.Errorf("%d other emails, want none (the patient has no email)", n)
	}
}

// TestPreferredChannel: with both channels, the preference decides; with
// none, email goes first.
func TestPreferredChannel(t *testing.T) {
	w := newWorld(t, "")
	w.referTo(t, referralWith(t, "both-sms@patient.example", "+14155550124", "sms"))
	w.referTo(t, referralWith(t, "both-none@patient.example", "+14155550125", ""))
	w.referTo(t, referralWith(t, "both-email@patient.example", "+14155550126", "email"))
	for _, c := range []struct {
		email, phone string
		mails, texts int
	}{
		{"both-sms@patient.example", "+14155550124", 0, 1},
		{"both-none@patient.example", "+14155550125", 1, 0},
		{"both-email@patient.example", "+14155550126", 1, 0},
	} {
		if m, x := len(w.MailsTo(c.email)), len(w.TextsTo(c.phone)); m != c.mails || x != c.texts {
			t.Errorf("%s: %d emails and %d texts, want %d and %d", c.email, m, x, c.mails, c.texts)
		}
	}
}

// TestFailedTextMovesToEmail: a number that opted out (refused at once) or
// that the carrier reports undeliverable (a delivery event) gets no more
// texts: the consent link goes by email, and the clinic sees why.
func TestFailedTextMovesToEmail(t *testing.T) {
	w := newWorld(t, "")
	for _, c := range []struct {
		name, email, phone string
		texts              int
	}{
		{"opted out", "opted-out@patient.example", "+14155550198", 0},
		{"undeliverable", "undeliverable@patient.example", "+14155550199", 1},
	} {
		id := w.referTo(t, referralWith(t, c.email, c.phone, "sms"))
		if n := len(w.TextsTo(c.phone)); n != c.texts {
			t.Errorf("%s: %d texts taken, want %d", c.name, n, c.texts)
		}
		mails := w.MailsTo(c.email)
		if len(mails) != 1 {
			t.Fatalf("%s: %d consent emails, want 1", c.name, len(mails))
		}
		if st, _, _ := w.Do(http.MethodGet, w.Link(mails[0], "c"), nil, nil); st != http.StatusOK {
			t.Errorf("%s: the email's link: %d", c.name, st)
		}
		v := w.Status(w.clinic, id)
		if v.Status != referral.AwaitingConsent {
			t.Errorf("%s: status %s, want awaiting-consent", c.name, v.Status)
		}
		var told bool
		for _, e := range v.Timeline {
			told = told || strings.Contains(e.Detail, "goes by email instead")
		}
		if !told {
			t.Errorf("%s: the timeline does not say the link went by email instead: %+v", c.name, v.Timeline)
		}
		// A repeated delivery event changes nothing; nor does the first
		// consent-requested event delivered again after its text went out
		// (a worker that crashed between the text and finishing the event):
		// it stays on its channel. (A refused text finishes its event in
		// the same write that moves on, so it is not delivered again.)
		rec, err := w.App.Referrals.Load(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range rec.Events {
			if e.Type == referral.ConsentRequested && c.texts == 1 {
				if err := w.App.Referrals.Replay(context.Background(), e); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		w.settleAll()
		if n := len(w.MailsTo(c.email)); n != 1 {
			t.Errorf("%s: %d consent emails after the first event ran again, want 1", c.name, n)
		}
		if n := len(w.TextsTo(c.phone)); n != c.texts {
			t.Errorf("%s: %d texts after the first event ran again, want %d", c.name, n, c.texts)
		}
	}
}

// TestNoTextingNumber: a deployment without a texting number refuses a
// phone-only referral, as does a landline with no email; nothing is stored.
func TestNoTextingNumber(t *testing.T) {
	w := newWorld(t, "", func(c *config.Config) { c.SMSOrigin = "" })
	st, b := w.Refer(w.clinic, "application/json", referralWith(t, "", "+14155550127", ""))
	if st != http.StatusUnprocessableEntity || !strings.Contains(string(b), "patient.email") ||
		!strings.Contains(string(b), "does not send texts") {
		t.Errorf("phone-only without a texting number: %d %s, want 422 naming patient.email", st, b)
	}
	w2 := newWorld(t, "")
	landline := fhirPhoneReferral(t, "home")
	st, b = w2.Refer(w2.clinic, "application/fhir+json", landline)
	if st != http.StatusUnprocessableEntity || !strings.Contains(string(b), "Patient.telecom") || !strings.Contains(string(b), "use mobile") {
		t.Errorf("a FHIR patient with only a home phone: %d %s, want 422 naming Patient.telecom", st, b)
	}
	w2.Settle()
	if n := len(w2.Texts()); n != 0 {
		t.Errorf("%d texts after refused referrals", n)
	}
}

// TestOneReminder: one reminder after HANDOFF_CONSENT_REMINDER on the channel
// that reached the patient, never a second; none once the patient answered,
// the clinic cancelled, or the link expired.
func TestOneReminder(t *testing.T) {
	w := newWorld(t, "")
	const remind = 72 * time.Hour
	emailID := w.referTo(t, referralWith(t, "remind@patient.example", "", ""))
	textID := w.referTo(t, referralWith(t, "", "+14155550130", ""))
	_, answered := w.refer(t, "answered@patient.example")
	cancelled := w.referTo(t, referralWith(t, "cancelled@patient.example", "", ""))
	st, _ := w.Form(answered, map[string][]string{"action": {"decline"}})
	if st != http.StatusSeeOther {
		t.Fatalf("decline: %d", st)
	}
	if st, _, b := w.Do(http.MethodDelete, "/v1/clinics/"+w.clinic.ID+"/referrals/"+cancelled, nil,
		http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}}); st >= 300 {
		t.Fatalf("cancel: %d %s", st, b)
	}
	// Viewing the page is not answering.
	if st, _, _ := w.Do(http.MethodGet, w.Link(w.MailsTo("remind@patient.example")[0], "c"), nil, nil); st != http.StatusOK {
		t.Fatalf("consent page: %d", st)
	}
	w.Advance(remind - time.Minute)
	w.settleAll()
	if n := len(w.MailsTo("remind@patient.example")); n != 1 {
		t.Fatalf("%d emails before the reminder is due, want 1", n)
	}
	w.Advance(time.Minute)
	w.settleAll()
	mails := w.MailsTo("remind@patient.example")
	if len(mails) != 2 || !strings.Contains(mails[1].Subject, "Recordatorio") {
		t.Fatalf("%d emails at the reminder's time, want the link and one reminder (Spanish, as the patient prefers)", len(mails))
	}
	texts := w.TextsTo("+14155550130")
	if len(texts) != 2 || !strings.HasPrefix(texts[1].Body, "Recordatorio") {
		t.Fatalf("%d texts at the reminder's time, want the link and one reminder", len(texts))
	}
	if w.TextLink(texts[0]) != w.TextLink(texts[1]) {
		t.Error("the reminder's link differs from the first text's")
	}
	for _, addr := range []string{"answered@patient.example", "cancelled@patient.example"} {
		if n := len(w.MailsTo(addr)); n != 1 {
			t.Errorf("%s: %d emails, want only the consent link", addr, n)
		}
	}
	w.Advance(remind)
	w.settleAll()
	w.Advance(7 * 24 * time.Hour)
	w.settleAll()
	if n, x := len(w.MailsTo("remind@patient.example")), len(w.TextsTo("+14155550130")); n != 2 || x != 2 {
		t.Errorf("after expiry: %d emails and %d texts, want 2 and 2 (never a second reminder)", n, x)
	}
	for _, id := range []string{emailID, textID} {
		if v := w.Status(w.clinic, id); v.Status != referral.Expired {
			t.Errorf("%s: %s, want expired", id, v.Status)
		}
	}
}

// TestNoReminderAfterExpiry: with a consent link shorter than the reminder's
// delay, no reminder is scheduled at all.
func TestNoReminderAfterExpiry(t *testing.T) {
	w := newWorld(t, "", func(c *config.Config) { c.ConsentTTL = 48 * time.Hour })
	w.referTo(t, referralWith(t, "short@patient.example", "", ""))
	w.Advance(96 * time.Hour)
	w.settleAll()
	if n := len(w.MailsTo("short@patient.example")); n != 1 {
		t.Errorf("%d emails, want only the consent link", n)
	}
}

// TestTextFaults: throttling and 500s from the texting service are retried;
// the patient still gets exactly one text.
func TestTextFaults(t *testing.T) {
	w := newWorld(t, "")
	f := w.InjectTextFaults(3)
	const phone = "+14155550131"
	st, b := w.Refer(w.clinic, "application/json", referralWith(t, "", phone, ""))
	if st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	for range 20 {
		w.Advance(time.Minute)
		w.settleAll()
	}
	if n := len(w.TextsTo(phone)); n != 1 {
		t.Errorf("%d texts after %d injected faults, want 1", n, f.Injected())
	}
	if f.Injected() < 3 {
		t.Errorf("only %d faults injected", f.Injected())
	}
}

// fhirPhoneReferral is a FHIR ServiceRequest whose patient has only a phone
// number, of the given use (mobile, home).
func fhirPhoneReferral(t *testing.T, use string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"resourceType": "ServiceRequest", "status": "active", "intent": "order",
		"contained": []map[string]any{
			{
				"resourceType": "Patient", "id": "pat", "name": []map[string]any{{"given": []string{"Ana"}}},
				"telecom": []map[string]string{{"system": "phone", "use": use, "value": "+14155550100"}},
				"address": []map[string]string{{"postalCode": "94110", "country": "US"}},
			},
			{
				"resourceType": "Practitioner", "id": "dr", "name": []map[string]any{{"given": []string{"Jan"}, "family": "Rivera"}},
				"telecom": []map[string]string{{"system": "email", "value": "rivera@clinic.example"}},
			},
		},
		"reasonCode": []map[string]any{{"coding": []map[string]string{{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}}}},
		"subject":    map[string]string{"reference": "#pat"},
		"requester":  map[string]string{"reference": "#dr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
