package apptest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/webhook"
)

const nativeReferral = `{
  "external_id": "EHR-ORDER-123",
  "patient": {"given_name": "Ana", "family_name": "Diaz", "email": "ana.intake@example.org",
    "phone": "+14155550100", "preferred_language": "es", "postal_code": "94110", "country": "US"},
  "needs": ["alcohol"],
  "reason_codes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}],
  "preferences": {"formats": ["in-person", "online"], "spirituality": "secular", "times": ["evening"]},
  "clinician": {"name": "Dr. Jan Rivera", "email": "rivera@clinic.example"}
}`

func sign(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return webhook.SignHeaders(key, id, ts, body)
}

// TestIntakeRefusals sends requests a clinic might get wrong (or an attacker
// might try) and checks each gets the right 4xx, a problem body, and no 5xx.
func TestIntakeRefusals(t *testing.T) {
	h := apptest.New(t)
	c := h.NewClinic("lakeside", "")
	other := h.NewClinic("elsewhere", "")
	body := []byte(nativeReferral)
	now := h.Now()
	good := func() http.Header {
		hd := sign(t, c.WebhookSecret, "msg_"+strconv.FormatInt(time.Now().UnixNano(), 36), now, body)
		hd.Set("Content-Type", "application/json")
		return hd
	}
	tests := []struct {
		name   string
		clinic string
		body   []byte
		header func() http.Header
		status int
		code   problem.Code
	}{
		{"no signature headers", "lakeside", body, func() http.Header { return http.Header{"Content-Type": {"application/json"}} }, 401, problem.Unauthorized},
		{"signed with another clinic's secret", "lakeside", body, func() http.Header {
			hd := sign(t, other.WebhookSecret, "msg_x1", now, body)
			hd.Set("Content-Type", "application/json")
			return hd
		}, 401, problem.Unauthorized},
		{"unknown clinic", "nobody", body, good, 401, problem.Unauthorized},
		{"stale timestamp", "lakeside", body, func() http.Header {
			hd := sign(t, c.WebhookSecret, "msg_x2", now.Add(-10*time.Minute), body)
			hd.Set("Content-Type", "application/json")
			return hd
		}, 401, problem.Unauthorized},
		{"future timestamp", "lakeside", body, func() http.Header {
			hd := sign(t, c.WebhookSecret, "msg_x3", now.Add(10*time.Minute), body)
			hd.Set("Content-Type", "application/json")
			return hd
		}, 401, problem.Unauthorized},
		{"body changed after signing", "lakeside", []byte(strings.Replace(nativeReferral, "Ana", "Eve", 1)), good, 401, problem.Unauthorized},
		{"signature for another id", "lakeside", body, func() http.Header {
			hd := good()
			hd.Set("webhook-id", "msg_other")
			return hd
		}, 401, problem.Unauthorized},
		{"garbage signature", "lakeside", body, func() http.Header {
			hd := good()
			hd.Set("webhook-signature", "v1,not-base64!!")
			return hd
		}, 401, problem.Unauthorized},
		{"timestamp not a number", "lakeside", body, func() http.Header {
			hd := good()
			hd.Set("webhook-timestamp", "yesterday")
			return hd
		}, 401, problem.Unauthorized},
		{"too large", "lakeside", bytes.Repeat([]byte("x"), 65<<10), good, 413, problem.TooLarge},
		{"wrong content type", "lakeside", body, func() http.Header {
			hd := sign(t, c.WebhookSecret, "msg_x4", now, body)
			hd.Set("Content-Type", "text/plain")
			return hd
		}, 415, problem.UnsupportedMedia},
		{"malformed JSON", "lakeside", []byte(`{"patient":`), nil, 400, problem.Malformed},
		{"unknown field", "lakeside", []byte(strings.Replace(nativeReferral, `"needs"`, `"notes": "drinks daily", "needs"`, 1)), nil, 422, problem.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hd http.Header
			if tc.header != nil {
				hd = tc.header()
			} else {
				hd = sign(t, c.WebhookSecret, "msg_"+strconv.FormatInt(time.Now().UnixNano(), 36), now, tc.body)
				hd.Set("Content-Type", "application/json")
			}
			st, rh, b := h.Do(http.MethodPost, "/v1/clinics/"+tc.clinic+"/referrals", tc.body, hd)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, b)
			}
			if ct := rh.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var pb problem.Body
			if err := json.Unmarshal(b, &pb); err != nil || pb.Type != problem.TypeURI(tc.code) || pb.Status != tc.status {
				t.Fatalf("problem body %s (%v)", b, err)
			}
			if strings.Contains(string(b), "Diaz") || strings.Contains(string(b), "F10") || strings.Contains(string(b), "drinks") {
				t.Fatalf("the error body repeats personal or clinical data: %s", b)
			}
		})
	}
	// Every 401 is the same answer: no hint which check failed.
	_, _, b1 := h.Do(http.MethodPost, "/v1/clinics/nobody/referrals", body, good())
	_, _, b2 := h.Do(http.MethodPost, "/v1/clinics/lakeside/referrals", body, http.Header{"Content-Type": {"application/json"}})
	if !bytes.Equal(b1, b2) {
		t.Fatalf("401 bodies differ:\n%s\n%s", b1, b2)
	}
}

func TestIntakeAcceptsAndIsIdempotent(t *testing.T) {
	h := apptest.New(t)
	c := h.NewClinic("lakeside", "")
	body := []byte(nativeReferral)
	st, b := h.ReferAs(c, "msg_same", "application/json", body)
	if st != http.StatusAccepted {
		t.Fatalf("first delivery: %d %s", st, b)
	}
	var rec struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Links  map[string]string
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Status != "awaiting-consent" || rec.Links["self"] != "/v1/clinics/lakeside/referrals/"+rec.ID {
		t.Fatalf("answer %s", b)
	}
	st2, b2 := h.ReferAs(c, "msg_same", "application/json", body)
	if st2 != http.StatusAccepted || !bytes.Equal(b, b2) {
		t.Fatalf("replay: %d %s, want the first answer %s", st2, b2, b)
	}
	st3, b3 := h.ReferAs(c, "msg_same", "application/json", []byte(strings.Replace(nativeReferral, "EHR-ORDER-123", "EHR-ORDER-124", 1)))
	if st3 != http.StatusConflict {
		t.Fatalf("same id, other body: %d %s", st3, b3)
	}
	v := h.Status(c, rec.ID)
	if v.Status != "awaiting-consent" || v.ExternalID != "EHR-ORDER-123" || len(v.Timeline) != 1 {
		t.Fatalf("status view %+v", v)
	}
	raw, _ := json.Marshal(v)
	// The referral's id is a random ULID: it may spell "F10" by chance.
	shown := strings.ReplaceAll(string(raw), rec.ID, "")
	for _, s := range []string{"Ana", "Diaz", "ana.intake@example.org", "+1415", "F10", "alcohol"} {
		if strings.Contains(shown, s) {
			t.Errorf("the status view shows %q", s)
		}
	}
	// Another clinic cannot read it.
	other := h.NewClinic("elsewhere", "")
	st, _, _ = h.Do(http.MethodGet, "/v1/clinics/elsewhere/referrals/"+rec.ID, nil, http.Header{"Authorization": {"Bearer " + other.APIKey}})
	if st != http.StatusNotFound {
		t.Fatalf("another clinic read it: %d", st)
	}
	st, _, _ = h.Do(http.MethodGet, "/v1/clinics/lakeside/referrals/"+rec.ID, nil, http.Header{"Authorization": {"Bearer " + other.APIKey}})
	if st != http.StatusUnauthorized {
		t.Fatalf("wrong api key: %d", st)
	}
	// FHIR read-back.
	st, hd, fb := h.Do(http.MethodGet, "/v1/clinics/lakeside/referrals/"+rec.ID, nil, http.Header{
		"Authorization": {"Bearer " + c.APIKey}, "Accept": {"application/fhir+json"}})
	var task map[string]any
	if st != 200 || hd.Get("Content-Type") != "application/fhir+json" || json.Unmarshal(fb, &task) != nil ||
		task["resourceType"] != "Task" || task["status"] != "requested" {
		t.Fatalf("FHIR task: %d %s", st, fb)
	}
}

// TestParallelDeliveries: 50 deliveries of one webhook id at once make one
// referral, one consent email.
func TestParallelDeliveries(t *testing.T) {
	h := apptest.New(t)
	c := h.NewClinic("lakeside", "")
	h.PutGroup(apptest.SampleGroup("mission-morning", 37.7599, -122.4148), "mission-morning")
	body := []byte(nativeReferral)
	var wg sync.WaitGroup
	answers := make([]string, 50)
	statuses := make([]int, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, b := h.ReferAs(c, "msg_flood", "application/json", body)
			statuses[i], answers[i] = st, string(b)
		}()
	}
	wg.Wait()
	for i := range 50 {
		if statuses[i] != http.StatusAccepted || answers[i] != answers[0] {
			t.Fatalf("delivery %d: %d %s (first: %s)", i, statuses[i], answers[i], answers[0])
		}
	}
	h.Settle()
	if n := len(h.MailsTo("ana.intake@example.org")); n != 1 {
		t.Fatalf("%d consent emails, want 1", n)
	}
}
