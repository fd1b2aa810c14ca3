package apptest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/truora/minidyn/server"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// gravityTask is a Task of the Gravity SDOH referral profile with its
// ServiceRequest, Patient and Practitioner contained, and a clinical note
// that must never be kept.
func gravityTask(email, identifier string) map[string]any {
	return map[string]any{
		"resourceType": "Task", "status": "requested", "intent": "order",
		"code":       map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}}},
		"identifier": []any{map[string]any{"system": "urn:ehr:orders", "value": identifier}},
		"focus":      map[string]any{"reference": "#sr"}, "for": map[string]any{"reference": "#pat"},
		"requester": map[string]any{"reference": "#dr"},
		"note":      []any{map[string]any{"text": "Drinks daily since the divorce; NoteSecretXyz"}},
		"contained": []any{
			map[string]any{"resourceType": "ServiceRequest", "id": "sr", "status": "active", "intent": "order",
				"subject":    map[string]any{"reference": "#pat"},
				"reasonCode": []any{map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}}}},
				"note":       []any{map[string]any{"text": "NoteSecretXyz"}}},
			map[string]any{"resourceType": "Patient", "id": "pat", "name": []any{map[string]any{"given": []string{"Rosa"}, "family": "Quintana"}},
				"telecom": []any{map[string]any{"system": "email", "value": email}},
				"address": []any{map[string]any{"postalCode": "94110", "country": "US"}}},
			map[string]any{"resourceType": "Practitioner", "id": "dr", "name": []any{map[string]any{"given": []string{"Jan"}, "family": "Rivera"}},
				"telecom": []any{map[string]any{"system": "email", "value": "rivera@clinic.example"}}},
		},
	}
}

// fhirCall calls the FHIR API with an access token.
func (w *world) fhirCall(t *testing.T, method, path, token string, body any, extra http.Header) (int, http.Header, map[string]any) {
	t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	hd := http.Header{"Content-Type": {"application/fhir+json"}}
	if token != "" {
		hd.Set("Authorization", "Bearer "+token)
	}
	for k, v := range extra {
		hd[k] = v
	}
	st, rh, b := w.Do(method, path, raw, hd)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return st, rh, out
}

// fhirToken registers the EHR's keys for a clinic and gets a token.
func (w *world) fhirToken(t *testing.T, e *ehr, clinic, scope string) string {
	t.Helper()
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/"+clinic+"/fhir-client", map[string]any{"jwks": json.RawMessage(e.jwks())}); st != http.StatusOK {
		t.Fatalf("register keys: %d %s", st, b)
	}
	st, out := tokenRequest(w.Harness, tokenForm(e.assertion(t, jose.ES384, "ec-1", claimsFor(clinic, w.Server.URL+"/oauth/token", w.Now()), nil), scope))
	if st != http.StatusOK {
		t.Fatalf("token: %d %v", st, out)
	}
	return out["access_token"].(string)
}

// TestFHIRTaskLife: an EHR with a SMART token creates a Task (contained, and
// a transaction Bundle), follows it through consent, the group's accept and
// the connection, and cancels another; another clinic's token sees none of
// them; the clinical note and codes are kept nowhere.
func TestFHIRTaskLife(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	e := newEHR(t)
	tok := w.fhirToken(t, e, "lakeside", "system/Task.cru system/Task.rs")

	st, hd, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("rosa@patient.example", "ORD-1"), nil)
	if st != http.StatusCreated || task["resourceType"] != "Task" || task["status"] != "requested" || !strings.Contains(hd.Get("Location"), "/fhir/Task/") {
		t.Fatalf("create: %d %v %s", st, task, hd.Get("Location"))
	}
	id := task["id"].(string)
	// The referral profile's references, without what handoff does not keep.
	if task["focus"].(map[string]any)["type"] != "ServiceRequest" || task["for"].(map[string]any)["type"] != "Patient" ||
		task["requester"].(map[string]any)["identifier"].(map[string]any)["value"] != "lakeside" || task["owner"] == nil {
		t.Errorf("the Task's focus, for, requester and owner: %v %v %v %v", task["focus"], task["for"], task["requester"], task["owner"])
	}
	// A conditional create finds a Task made without one: the same Task, 200.
	st, _, same := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("rosa3@patient.example", "ORD-1"), http.Header{"If-None-Exist": {"identifier=urn:ehr:orders|ORD-1"}})
	if st != http.StatusOK || same["id"] != id {
		t.Errorf("a conditional create of a Task made before: %d, id %v want %v", st, same["id"], id)
	}
	// A new identifier: a new Task, 201; again: that Task, 200.
	st, _, again := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("rosa2@patient.example", "ORD-4"), http.Header{"If-None-Exist": {"identifier=urn:ehr:orders|ORD-4"}})
	if st != http.StatusCreated {
		t.Fatalf("a first conditional create: %d", st)
	}
	if st, _, same := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("rosa2@patient.example", "ORD-4"), http.Header{"If-None-Exist": {"identifier=urn:ehr:orders|ORD-4"}}); st != http.StatusOK || same["id"] != again["id"] {
		t.Errorf("the conditional create repeated: %d, id %v want %v", st, same["id"], again["id"])
	}
	w.Settle()
	mails := w.MailsTo("rosa@patient.example")
	if len(mails) != 1 || len(w.MailsTo("rosa2@patient.example")) != 1 || len(w.MailsTo("rosa3@patient.example")) != 0 {
		t.Fatalf("%d consent emails, want 1 per Task", len(mails))
	}
	link := w.Link(mails[0], "c")
	w.confirm(t, link, "introduce", "mission-a")
	if _, _, got := w.fhirCall(t, http.MethodGet, "/fhir/Task/"+id, tok, nil, nil); got["status"] != "accepted" {
		t.Errorf("after consent: %v", got["status"])
	}
	g := w.groupLink(t, w.groups[0], 1)
	w.answer(t, g, url.Values{"action": {"accept"}})
	if _, _, got := w.fhirCall(t, http.MethodGet, "/fhir/Task/"+id, tok, nil, nil); got["status"] != "in-progress" {
		t.Errorf("after the group accepted: %v", got["status"])
	}
	w.answer(t, g, url.Values{"action": {"connected"}})
	_, hd, done := w.fhirCall(t, http.MethodGet, "/fhir/Task/"+id, tok, nil, nil)
	if meta := done["meta"].(map[string]any); hd.Get("ETag") != `W/"`+meta["versionId"].(string)+`"` || hd.Get("Last-Modified") == "" {
		t.Errorf("a read's ETag %q and Last-Modified %q, version %v", hd.Get("ETag"), hd.Get("Last-Modified"), meta["versionId"])
	}
	if done["status"] != "completed" || done["output"] == nil {
		t.Errorf("after the connection: %v", done)
	}

	// A transaction Bundle.
	bundleTask := gravityTask("bundle@patient.example", "ORD-2")
	contained := bundleTask["contained"].([]any)
	delete(bundleTask, "contained")
	bundleTask["focus"] = map[string]any{"reference": "urn:uuid:sr-1"}
	bundleTask["for"] = map[string]any{"reference": "urn:uuid:pat-1"}
	bundleTask["requester"] = map[string]any{"reference": "urn:uuid:dr-1"}
	sr, pat, dr := contained[0].(map[string]any), contained[1].(map[string]any), contained[2].(map[string]any)
	sr["subject"] = map[string]any{"reference": "urn:uuid:pat-1"}
	sr["requester"] = map[string]any{"reference": "urn:uuid:dr-1"}
	entry := func(full string, res map[string]any) map[string]any {
		delete(res, "id")
		return map[string]any{"fullUrl": full, "resource": res, "request": map[string]any{"method": "POST", "url": res["resourceType"]}}
	}
	bundle := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		entry("urn:uuid:task-1", bundleTask), entry("urn:uuid:sr-1", sr), entry("urn:uuid:pat-1", pat), entry("urn:uuid:dr-1", dr)}}
	st, _, resp := w.fhirCall(t, http.MethodPost, "/fhir", tok, bundle, nil)
	if st != http.StatusOK || resp["type"] != "transaction-response" || !strings.Contains(mustString(t, resp), `"status":"201 Created"`) {
		t.Fatalf("transaction: %d %v", st, resp)
	}
	bid := resp["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
	w.Settle()
	if n := len(w.MailsTo("bundle@patient.example")); n != 1 {
		t.Errorf("the Bundle's patient got %d consent emails", n)
	}

	// Cancel by the requester.
	st, _, cancelled := w.fhirCall(t, http.MethodPut, "/fhir/Task/"+bid, tok, map[string]any{"resourceType": "Task", "id": bid, "status": "cancelled"}, nil)
	if st != http.StatusOK || cancelled["status"] != "cancelled" || cancelled["statusReason"] == nil {
		t.Errorf("cancel: %d %v", st, cancelled)
	}

	// Search: every Task of the clinic, two a page; by status.
	since := "ge" + w.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	found := map[string]bool{}
	next := "/fhir/Task?_count=2&_lastUpdated=" + url.QueryEscape(since)
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("the search does not end")
		}
		st, _, b := w.fhirCall(t, http.MethodGet, next, tok, nil, nil)
		if st != http.StatusOK || b["type"] != "searchset" {
			t.Fatalf("search: %d %v", st, b)
		}
		entries, _ := b["entry"].([]any)
		if len(entries) > 2 {
			t.Errorf("a page of %d, want at most 2", len(entries))
		}
		for _, e := range entries {
			found[e.(map[string]any)["resource"].(map[string]any)["id"].(string)] = true
		}
		next = ""
		for _, l := range b["link"].([]any) {
			if l.(map[string]any)["relation"] == "next" {
				next = strings.TrimPrefix(l.(map[string]any)["url"].(string), w.Server.URL)
			}
		}
	}
	if len(found) != 3 || !found[id] || !found[bid] || !found[again["id"].(string)] {
		t.Errorf("the search found %v, want the 3 Tasks", found)
	}
	for status, want := range map[string]string{"completed": id, "cancelled": bid} {
		_, _, b := w.fhirCall(t, http.MethodGet, "/fhir/Task?status="+status+"&_lastUpdated="+url.QueryEscape(since), tok, nil, nil)
		entries, _ := b["entry"].([]any)
		if len(entries) != 1 || entries[0].(map[string]any)["resource"].(map[string]any)["id"] != want {
			t.Errorf("status=%s: %v", status, b["entry"])
		}
	}
	if st, _, oo := w.fhirCall(t, http.MethodGet, "/fhir/Task?subject=Patient/1", tok, nil, nil); st != http.StatusUnprocessableEntity || oo["resourceType"] != "OperationOutcome" {
		t.Errorf("an unsupported search parameter: %d %v", st, oo)
	}

	// Everything the API answered is valid FHIR R4.
	_, _, cs := w.fhirCall(t, http.MethodGet, "/fhir/metadata", "", nil, nil)
	_, _, searched := w.fhirCall(t, http.MethodGet, "/fhir/Task?_lastUpdated="+url.QueryEscape(since), tok, nil, nil)
	_, _, oo := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, map[string]any{"resourceType": "Patient"}, nil)
	apptest.ValidateFHIR(t, task, same, done, resp, cancelled, cs, searched, oo)

	// Another clinic's token sees nothing of lakeside's.
	w.NewClinic("other", "")
	other := w.fhirToken(t, newEHR(t), "other", "system/Task.cru system/Task.rs")
	if _, _, b := w.fhirCall(t, http.MethodGet, "/fhir/Task?_lastUpdated="+url.QueryEscape(since), other, nil, nil); b["entry"] != nil && len(b["entry"].([]any)) != 0 {
		t.Errorf("another clinic's search found %v", b["entry"])
	}
	for _, c := range []struct{ method, path string }{{"GET", "/fhir/Task/" + id}, {"PUT", "/fhir/Task/" + id}} {
		if st, _, oo := w.fhirCall(t, c.method, c.path, other, map[string]any{"resourceType": "Task", "status": "cancelled"}, nil); st != http.StatusNotFound || oo["resourceType"] != "OperationOutcome" {
			t.Errorf("%s %s with another clinic's token: %d %v", c.method, c.path, st, oo)
		}
	}
	// Refusals, as OperationOutcome.
	readOnly := w.fhirToken(t, e, "lakeside", "system/Task.rs")
	abs := gravityTask("abs@patient.example", "ORD-3")
	abs["focus"] = map[string]any{"reference": "https://ehr.example/fhir/ServiceRequest/123"}
	for _, c := range []struct {
		name, token string
		body        any
		status      int
		challenge   string // WWW-Authenticate (RFC 6750 §3)
	}{
		{"no token", "", gravityTask("x@patient.example", "X"), http.StatusUnauthorized, `Bearer realm="handoff"`},
		{"a forged token", "hat_e30.AAAA", gravityTask("x@patient.example", "X"), http.StatusUnauthorized, `Bearer realm="handoff", error="invalid_token"`},
		{"a read-only token", readOnly, gravityTask("x@patient.example", "X"), http.StatusForbidden, `Bearer realm="handoff", error="insufficient_scope"`},
		{"a reference to another server", tok, abs, http.StatusUnprocessableEntity, ""},
		{"not a Task", tok, map[string]any{"resourceType": "Patient"}, http.StatusUnprocessableEntity, ""},
		{"status draft", tok, func() map[string]any { t := gravityTask("x@patient.example", "X"); t["status"] = "draft"; return t }(), http.StatusUnprocessableEntity, ""},
	} {
		st, hd, oo := w.fhirCall(t, http.MethodPost, "/fhir/Task", c.token, c.body, nil)
		if st != c.status || oo["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %v, want %d and an OperationOutcome", c.name, st, oo, c.status)
		}
		if got := hd.Get("WWW-Authenticate"); got != c.challenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, got, c.challenge)
		}
	}
	// What a create and a read cost in DynamoDB calls.
	metered := dynamotest.Client(w.DB.URL, w.DB.Counter.Middleware())
	w.App.Referrals.DB, w.App.Clinics.DB = metered, metered
	for _, step := range []struct {
		name, method, path string
		body               any
	}{
		{"create", http.MethodPost, "/fhir/Task", gravityTask("cost@patient.example", "ORD-9")},
		{"read", http.MethodGet, "/fhir/Task/" + id, nil},
		{"search (a page of up to 20)", http.MethodGet, "/fhir/Task?_count=20&_lastUpdated=" + url.QueryEscape(since), nil},
	} {
		w.DB.Counter.Reset()
		if st, _, _ := w.fhirCall(t, step.method, step.path, tok, step.body, nil); st >= 300 {
			t.Fatalf("%s: %d", step.name, st)
		}
		var calls []string
		items := 0
		for _, c := range w.DB.Counter.Snapshot() {
			calls = append(calls, fmt.Sprintf("%s %d", c.Operation, c.Calls))
			items += c.Items
		}
		t.Logf("a Task %s: %s; %d items read", step.name, strings.Join(calls, ", "), items)
		// A plain create writes once and reads nothing back: its answer is
		// the referral as written.
		if got := strings.Join(calls, ", "); step.name == "create" && got != "TransactWriteItems 1" {
			t.Errorf("a Task create made %s, want one TransactWriteItems", got)
		}
	}
	if st, _, cs := w.fhirCall(t, http.MethodGet, "/fhir/metadata", "", nil, nil); st != http.StatusOK || cs["resourceType"] != "CapabilityStatement" {
		t.Errorf("metadata: %d %v", st, cs)
	}

	// The note and the codes are kept nowhere and read back nowhere.
	all := dynamotest.Dump(t, w.DB, w.DB.Tables.Referrals) + w.Logs.String() + mustString(t, done)
	for _, m := range w.Mails() {
		all += m.Body.Text + m.Body.HTML + m.Subject
	}
	for _, s := range []string{"NoteSecretXyz", "divorce", "F10.20", "F1020", "Quintana"} {
		if strings.Contains(all, s) {
			t.Errorf("%q is kept or sent", s)
		}
	}
}

func mustString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFHIRDependencyDown: when the table fails, a FHIR call is a 503
// OperationOutcome with Retry-After, as every other route's 503 is.
func TestFHIRDependencyDown(t *testing.T) {
	w := newWorld(t, "")
	tok := w.fhirToken(t, newEHR(t), "lakeside", "system/Task.cru")
	w.DB.Server.EmulateFailure(server.FailureConditionInternalServerError) // (it fails writes)
	t.Cleanup(func() { w.DB.Server.EmulateFailure(server.FailureConditionNone) })
	st, hd, oo := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("down@patient.example", "ORD-D"), nil)
	if st != http.StatusServiceUnavailable || oo["resourceType"] != "OperationOutcome" || hd.Get("Retry-After") == "" {
		t.Errorf("the table failing: %d %v, Retry-After %q", st, oo, hd.Get("Retry-After"))
	}
	if issue := oo["issue"].([]any)[0].(map[string]any); issue["code"] != "transient" {
		t.Errorf("the issue's code %v, want transient", issue["code"])
	}
}
