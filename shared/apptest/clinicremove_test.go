package apptest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// TestRemoveClinic: an operator removes a clinic; from then on nothing it
// signs or reads is accepted, as for an unknown clinic; its open referral
// runs to its end with no status webhook; its staff are removed with it (a
// signed-in member is signed out) and it takes no new ones, nor FHIR keys or
// a SMART app, and its EHR's launch lookup is gone; its secrets,
// contact and staff are gone from the table; removing it again gives the same answer.
func TestRemoveClinic(t *testing.T) {
	var hooks atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	w := newWorld(t, hook.URL)
	id, link := w.refer(t, "removed@patient.example")
	if n := hooks.Load(); n == 0 {
		t.Fatal("no status webhook before the removal (the test needs one)")
	}

	// The EHR that launches handoff for it.
	const iss = "https://ehr.lakeside.example/fhir"
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/smart-app", map[string]string{"iss": iss, "client_id": "handoff"}); st != http.StatusOK {
		t.Fatalf("register the SMART app: %d %s", st, b)
	}
	// A staff member, signed in on the clinic's pages.
	invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	cookie := signInByEmail(t, w, "rivera@clinic.example")
	if !signedIn(t, w, cookie) {
		t.Fatal("the staff member is not signed in before the removal")
	}

	st, b := w.Admin(http.MethodDelete, "/v1/admin/clinics/lakeside", nil)
	if st != http.StatusOK {
		t.Fatalf("remove: %d %s", st, b)
	}
	var removed struct {
		ID           string    `json:"id"`
		RemovedAt    time.Time `json:"removed_at"`
		DeletedAfter time.Time `json:"deleted_after"`
	}
	if err := json.Unmarshal(b, &removed); err != nil || removed.ID != "lakeside" || !removed.RemovedAt.Equal(w.Now()) ||
		removed.DeletedAfter.Sub(removed.RemovedAt) < w.App.Config.Retention {
		t.Fatalf("answer %s (%v)", b, err)
	}
	if st, again := w.Admin(http.MethodDelete, "/v1/admin/clinics/lakeside", nil); st != http.StatusOK || string(again) != string(b) {
		t.Fatalf("remove again: %d %s, want the same answer %s", st, again, b)
	}
	if st, b := w.Admin(http.MethodDelete, "/v1/admin/clinics/no-such-clinic", nil); st != http.StatusNotFound {
		t.Fatalf("unknown clinic: %d %s", st, b)
	}
	if st, _, _ := w.Do(http.MethodDelete, "/v1/admin/clinics/lakeside", nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("without the admin token: %d", st)
	}

	// The clinic's api key and webhook secret no longer work.
	if st, _, b := w.Do(http.MethodGet, "/v1/clinics/lakeside/referrals/"+id, nil, http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}}); st != http.StatusUnauthorized {
		t.Fatalf("status read after removal: %d %s", st, b)
	}
	if st, b := w.Refer(w.clinic, "application/json", referralFor("late@patient.example", "Diaz")); st != http.StatusUnauthorized {
		t.Fatalf("signed referral after removal: %d %s", st, b)
	}

	// Its staff are gone with it: their session ends, their address asks
	// for no link, and the removed clinic takes no new staff.
	if signedIn(t, w, cookie) {
		t.Error("a staff member of the removed clinic is still signed in")
	}
	if st, b := w.Admin(http.MethodPost, "/v1/admin/clinics/lakeside/staff", map[string]string{"name": "Kim Lee", "email": "lee@clinic.example"}); st != http.StatusNotFound {
		t.Errorf("invite to a removed clinic: %d %s", st, b)
	}

	// It takes no FHIR client keys or SMART app again.
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/fhir-client", map[string]any{"jwks_url": "https://ehr.lakeside.example/jwks"}); st != http.StatusNotFound {
		t.Errorf("FHIR client keys for a removed clinic: %d %s", st, b)
	}
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/smart-app", map[string]string{"iss": iss, "client_id": "handoff"}); st != http.StatusNotFound {
		t.Errorf("a SMART app for a removed clinic: %d %s", st, b)
	}

	// The patient can still answer; the referral goes on, and the removed
	// clinic's callback hears nothing more.
	before := hooks.Load()
	w.confirm(t, link, "introduce", "mission-a")
	w.Settle()
	if n := hooks.Load(); n != before {
		t.Fatalf("%d status webhooks after the removal", n-before)
	}
	if len(w.MailsTo(w.groups[0].Contact.Email)) != 1 {
		t.Fatal("the group got no notice of the removed clinic's open referral")
	}

	// What is kept of the clinic: its name, no secret, key or contact.
	dump := dynamotest.Dump(t, w.DB, w.DB.Tables.Directory)
	for _, gone := range []string{"desk@clinic.example", "rivera@clinic.example", "Jan Rivera", hook.URL, app.HashToken(w.clinic.APIKey), w.clinic.WebhookSecret} {
		if strings.Contains(dump, gone) {
			t.Errorf("the directory still holds %q", gone)
		}
	}
	if !strings.Contains(dump, "Lakeside Health Center") || !strings.Contains(dump, "removed_at") {
		t.Error("the removed clinic's name and removal are not kept")
	}

	// Its EHR's iss is free: another clinic may register it.
	w.NewClinic("hillside", "")
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/hillside/smart-app", map[string]string{"iss": iss, "client_id": "handoff"}); st != http.StatusOK {
		t.Errorf("the removed clinic's EHR registered by another clinic: %d %s", st, b)
	}
}
