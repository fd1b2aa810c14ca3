package apptest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// notifications is an EHR's Subscription endpoint.
type notifications struct {
	mu      sync.Mutex
	bundles []map[string]any
	headers []http.Header
	refuse  bool // answer 503 (and keep nothing) while set
	refused int  // notifications refused so far
}

func (n *notifications) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var bundle map[string]any
	_ = json.Unmarshal(b, &bundle)
	n.mu.Lock()
	if n.refuse {
		n.refused++
		n.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	n.bundles = append(n.bundles, bundle)
	n.headers = append(n.headers, r.Header.Clone())
	n.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// types lists the notifications' types, in the order they came.
func (n *notifications) types() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, b := range n.bundles {
		typ, _, _ := notificationOf(b)
		out = append(out, typ)
	}
	return out
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

// handshaken checks a subscription's create (or restart): it is stored as
// requested, its handshake goes out when the dispatcher runs its event,
// and the endpoint's 2xx makes it active. It returns the subscription as
// read then.
func (w *world) handshaken(t *testing.T, tok string, st int, sub map[string]any, wantStatus int) map[string]any {
	t.Helper()
	if st != wantStatus || sub["status"] != "requested" {
		t.Fatalf("create or restart: %d %v, want %d and status requested until the handshake", st, sub, wantStatus)
	}
	w.Settle()
	st, _, read := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+sub["id"].(string), tok, nil, nil)
	if st != http.StatusOK || read["status"] != "active" {
		t.Fatalf("after the handshake: %d %v, want active", st, read)
	}
	return read
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
	created = w.handshaken(t, tok, st, created, http.StatusCreated)
	subID := created["id"].(string)
	if typ, _, _ := notificationOf(ehrEndpoint.bundles[0]); typ != "handshake" || ehrEndpoint.headers[0].Get("Authorization") != "Bearer ehr-side-secret" {
		t.Fatalf("the handshake: %s %v", typ, ehrEndpoint.headers[0])
	}
	if hs := mustString(t, ehrEndpoint.bundles[0]); !strings.Contains(hs, `{"name":"status","valueCode":"requested"}`) {
		t.Errorf("the handshake does not say the subscription is requested: %s", hs)
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
		// A history Bundle's entries carry request and response (bdl-3,
		// bdl-4); the Bundle names the backport's R4 notification profile.
		se, te := entries[0].(map[string]any), entries[1].(map[string]any)
		if req := se["request"].(map[string]any); req["method"] != "GET" || req["url"] != w.Server.URL+"/fhir/Subscription/"+subID+"/$status" ||
			se["response"].(map[string]any)["status"] != "200" || te["request"].(map[string]any)["url"] != "Task/"+id ||
			te["response"] == nil || !strings.Contains(mustString(t, b), `/backport-subscription-notification-r4"`) ||
			!strings.Contains(mustString(t, b), `"name":"timestamp","valueInstant"`) {
			t.Fatalf("a notification's entries: %s", mustString(t, b))
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

// TestFHIRSubscriptionHeartbeats: a subscription with a heartbeat period
// gets a heartbeat only when it has been quiet that long (an event
// notification starts the period again), carrying the count so far; a
// refused heartbeat is retried and posted once; turned off by PUT, it gets
// neither heartbeats nor notifications; turned on again, it shakes hands and
// its heartbeats start anew, one chain only.
func TestFHIRSubscriptionHeartbeats(t *testing.T) {
	w := newWorld(t, "")
	ehr := &notifications{}
	srv := httptest.NewServer(ehr)
	defer srv.Close()
	e := newEHR(t)
	// An access token lives 5 minutes: the clinic asks for a fresh one
	// each time the clock has moved.
	fresh := func() string { return w.fhirToken(t, e, "lakeside", "system/Task.cru system/Subscription.cru") }
	tok := fresh()
	subscription := func(status string, period int) map[string]any {
		return map[string]any{
			"resourceType": "Subscription", "status": status, "reason": "referrals",
			"criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
			"channel": map[string]any{"type": "rest-hook", "endpoint": srv.URL + "/notify", "payload": "application/fhir+json",
				"extension": []any{map[string]any{
					"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period", "valueUnsignedInt": period}}},
		}
	}
	st, _, created := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, subscription("requested", 3600), nil)
	created = w.handshaken(t, tok, st, created, http.StatusCreated)
	if !strings.Contains(mustString(t, created), `"valueUnsignedInt":3600`) {
		t.Fatalf("create: %d %v", st, created)
	}
	subID := created["id"].(string)
	want := func(step string, types ...string) {
		t.Helper()
		if got := ehr.types(); strings.Join(got, ",") != strings.Join(types, ",") {
			t.Fatalf("%s: notifications %v, want %v", step, got, types)
		}
	}
	w.Advance(59 * time.Minute)
	w.Settle()
	want("quiet for less than the period", "handshake")
	w.Advance(2 * time.Minute)
	w.Settle()
	want("quiet for the period", "handshake", "heartbeat")

	// A Task's change is a notification: the next heartbeat waits a whole
	// period after it, and then counts it.
	w.Advance(30 * time.Minute)
	tok = fresh()
	st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("beat@patient.example", "ORD-H"), nil)
	if st != http.StatusCreated {
		t.Fatalf("create a Task: %d %v", st, task)
	}
	w.Settle()
	want("a Task created", "handshake", "heartbeat", "event-notification")
	w.Advance(45 * time.Minute) // an hour and a quarter after the first heartbeat
	w.Settle()
	want("less than a period after the notification", "handshake", "heartbeat", "event-notification")
	w.Advance(20 * time.Minute)
	w.Settle()
	want("a period after the notification", "handshake", "heartbeat", "event-notification", "heartbeat")
	ehr.mu.Lock()
	last := ehr.bundles[len(ehr.bundles)-1]
	ehr.mu.Unlock()
	if s := mustString(t, last); !strings.Contains(s, `"name":"events-since-subscription-start","valueString":"1"`) || strings.Contains(s, "notification-event") || last["type"] != "history" {
		t.Errorf("a heartbeat: %s", s)
	}

	// Refused, retried, posted once.
	ehr.mu.Lock()
	ehr.refuse = true
	ehr.mu.Unlock()
	w.Advance(61 * time.Minute)
	w.Settle()
	ehr.mu.Lock()
	ehr.refuse = false
	ehr.mu.Unlock()
	for range 6 {
		w.Advance(time.Minute)
		w.Settle()
	}
	want("a refused heartbeat retried", "handshake", "heartbeat", "event-notification", "heartbeat", "heartbeat")

	// Off: nothing more, neither heartbeats nor notifications.
	tok = fresh()
	off := subscription("off", 3600)
	off["id"] = subID
	if st, _, got := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+subID, tok, off, nil); st != http.StatusOK || got["status"] != "off" {
		t.Fatalf("turn off: %d %v", st, got)
	}
	w.Advance(3 * time.Hour)
	w.Settle()
	tok = fresh()
	cancel := task
	cancel["status"] = "cancelled"
	if st, _, got := w.fhirCall(t, http.MethodPut, "/fhir/Task/"+task["id"].(string), tok, cancel, nil); st != http.StatusOK {
		t.Fatalf("cancel the Task: %d %v", st, got)
	}
	w.Settle()
	want("turned off", "handshake", "heartbeat", "event-notification", "heartbeat", "heartbeat")
	_, _, status := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+subID+"/$status", tok, nil, nil)
	if s := mustString(t, status); !strings.Contains(s, `"valueCode":"off"`) {
		t.Errorf("$status of a subscription turned off: %s", s)
	}

	// On again: a handshake, then one heartbeat per quiet period.
	on := subscription("requested", 7200)
	on["id"] = subID
	st, _, got := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+subID, tok, on, nil)
	w.handshaken(t, tok, st, got, http.StatusOK)
	w.Advance(2*time.Hour + time.Minute)
	w.Settle()
	w.Advance(2*time.Hour + time.Minute)
	w.Settle()
	want("on again", "handshake", "heartbeat", "event-notification", "heartbeat", "heartbeat", "handshake", "heartbeat", "heartbeat")

	tok = fresh()
	ehr.mu.Lock()
	bundles := make([]any, 0, len(ehr.bundles)+3)
	for _, b := range ehr.bundles {
		bundles = append(bundles, b)
	}
	ehr.mu.Unlock()
	_, _, read := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+subID, tok, nil, nil)
	apptest.ValidateFHIR(t, append(bundles, created, status, read)...)

	// What a PUT may not do.
	w.NewClinic("other", "")
	other := w.fhirToken(t, newEHR(t), "other", "system/Subscription.cru")
	if st, _, _ := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+subID, other, off, nil); st != http.StatusNotFound {
		t.Errorf("another clinic turns it off: %d", st)
	}
	for name, body := range map[string]map[string]any{
		"another id":     func() map[string]any { b := subscription("off", 3600); b["id"] = "01ANOTHER"; return b }(),
		"no id":          subscription("off", 3600),
		"status error":   func() map[string]any { b := subscription("error", 3600); b["id"] = subID; return b }(),
		"a 10 s period":  func() map[string]any { b := subscription("requested", 10); b["id"] = subID; return b }(),
		"a period of -1": func() map[string]any { b := subscription("requested", -1); b["id"] = subID; return b }(),
	} {
		if st, _, oo := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+subID, tok, body, nil); st != http.StatusUnprocessableEntity || oo["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %v", name, st, oo)
		}
	}
	if st, _, _ := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, subscription("requested", 10), nil); st != http.StatusUnprocessableEntity {
		t.Errorf("create with a 10 s heartbeat: %d", st)
	}
	filtered := subscription("requested", 3600)
	filtered["_criteria"] = map[string]any{"extension": []any{map[string]any{
		"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria", "valueString": "Task?status=completed"}}}
	if st, _, oo := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, filtered, nil); st != http.StatusUnprocessableEntity || !strings.Contains(mustString(t, oo), "filters are not supported") {
		t.Errorf("a filtered subscription: %d %v", st, oo)
	}
	want("after the refused changes", "handshake", "heartbeat", "event-notification", "heartbeat", "heartbeat", "handshake", "heartbeat", "heartbeat")
}

// TestFHIRSubscriptionNumbers: while the EHR's endpoint refuses, three Tasks
// change and every notification is retried; once it answers, each event
// arrives with the number it was first given — 1, 2, 3, no gap, none
// numbered twice — and $status counts 3. Another clinic's token, a token
// that may not read Tasks asking for full-resource, other resource types and
// methods a route does not take are OperationOutcomes.
func TestFHIRSubscriptionNumbers(t *testing.T) {
	w := newWorld(t, "")
	ehr := &notifications{}
	srv := httptest.NewServer(ehr)
	defer srv.Close()
	e := newEHR(t)
	tok := w.fhirToken(t, e, "lakeside", "system/Task.cru system/Subscription.cru")
	sub := map[string]any{"resourceType": "Subscription", "status": "requested", "reason": "referrals",
		"criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
		"channel":  map[string]any{"type": "rest-hook", "endpoint": srv.URL, "payload": "application/fhir+json"}}
	st, _, created := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, sub, nil)
	created = w.handshaken(t, tok, st, created, http.StatusCreated)
	ehr.mu.Lock()
	ehr.refuse = true
	ehr.mu.Unlock()
	tasks := map[string]bool{}
	for i := range 3 {
		st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask(fmt.Sprintf("num%d@patient.example", i), fmt.Sprintf("ORD-N%d", i)), nil)
		if st != http.StatusCreated {
			t.Fatalf("Task %d: %d %v", i, st, task)
		}
		tasks[task["id"].(string)] = true
		w.Settle()
		w.Advance(3 * time.Second)
		w.Settle()
	}
	ehr.mu.Lock()
	ehr.refuse = false
	if ehr.refused < 4 {
		t.Fatalf("%d notifications refused: the events were not retried while others were numbered", ehr.refused)
	}
	ehr.mu.Unlock()
	for range 12 {
		w.Advance(30 * time.Second)
		w.Settle()
	}
	numbers := map[string]string{}
	ehr.mu.Lock()
	for _, b := range ehr.bundles[1:] {
		typ, n, focus := notificationOf(b)
		if typ != "event-notification" {
			t.Errorf("a %s among the notifications", typ)
			continue
		}
		if _, again := numbers[n]; again {
			t.Errorf("event number %s came twice", n)
		}
		numbers[n] = focus[strings.LastIndex(focus, "/")+1:]
	}
	ehr.mu.Unlock()
	if len(numbers) != 3 || numbers["1"] == "" || numbers["2"] == "" || numbers["3"] == "" {
		t.Fatalf("event numbers %v, want 1, 2 and 3", numbers)
	}
	for _, task := range numbers {
		if !tasks[task] {
			t.Errorf("a notification about %s, not one of the Tasks", task)
		}
	}
	tok = w.fhirToken(t, e, "lakeside", "system/Task.cru system/Subscription.cru")
	_, _, status := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+created["id"].(string)+"/$status", tok, nil, nil)
	if s := mustString(t, status); !strings.Contains(s, `"name":"events-since-subscription-start","valueString":"3"`) {
		t.Errorf("$status after three events: %s", s)
	}
	// $status by POST, as FHIR clients call operations.
	if st, _, b := w.fhirCall(t, http.MethodPost, "/fhir/Subscription/"+created["id"].(string)+"/$status", tok, map[string]any{"resourceType": "Parameters"}, nil); st != http.StatusOK || b["type"] != "searchset" {
		t.Errorf("POST $status: %d %v", st, b)
	}

	// Full-resource notifications carry the Task: a token that may not read
	// Tasks may not ask for them.
	onlySubs := w.fhirToken(t, e, "lakeside", "system/Subscription.cru")
	// (Another endpoint: one subscription per endpoint.)
	full := map[string]any{"resourceType": "Subscription", "status": "requested", "criteria": sub["criteria"],
		"channel": map[string]any{"type": "rest-hook", "endpoint": srv.URL + "/full", "payload": "application/fhir+json",
			"_payload": map[string]any{"extension": []any{map[string]any{
				"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content", "valueCode": "full-resource"}}}}}
	if st, _, oo := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", onlySubs, full, nil); st != http.StatusForbidden || oo["resourceType"] != "OperationOutcome" {
		t.Errorf("full-resource without a Task scope: %d %v", st, oo)
	}
	// Any scope that reads Tasks will do, SMART v2 letters included.
	if st, _, got := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", w.fhirToken(t, e, "lakeside", "system/Subscription.cru system/Task.r"), full, nil); st != http.StatusCreated {
		t.Errorf("full-resource with system/Task.r: %d %v", st, got)
	}
	// Under /fhir, every refusal is an OperationOutcome.
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/fhir/Patient/1", http.StatusNotFound},
		{http.MethodDelete, "/fhir/Task/" + numbers["1"], http.StatusMethodNotAllowed},
		{http.MethodDelete, "/fhir/Subscription/" + created["id"].(string), http.StatusMethodNotAllowed},
	} {
		st, hd, oo := w.fhirCall(t, c.method, c.path, tok, nil, nil)
		if st != c.want || oo["resourceType"] != "OperationOutcome" || !strings.HasPrefix(hd.Get("Content-Type"), "application/fhir+json") {
			t.Errorf("%s %s: %d %s %v", c.method, c.path, st, hd.Get("Content-Type"), oo)
		}
		if c.want == http.StatusMethodNotAllowed && hd.Get("Allow") == "" {
			t.Errorf("%s %s: a 405 without Allow", c.method, c.path)
		}
	}
}
