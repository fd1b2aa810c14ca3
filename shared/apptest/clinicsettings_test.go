package apptest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// TestClinicianEmails: a clinic's clinicians are emailed on the transitions
// that matter unless the clinic says otherwise; a clinic with a callback URL
// gets the status webhook and, by default, no clinician email.
func TestClinicianEmails(t *testing.T) {
	var mu sync.Mutex
	hooks := map[string]int{} // status webhooks per clinic, by callback path
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hooks[r.URL.Path]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	w := newWorld(t, "")
	cases := []struct {
		name       string
		callback   bool
		setting    any // the request's clinician_emails; nil: left out
		wantEmails int
	}{
		{name: "no callback: emailed by default", wantEmails: 1},
		{name: "callback: not emailed by default", callback: true},
		{name: "callback, emails asked for", callback: true, setting: true, wantEmails: 1},
		{name: "no callback, emails turned off", setting: false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("clinic-%d", i)
			callback, settings := "", map[string]any{}
			if tc.callback {
				callback = hook.URL + "/" + id
			}
			if tc.setting != nil {
				settings["clinician_emails"] = tc.setting
			}
			c := w.NewClinic(id, callback, settings)
			before := len(w.MailsTo("rivera@clinic.example"))
			patient := id + "@patient.example"
			st, b := w.Refer(c, "application/json", referralFor(patient, "Diaz"))
			if st != http.StatusAccepted {
				t.Fatalf("refer: %d %s", st, b)
			}
			w.Settle()
			mails := w.MailsTo(patient)
			if len(mails) != 1 {
				t.Fatalf("%d consent emails, want 1", len(mails))
			}
			if st, _ := w.Form(w.Link(mails[0], "c"), url.Values{"action": {"decline"}}); st != http.StatusSeeOther {
				t.Fatalf("decline: %d", st)
			}
			w.Settle()
			if got := len(w.MailsTo("rivera@clinic.example")) - before; got != tc.wantEmails {
				t.Errorf("the clinician got %d emails, want %d", got, tc.wantEmails)
			}
			mu.Lock()
			got := hooks["/"+id]
			mu.Unlock()
			if want := map[bool]int{true: 2, false: 0}[tc.callback]; got != want {
				t.Errorf("%d status webhooks, want %d (awaiting-consent, declined)", got, want)
			}
		})
	}
	t.Run("not a boolean", func(t *testing.T) {
		st, b := w.Admin(http.MethodPost, "/v1/admin/clinics", map[string]any{
			"id": "clinic-bad", "name": "Bad", "contact_email": "desk@clinic.example", "clinician_emails": "yes",
		})
		var p struct {
			Errors []struct{ Field string } `json:"errors"`
		}
		_ = json.Unmarshal(b, &p)
		if st != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "clinician_emails" {
			t.Fatalf("%d %s, want 422 naming clinician_emails", st, b)
		}
		if !strings.Contains(string(b), "wrong type") {
			t.Errorf("the problem does not say what is wrong: %s", b)
		}
	})
}

// TestClinicSMSSetting: a clinic that does not let handoff text its patients
// cannot refer a patient who has only a phone number: 422 naming the email
// field (Patient.telecom for FHIR), with nothing stored and nothing sent. With
// an email, or at a clinic that allows texts (the default), the referral is
// accepted.
func TestClinicSMSSetting(t *testing.T) {
	w := newWorld(t, "")
	noTexts := w.NewClinic("no-texts", "", map[string]any{"sms": false})
	phoneOnly := func(b string) []byte {
		return []byte(strings.Replace(b, `"email": "ana.intake@example.org",`, "", 1))
	}
	fhirPhoneOnly := fhirPhoneReferral(t, "mobile")
	before := dynamotest.Dump(t, w.DB, w.DB.Tables.Referrals)
	mails := len(w.Mails())
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		field             string
	}{
		{"native", "application/json", phoneOnly(nativeReferral), "patient.email"},
		{"FHIR", "application/fhir+json", fhirPhoneOnly, "Patient.telecom"},
	} {
		st, b := w.Refer(noTexts, tc.contentType, tc.body)
		var p struct {
			Status int
			Errors []struct{ Field, Detail string } `json:"errors"`
		}
		_ = json.Unmarshal(b, &p)
		if st != http.StatusUnprocessableEntity || p.Status != st || len(p.Errors) != 1 || p.Errors[0].Field != tc.field ||
			!strings.Contains(p.Errors[0].Detail, "text") {
			t.Errorf("%s phone-only referral at a clinic without texts: %d %s, want 422 naming %s", tc.name, st, b, tc.field)
		}
		if strings.Contains(string(b), "4155550100") {
			t.Errorf("the error repeats the phone number: %s", b)
		}
	}
	w.Settle()
	if after := dynamotest.Dump(t, w.DB, w.DB.Tables.Referrals); after != before {
		t.Errorf("a refused referral wrote to the referrals table:\n%s", after)
	}
	if got := len(w.Mails()) - mails; got != 0 {
		t.Errorf("a refused referral sent %d emails", got)
	}

	if st, b := w.Refer(noTexts, "application/json", []byte(nativeReferral)); st != http.StatusAccepted {
		t.Errorf("a patient with an email at a clinic without texts: %d %s, want 202", st, b)
	}
	if st, b := w.Refer(w.clinic, "application/json", phoneOnly(nativeReferral)); st != http.StatusAccepted {
		t.Errorf("a phone-only patient at a clinic with texts (the default): %d %s, want 202", st, b)
	}
	st, b := w.Admin(http.MethodPost, "/v1/admin/clinics", map[string]any{
		"id": "clinic-bad-sms", "name": "Bad", "contact_email": "desk@clinic.example", "sms": "no",
	})
	if st != http.StatusUnprocessableEntity || !strings.Contains(string(b), `"sms"`) {
		t.Errorf("sms not a boolean: %d %s, want 422 naming sms", st, b)
	}
}
