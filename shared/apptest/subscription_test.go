package apptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// notifications is an EHR's Subscription endpoint.
type notifications struct {
	mu      sync.Mutex
	bundles []map[string]any
	headers []http.Header
}

func (n *notifications) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var bundle map[string]any
	_ = json.Unmarshal(b, &bundle)
	n.mu.Lock()
	n.bundles = append(n.bundles, bundle)
	n.headers = append(n.headers, r.Header.Clone())
	n.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// notificationOf reads a notification's SubscriptionStatus: type, event number
// and the Task it is about.
func notificationOf(b map[string]any) (typ, number, focus string) {
	entries, _ := b["entry"].([]any)
	if len(entries) == 0 {
		return
	}
	params, _ := entries[0].(map[string]any)["resource"].(map[string]any)
	for _, p := range params["parameter"].([]any) {
		pm := p.(map[string]any)
		switch pm["name"] {
		case "type":
			typ, _ = pm["valueCode"].(string)
		case "notification-event":
			for _, part := range pm["part"].([]any) {
				pp := part.(map[string]any)
				if pp["name"] == "event-number" {
					number, _ = pp["valueString"].(string)
				}
				if pp["name"] == "focus" {
					focus, _ = pp["valueReference"].(map[string]any)["reference"].(string)
				}
			}
		}
	}
	return
}

// TestFHIRSubscription: an EHR subscribes (full-resource, with its own
// header), gets the handshake, then one history Bundle per change of its
// Task, in order and numbered, each with the SubscriptionStatus first and
// the Task as it now is; $status counts them; another clinic sees nothing.
func TestFHIRSubscription(t *testing.T) {
	w := newWorld(t, "")
	ehrEndpoint := &notifications{}
	srv := httptest.NewServer(ehrEndpoint)
	defer srv.Close()
	e := newEHR(t)
	tok := w.fhirToken(t, e, "lakeside", "system/Task.cru system/Task.rs system/Subscription.cru")
	sub := map[string]any{
		"resourceType": "Subscription", "status": "requested", "reason": "referrals",
		"criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
		"channel": map[string]any{"type": "rest-hook", "endpoint": srv.URL + "/notify", "payload": "application/fhir+json",
			"header": []string{"Authorization: Bearer ehr-side-secret"},
			"_payload": map[string]any{"extension": []any{map[string]any{
				"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content", "valueCode": "full-resource"}}}},
	}
	st, _, created := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, sub, nil)
	if st != http.StatusCreated || created["status"] != "active" {
		t.Fatalf("create: %d %v", st, created)
	}
	subID := created["id"].(string)
	if typ, _, _ := notificationOf(ehrEndpoint.bundles[0]); typ != "handshake" || ehrEndpoint.headers[0].Get("Authorization") != "Bearer ehr-side-secret" {
		t.Fatalf("the handshake: %s %v", typ, ehrEndpoint.headers[0])
	}

	_, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("sub@patient.example", "ORD-S"), nil)
	id := task["id"].(string)
	w.Settle()
	w.confirm(t, w.Link(w.MailsTo("sub@patient.example")[0], "c"), "introduce", "mission-a")
	g := w.groupLink(t, w.groups[0], 1)
	w.answer(t, g, url.Values{"action": {"accept"}})
	w.answer(t, g, url.Values{"action": {"connected"}})

	ehrEndpoint.mu.Lock()
	events := ehrEndpoint.bundles[1:]
	ehrEndpoint.mu.Unlock()
	var statuses, numbers []string
	for _, b := range events {
		typ, n, focus := notificationOf(b)
		if b["type"] != "history" || typ != "event-notification" || !strings.HasSuffix(focus, "/fhir/Task/"+id) {
			t.Fatalf("a notification: %v", b)
		}
		entries := b["entry"].([]any)
		if len(entries) != 2 {
			t.Fatalf("a full-resource notification with %d entries", len(entries))
		}
		statuses = append(statuses, entries[1].(map[string]any)["resource"].(map[string]any)["status"].(string))
		numbers = append(numbers, n)
	}
	// awaiting-consent, consented, routed, accepted, connected.
	if strings.Join(statuses, ",") != "requested,accepted,accepted,in-progress,completed" {
		t.Errorf("notified statuses %v", statuses)
	}
	if strings.Join(numbers, ",") != "1,2,3,4,5" {
		t.Errorf("event numbers %v, want 1 to 5 in order", numbers)
	}
	_, _, status := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+subID+"/$status", tok, nil, nil)
	ehrEndpoint.mu.Lock()
	valid := []any{created, status}
	for _, b := range ehrEndpoint.bundles {
		valid = append(valid, b)
	}
	ehrEndpoint.mu.Unlock()
	apptest.ValidateFHIR(t, valid...)
	if !strings.Contains(mustString(t, status), `"valueString":"5"`) {
		t.Errorf("$status: %v", status)
	}
	// Another clinic's token, and a token without the scope.
	w.NewClinic("other", "")
	other := w.fhirToken(t, newEHR(t), "other", "system/Subscription.cru")
	if st, _, _ := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+subID, other, nil, nil); st != http.StatusNotFound {
		t.Errorf("another clinic reads the subscription: %d", st)
	}
	if st, _, _ := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", w.fhirToken(t, e, "lakeside", "system/Task.rs"), sub, nil); st != http.StatusForbidden {
		t.Errorf("a token without the Subscription scope: %d", st)
	}
	bad := map[string]any{"resourceType": "Subscription", "criteria": "Task?status=completed", "channel": map[string]any{"type": "rest-hook", "endpoint": srv.URL}}
	if st, _, oo := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, bad, nil); st != http.StatusUnprocessableEntity || oo["resourceType"] != "OperationOutcome" {
		t.Errorf("an R4 criteria string: %d %v", st, oo)
	}
	// The EHR's header is sealed at rest.
	if strings.Contains(w.Logs.String(), "ehr-side-secret") {
		t.Error("a log line holds the subscription's header")
	}
	if strings.Contains(dynamotest.Dump(t, w.DB, w.DB.Tables.Directory), "ehr-side-secret") {
		t.Error("the subscription's header is stored in the clear")
	}
}
