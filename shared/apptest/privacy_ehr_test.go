package apptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// TestEHRSurfaceKeepsNoPHI: what the EHR's surface adds — Task creates and
// reads, a transaction's answer, a refused create's OperationOutcome,
// full-resource Subscription notifications, the token endpoint's refusals
// with a key set URL that fails — carries none of a patient's markers
// (names, email, phone, the clinical code, the note): not in any answer,
// notification, log line, nor in the tables as stored (contact fields are
// sealed).
func TestEHRSurfaceKeepsNoPHI(t *testing.T) {
	w := newWorld(t, "")
	markers := map[string]string{
		"given name": "Zqprivgiven", "family name": "Famprivfamily", "email": "xqprivmail@patient.example",
		"phone": "4155550142", "note": "NoteprivSecret", "code": "F10.239", "display": "Alcoholprivdisplay",
	}
	task := gravityTask(markers["email"], "ORD-PRIV")
	contained := task["contained"].([]any)
	sr, pat := contained[0].(map[string]any), contained[1].(map[string]any)
	sr["reasonCode"] = []any{map[string]any{"coding": []any{map[string]any{
		"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": markers["code"], "display": markers["display"]}}}}
	sr["note"] = []any{map[string]any{"text": markers["note"]}}
	pat["name"] = []any{map[string]any{"given": []string{markers["given name"]}, "family": markers["family name"]}}
	pat["telecom"] = []any{map[string]any{"system": "email", "value": markers["email"]},
		map[string]any{"system": "phone", "use": "mobile", "value": "+1" + markers["phone"]}}

	var mu sync.Mutex
	var posted []string
	ep := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		_ = r.Header.Write(&b)
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted = append(posted, b.String()+string(body))
		mu.Unlock()
	}))
	defer ep.Close()
	keys := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.WriteHeader(http.StatusInternalServerError)
		_, _ = rw.Write([]byte("upstream " + markers["email"]))
	}))
	defer keys.Close()

	e := newEHR(t)
	tok := w.fhirToken(t, e, "lakeside", "system/Task.cru system/Task.rs system/Subscription.cru")
	var answers []any
	call := func(method, path string, body any) map[string]any {
		_, _, out := w.fhirCall(t, method, path, tok, body, nil)
		answers = append(answers, out)
		return out
	}
	sub := call(http.MethodPost, "/fhir/Subscription", map[string]any{"resourceType": "Subscription", "status": "requested",
		"criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
		"channel": map[string]any{"type": "rest-hook", "endpoint": ep.URL, "payload": "application/fhir+json",
			"_payload": map[string]any{"extension": []any{map[string]any{
				"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content", "valueCode": "full-resource"}}}}})
	w.Settle()
	created := call(http.MethodPost, "/fhir/Task", task)
	id, _ := created["id"].(string)
	if id == "" {
		t.Fatalf("create: %v", created)
	}
	w.Settle()
	call(http.MethodGet, "/fhir/Task/"+id, nil)
	call(http.MethodPost, "/fhir", gravityBundle(markers["email"], "ORD-PRIV2", "p1", ""))
	bad := gravityTask(markers["email"], "ORD-PRIV3")
	bad["contained"].([]any)[1].(map[string]any)["address"] = []any{map[string]any{"postalCode": "00000"}}
	if oo := call(http.MethodPost, "/fhir/Task", bad); oo["resourceType"] != "OperationOutcome" {
		t.Fatalf("a create that should fail: %v", oo)
	}
	call(http.MethodPut, "/fhir/Task/"+id, map[string]any{"resourceType": "Task", "id": id, "status": "cancelled"})
	w.Settle()
	call(http.MethodGet, "/fhir/Subscription/"+sub["id"].(string)+"/$status", nil)
	// A clinic whose key set URL fails: the refusal and the log keep the
	// body's marker out.
	w.NewClinic("byurl", "")
	if st, _ := w.Admin(http.MethodPut, "/v1/admin/clinics/byurl/fhir-client", map[string]any{"jwks_url": keys.URL}); st != http.StatusOK {
		t.Fatal("register a JWKS URL")
	}
	_, refusal := tokenRequest(w.Harness, tokenForm(e.assertion(t, "ES384", "ec-1", claimsFor("byurl", w.Server.URL+"/oauth/token", w.Now()), nil), "system/Task.rs"))
	answers = append(answers, refusal)

	mu.Lock()
	if len(posted) < 3 {
		t.Fatalf("%d notifications posted, want the handshake and the Task's changes", len(posted))
	}
	scanned := map[string]string{"logs": w.Logs.String(), "metrics": w.Metrics.String(),
		"notifications": strings.Join(posted, "\n"), "tables": dynamotest.Dump(t, w.DB, w.DB.Tables.Referrals) + dynamotest.Dump(t, w.DB, w.DB.Tables.Directory)}
	mu.Unlock()
	b, _ := json.Marshal(answers)
	scanned["answers"] = string(b)
	for where, text := range scanned {
		for what, m := range markers {
			if strings.Contains(text, m) {
				t.Errorf("the patient's %s is in the %s", what, where)
			}
		}
	}
}
