package apptest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// gravityBundle is a transaction Bundle of a Gravity referral: the Task,
// ServiceRequest, Patient and Practitioner, with fresh urn:uuid fullUrls
// (tag makes them differ per retry), the Task's entry carrying ifNoneExist
// when it is not empty.
func gravityBundle(email, identifier, tag, ifNoneExist string) map[string]any {
	task := gravityTask(email, identifier)
	contained := task["contained"].([]any)
	delete(task, "contained")
	u := func(kind string) string { return "urn:uuid:" + kind + "-" + tag }
	task["focus"] = map[string]any{"reference": u("sr")}
	task["for"] = map[string]any{"reference": u("pat")}
	task["requester"] = map[string]any{"reference": u("dr")}
	sr, pat, dr := contained[0].(map[string]any), contained[1].(map[string]any), contained[2].(map[string]any)
	sr["subject"] = map[string]any{"reference": u("pat")}
	sr["requester"] = map[string]any{"reference": u("dr")}
	entry := func(full string, res map[string]any) map[string]any {
		delete(res, "id")
		return map[string]any{"fullUrl": full, "resource": res, "request": map[string]any{"method": "POST", "url": res["resourceType"]}}
	}
	taskEntry := entry(u("task"), task)
	if ifNoneExist != "" {
		taskEntry["request"].(map[string]any)["ifNoneExist"] = ifNoneExist
	}
	return map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		entry(u("pat"), pat), taskEntry, entry(u("sr"), sr), entry(u("dr"), dr)}}
}

// callCounts says what the last metered request cost in DynamoDB calls.
func callCounts(w *world) string {
	var calls []string
	for _, c := range w.DB.Counter.Snapshot() {
		calls = append(calls, fmt.Sprintf("%s %d", c.Operation, c.Calls))
	}
	return strings.Join(calls, ", ")
}

// TestFHIRConditionalCreate: If-None-Exist (and a transaction entry's
// request.ifNoneExist) is a search of the clinic's Tasks by identifier: no
// match creates, one match answers it with 200 and makes no referral,
// several give 412; a retried transaction with fresh fullUrls finds its Task;
// two racing creates make one Task; the index expires with the referral, and
// the transaction-response answers every entry in order.
func TestFHIRConditionalCreate(t *testing.T) {
	w := newWorld(t, "", func(c *config.Config) { c.Retention = 30 * 24 * time.Hour })
	tok := w.fhirToken(t, newEHR(t), "lakeside", "system/Task.cru system/Task.rs")
	cond := func(ident string) http.Header { return http.Header{"If-None-Exist": {"identifier=" + ident}} }

	// A transaction with request.ifNoneExist, then its retry with fresh fullUrls.
	st, _, first := w.fhirCall(t, http.MethodPost, "/fhir", tok, gravityBundle("tx@patient.example", "ORD-5", "a1", "identifier=urn:ehr:orders|ORD-5"), nil)
	entries, _ := first["entry"].([]any)
	if st != http.StatusOK || first["type"] != "transaction-response" || len(entries) != 4 {
		t.Fatalf("transaction: %d, %d entries, want 4: %v", st, len(entries), first)
	}
	response := func(i int, b map[string]any) map[string]any {
		return b["entry"].([]any)[i].(map[string]any)["response"].(map[string]any)
	}
	taskEntry := entries[1].(map[string]any)
	txID, _ := taskEntry["resource"].(map[string]any)["id"].(string)
	if r := response(1, first); r["status"] != "201 Created" || r["location"] != "Task/"+txID || txID == "" {
		t.Errorf("the Task's entry: %v", r)
	}
	for i, kind := range map[int]string{0: "Patient", 2: "ServiceRequest", 3: "Practitioner"} {
		r := response(i, first)
		if r["status"] != "200 OK" || !strings.Contains(mustString(t, r["outcome"]), "does not keep the "+kind) {
			t.Errorf("the %s's entry: %v", kind, r)
		}
	}
	st, _, retried := w.fhirCall(t, http.MethodPost, "/fhir", tok, gravityBundle("tx@patient.example", "ORD-5", "b2", "identifier=urn:ehr:orders|ORD-5"), nil)
	if st != http.StatusOK || len(retried["entry"].([]any)) != 4 || response(1, retried)["status"] != "200 OK" || response(1, retried)["location"] != "Task/"+txID {
		t.Errorf("the retried transaction: %d %v", st, retried)
	}
	// A Task posted without a condition is found by a later one.
	st, _, plain := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("plain@patient.example", "ORD-6"), nil)
	if st != http.StatusCreated {
		t.Fatalf("plain create: %d %v", st, plain)
	}
	st, _, found := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("plain2@patient.example", "ORD-6"), cond("urn:ehr:orders|ORD-6"))
	if st != http.StatusOK || found["id"] != plain["id"] {
		t.Errorf("a conditional create of a plain Task: %d %v, want 200 and %v", st, found["id"], plain["id"])
	}
	// The same value in another system is another identifier.
	otherSystem := gravityTask("sys@patient.example", "ORD-6")
	otherSystem["identifier"] = []any{map[string]any{"system": "urn:ehr:other", "value": "ORD-6"}}
	if st, _, other := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, otherSystem, cond("urn:ehr:other|ORD-6")); st != http.StatusCreated || other["id"] == plain["id"] {
		t.Errorf("another system: %d", st)
	}
	// Two plain Tasks with one identifier: a conditional create cannot choose.
	for _, email := range []string{"dup1@patient.example", "dup2@patient.example"} {
		if st, _, _ := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask(email, "ORD-7"), nil); st != http.StatusCreated {
			t.Fatalf("plain create: %d", st)
		}
	}
	st, _, multiple := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("dup3@patient.example", "ORD-7"), cond("urn:ehr:orders|ORD-7"))
	if st != http.StatusPreconditionFailed || multiple["resourceType"] != "OperationOutcome" {
		t.Errorf("several matches: %d %v", st, multiple)
	}
	// What handoff does not search says so.
	for _, c := range []string{"identifier=ORD-8", "status=requested", "identifier=urn:ehr:orders|ORD-8&status=requested", "identifier=urn:ehr:orders|"} {
		st, _, oo := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("bad@patient.example", "ORD-8"), http.Header{"If-None-Exist": {c}})
		if st != http.StatusUnprocessableEntity || !strings.Contains(mustString(t, oo), "identifier=") {
			t.Errorf("If-None-Exist: %s: %d %v", c, st, oo)
		}
	}

	// Racing conditional creates of one identifier make one Task.
	var mu sync.Mutex
	var wg sync.WaitGroup
	statuses, ids := map[int]int{}, map[string]bool{}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask(fmt.Sprintf("race%d@patient.example", i), "ORD-9"), cond("urn:ehr:orders|ORD-9"))
			mu.Lock()
			defer mu.Unlock()
			statuses[st]++
			if id, ok := task["id"].(string); ok {
				ids[id] = true
			}
		}()
	}
	wg.Wait()
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusOK] != 3 || len(ids) != 1 {
		t.Errorf("racing conditional creates: statuses %v, %d Tasks, want one 201, three 200 and one Task", statuses, len(ids))
	}
	w.Settle()
	for _, c := range []struct {
		email string
		want  int
	}{{"tx@patient.example", 1}, {"plain2@patient.example", 0}, {"dup3@patient.example", 0}, {"bad@patient.example", 0}} {
		if n := len(w.MailsTo(c.email)); n != c.want {
			t.Errorf("%s got %d consent emails, want %d", c.email, n, c.want)
		}
	}
	race := 0
	for i := range 4 {
		race += len(w.MailsTo(fmt.Sprintf("race%d@patient.example", i)))
	}
	if race != 1 {
		t.Errorf("the racing creates sent %d consent emails, want 1", race)
	}
	apptest.ValidateFHIR(t, first, retried, found, multiple)

	// What a conditional create costs: a hit, a miss.
	metered := dynamotest.Client(w.DB.URL, w.DB.Counter.Middleware())
	w.App.Referrals.DB, w.App.Clinics.DB = metered, metered
	for _, c := range []struct{ name, ident string }{{"miss (a new Task)", "ORD-10"}, {"hit", "ORD-10"}} {
		w.DB.Counter.Reset()
		st, _, _ := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("cost@patient.example", c.ident), cond("urn:ehr:orders|"+c.ident))
		t.Logf("a conditional create, %s: %d; %s", c.name, st, callCounts(w))
	}

	// The index expires with the referral: after the Task is cancelled and
	// the retention has passed, the identifier makes a new Task.
	if st, _, _ := w.fhirCall(t, http.MethodPut, "/fhir/Task/"+plain["id"].(string), tok, map[string]any{"resourceType": "Task", "status": "cancelled"}, nil); st != http.StatusOK {
		t.Fatalf("cancel: %d", st)
	}
	w.Settle()
	indexed := 0
	for _, item := range dynamotest.Scan(t, w.DB, w.DB.Tables.Referrals) {
		pk := item["PK"].(*types.AttributeValueMemberS).Value
		sk := item["SK"].(*types.AttributeValueMemberS).Value
		if strings.HasPrefix(pk, "TASKID#") && sk == "TASK#"+plain["id"].(string) || pk == "REF#"+plain["id"].(string) && strings.HasPrefix(sk, "TASKID#") {
			indexed++
			if _, ok := item["expires_at"]; !ok {
				t.Errorf("%s %s has no TTL after the referral closed", pk, sk)
			}
		}
	}
	if indexed != 2 {
		t.Errorf("%d index items of the cancelled Task, want 2 (the index entry and its pointer)", indexed)
	}
	if st, _, again := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("plain3@patient.example", "ORD-6"), cond("urn:ehr:orders|ORD-6")); st != http.StatusOK || again["id"] != plain["id"] || again["status"] != "cancelled" {
		t.Errorf("within the retention a cancelled Task is still found: %d %v", st, again["id"])
	}
	w.Advance(31 * 24 * time.Hour)
	tok = w.fhirToken(t, newEHR(t), "lakeside", "system/Task.cru")
	if st, _, fresh := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("plain4@patient.example", "ORD-6"), cond("urn:ehr:orders|ORD-6")); st != http.StatusCreated || fresh["id"] == plain["id"] {
		t.Errorf("after the retention: %d %v, want a new Task", st, fresh["id"])
	}
	// The index keys identifiers only hashed.
	for _, item := range dynamotest.Scan(t, w.DB, w.DB.Tables.Referrals) {
		for _, k := range []string{"PK", "SK"} {
			if v := item[k].(*types.AttributeValueMemberS).Value; strings.Contains(v, "ORD-") || strings.Contains(v, "urn:ehr") {
				t.Errorf("a key holds a Task identifier: %s", v)
			}
		}
	}
}

// TestFHIRScopes: each Task interaction needs its SMART v2 letter (c create,
// r read, u update, s search); a v1 read scope reads and searches, system/*.*
// does everything; anything less is 403 with an OperationOutcome.
func TestFHIRScopes(t *testing.T) {
	w := newWorld(t, "")
	e := newEHR(t)
	full := w.fhirToken(t, e, "lakeside", "system/*.*")
	st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", full, gravityTask("scope@patient.example", "ORD-S"), nil)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, task)
	}
	id := task["id"].(string)
	ops := []struct {
		name, method, path string
		body               any
	}{
		{"c", http.MethodPost, "/fhir/Task", gravityTask("scope2@patient.example", "")},
		{"c", http.MethodPost, "/fhir", gravityBundle("scope3@patient.example", "", "s1", "")},
		{"r", http.MethodGet, "/fhir/Task/" + id, nil},
		{"s", http.MethodGet, "/fhir/Task?_lastUpdated=ge2000-01-01", nil},
		{"u", http.MethodPut, "/fhir/Task/" + id, map[string]any{"resourceType": "Task", "id": id, "status": "cancelled"}},
	}
	for _, c := range []struct{ scope, allows string }{
		{"system/Task.cru", "cru"}, {"system/Task.rs", "rs"}, {"system/Task.read", "rs"}, {"system/Task.write", "cu"},
		{"system/Subscription.cru", ""}, {"system/*.*", "crsu"}, {"system/Task.s", "s"}, {"system/Task.r", "r"},
		{"system/Task.c", "c"}, {"system/Task.u", "u"}, {"system/Task.cruds", "crus"},
	} {
		tok := w.fhirToken(t, e, "lakeside", c.scope)
		for _, op := range ops {
			st, _, out := w.fhirCall(t, op.method, op.path, tok, op.body, nil)
			allowed := strings.Contains(c.allows, op.name)
			if allowed && st >= 300 || !allowed && (st != http.StatusForbidden || out["resourceType"] != "OperationOutcome") {
				t.Errorf("%s: %s %s: %d, allowed %v", c.scope, op.method, op.path, st, allowed)
			}
		}
	}
}

// TestFHIRSearchParameters: _lastUpdated ranges and prefixes at the value's
// precision, status AND and OR and every Task status code, _count=0,
// _format, and an offset's + sent unencoded; a page is one Query of
// clinic-index and a read of each Task.
func TestFHIRSearchParameters(t *testing.T) {
	w := newWorld(t, "")
	e := newEHR(t)
	var tok string
	start := w.Now().UTC().Truncate(time.Second)
	w.SetNow(start)
	var ids []string
	for i := range 3 {
		tok = w.fhirToken(t, e, "lakeside", "system/Task.cru system/Task.rs") // tokens last 5 minutes
		st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask(fmt.Sprintf("s%d@patient.example", i), fmt.Sprintf("S-%d", i)), nil)
		if st != http.StatusCreated {
			t.Fatalf("create: %d", st)
		}
		ids = append(ids, task["id"].(string))
		w.Advance(time.Hour)
	}
	tok = w.fhirToken(t, e, "lakeside", "system/Task.cru system/Task.rs")
	// Task i was last updated at start+i hours, Task 2 again at start+3h.
	at := func(h int) string { return start.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }
	if st, _, _ := w.fhirCall(t, http.MethodPut, "/fhir/Task/"+ids[2], tok, map[string]any{"resourceType": "Task", "status": "cancelled"}, nil); st != http.StatusOK {
		t.Fatal("cancel")
	}
	search := func(query string) (int, []string, map[string]any) {
		st, _, b := w.fhirCall(t, http.MethodGet, "/fhir/Task?"+query, tok, nil, nil)
		var got []string
		entries, _ := b["entry"].([]any)
		for _, e := range entries {
			got = append(got, e.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		return st, got, b
	}
	plus := start.In(time.FixedZone("", 3600)).Format(time.RFC3339) // its + sent unencoded, read as a space
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"_lastUpdated=ge" + url.QueryEscape(at(1)) + "&_lastUpdated=lt" + url.QueryEscape(at(2)), ids[1:2]},
		{"_lastUpdated=lt" + url.QueryEscape(at(1)), ids[:1]},
		{"_lastUpdated=le" + url.QueryEscape(at(1)), ids[:2]},
		{"_lastUpdated=gt" + url.QueryEscape(at(0)), ids[1:]},
		{"_lastUpdated=" + start.Format("2006-01-02") + "&_lastUpdated=lt" + url.QueryEscape(at(1)), ids[:1]},
		{"_lastUpdated=ge" + plus, ids},
		{"_lastUpdated=" + url.QueryEscape(at(5)), nil},
		{"status=requested", ids[:2]},
		{"status=cancelled,completed", ids[2:]},
		{"status=requested,cancelled&status=cancelled", ids[2:]},
		{"status=requested&status=cancelled", nil},
		{"status=received", nil},
		{"_format=application/fhir+json&_id=" + ids[0] + "," + ids[1], ids[:2]},
		{"_format=json&_count=0", ids[:1]},
	} {
		st, got, b := search(c.query)
		if st != http.StatusOK || strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %d %v, want %v (%v)", c.query, st, got, c.want, b)
		}
	}
	for _, q := range []string{"_lastUpdated=ne" + at(0), "status=done", "_format=xml", "_count=500", "patient=Patient/1"} {
		if st, _, oo := w.fhirCall(t, http.MethodGet, "/fhir/Task?"+q, tok, nil, nil); st != http.StatusUnprocessableEntity || oo["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %v", q, st, oo)
		}
	}
	_, _, page := search("_count=0")
	apptest.ValidateFHIR(t, page)

	// A page's cost: one Query of clinic-index and a Query of each Task.
	metered := dynamotest.Client(w.DB.URL, w.DB.Counter.Middleware())
	w.App.Referrals.DB, w.App.Clinics.DB = metered, metered
	w.DB.Counter.Reset()
	if st, got, _ := search("_lastUpdated=ge" + url.QueryEscape(at(0)) + "&status=requested,cancelled&_count=20"); st != http.StatusOK || len(got) != 3 {
		t.Fatalf("metered search: %d %v", st, got)
	}
	queries := 0
	for _, c := range w.DB.Counter.Snapshot() {
		if c.Operation == "Query" {
			queries += c.Calls
		}
	}
	t.Logf("a search page of 3 Tasks: %s", callCounts(w))
	if queries != 4 {
		t.Errorf("a page of 3 Tasks made %d Queries, want 4 (the index and one per Task)", queries)
	}
}
