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
