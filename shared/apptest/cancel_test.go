package apptest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCancelOneMeaning: both APIs cancel through one use case, with one
// meaning: an open referral is cancelled once (its group told once); a
// referral cancelled before is left as it is, and each API says so its own
// way — the clinic API's DELETE answers 409, as for any closed referral,
// and FHIR's PUT answers 200 with the Task, an update to the state it
// already has; a referral closed otherwise is a 409 in both.
func TestCancelOneMeaning(t *testing.T) {
	w := newWorld(t, "")
	tok := w.fhirToken(t, newEHR(t), "lakeside", "system/Task.cru system/Task.rs")
	apiKey := http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}}
	cancel := func(id string) map[string]any {
		return map[string]any{"resourceType": "Task", "id": id, "status": "cancelled"}
	}

	// A Task routed to a group, cancelled by FHIR twice, then by the API.
	st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("twice@patient.example", "ORD-C1"), nil)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, task)
	}
	id := task["id"].(string)
	w.Settle()
	w.confirm(t, w.Link(w.MailsTo("twice@patient.example")[0], "c"), "introduce", "mission-a")
	st, _, first := w.fhirCall(t, http.MethodPut, "/fhir/Task/"+id, tok, cancel(id), nil)
	if st != http.StatusOK || first["status"] != "cancelled" {
		t.Fatalf("first cancel: %d %v", st, first)
	}
	w.Settle()
	st, _, again := w.fhirCall(t, http.MethodPut, "/fhir/Task/"+id, tok, cancel(id), nil)
	if st != http.StatusOK || again["status"] != "cancelled" || mustString(t, again["meta"]) != mustString(t, first["meta"]) {
		t.Errorf("cancelling a cancelled Task: %d %v, want 200 and the Task as it was (%v)", st, again, first["meta"])
	}
	if st, _, b := w.Do(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+id, nil, apiKey); st != http.StatusConflict || !strings.Contains(string(b), "cancelled") {
		t.Errorf("the clinic API's cancel of a cancelled referral: %d %s, want 409", st, b)
	}
	w.Settle()
	if n := len(w.MailsTo(w.groups[0].Contact.Email)); n != 2 {
		t.Errorf("the group got %d emails, want the notice and one withdrawal", n)
	}
	v := w.Status(w.clinic, id)
	cancelled := 0
	for _, e := range v.Timeline {
		if e.Status == "cancelled" {
			cancelled++
		}
	}
	if cancelled != 1 {
		t.Errorf("the timeline holds %d cancellations, want 1: %+v", cancelled, v.Timeline)
	}

	// A referral the patient revoked can no longer be cancelled, either way.
	st, _, revoked := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("revoked@patient.example", "ORD-C2"), nil)
	if st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	rid := revoked["id"].(string)
	w.Settle()
	link := w.Link(w.MailsTo("revoked@patient.example")[0], "c")
	w.confirm(t, link, "introduce", "mission-a")
	if st, _ := w.Form(link, url.Values{"action": {"revoke"}}); st != http.StatusSeeOther {
		t.Fatalf("revoke: %d", st)
	}
	if st, _, oo := w.fhirCall(t, http.MethodPut, "/fhir/Task/"+rid, tok, cancel(rid), nil); st != http.StatusConflict || oo["resourceType"] != "OperationOutcome" {
		t.Errorf("FHIR cancel of a revoked referral: %d %v, want 409", st, oo)
	}
	if st, _, b := w.Do(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+rid, nil, apiKey); st != http.StatusConflict {
		t.Errorf("the clinic API's cancel of a revoked referral: %d %s, want 409", st, b)
	}
}
