package app

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzReadAssertion: any string given as a client assertion is refused with
// invalid_client or read; nothing panics, and what is read names a key and
// has iss = sub.
func FuzzReadAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJhIn0.")
	f.Add("eyJhbGciOiJSUzM4NCIsImtpZCI6ImsifQ.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.c2ln")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		_, hdr, claims, err := readAssertion(s)
		if err != nil {
			if err.Code != "invalid_client" {
				t.Fatalf("%q: error %s", s, err.Code)
			}
			return
		}
		if hdr.KeyID == "" || claims.Issuer == "" || claims.Issuer != claims.Subject {
			t.Fatalf("%q read without kid or with iss %q ≠ sub %q", s, claims.Issuer, claims.Subject)
		}
	})
}

// FuzzTaskDecoder: any body posted as a Task or a transaction Bundle is
// refused or becomes a ServiceRequest (or Bundle) for intake; nothing
// panics, and an absolute reference never gets through.
func FuzzTaskDecoder(f *testing.F) {
	f.Add(`{"resourceType":"Task","status":"requested","intent":"order","focus":{"reference":"#sr"},"contained":[{"resourceType":"ServiceRequest","id":"sr"}]}`)
	f.Add(`{"resourceType":"Task","status":"requested","intent":"order","focus":{"reference":"https://ehr.example/ServiceRequest/1"}}`)
	f.Add(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Task"}}]}`)
	f.Add(`{"resourceType":"Bundle","type":"transaction","entry":[null, 1, "x"]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		if strings.Contains(body, `"Bundle"`) {
			tx, err := readTransaction([]byte(body))
			if err == nil {
				if checkTask(tx.task) == nil && strings.HasPrefix(tx.task.Focus.Reference, "http") {
					t.Fatalf("an absolute focus passed: %q", tx.task.Focus.Reference)
				}
				if !json.Valid(tx.forIntake) {
					t.Fatalf("the Bundle for intake is not JSON")
				}
				if !slices.Contains(tx.entries, "Task") {
					t.Fatalf("the entries %v have no Task", tx.entries)
				}
				if tx.ifNoneExist != "" {
					_, _ = conditionOf("ifNoneExist", tx.ifNoneExist)
				}
			}
			return
		}
		var task taskIn
		if json.Unmarshal([]byte(body), &task) != nil || checkTask(task) != nil {
			return
		}
		if strings.HasPrefix(task.Focus.Reference, "http") {
			t.Fatalf("an absolute focus passed: %q", task.Focus.Reference)
		}
		if sr, err := serviceRequestOf(task); err == nil && !json.Valid(sr) {
			t.Fatalf("the ServiceRequest for intake is not JSON")
		}
	})
}
