package fhir

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/referral"
)

// TestConditionOf: one identifier with its system (or none: |value); every
// other search is refused, saying what is supported.
func TestConditionOf(t *testing.T) {
	for in, want := range map[string]string{
		"identifier=urn:ehr:orders|ORD-1":       "urn:ehr:orders|ORD-1",
		"identifier=urn%3Aehr%3Aorders%7CORD-1": "urn:ehr:orders|ORD-1",
		"?identifier=urn:ehr:orders|ORD+1":      "urn:ehr:orders|ORD+1",
		"identifier=|ORD-1":                     "|ORD-1",
		"identifier=ORD-1":                      "",
		"identifier=urn:ehr:orders|":            "",
		"identifier=a|1,a|2":                    "",
		"identifier=a|1&status=requested":       "",
		"status=requested":                      "",
		"identifier=urn:ehr:orders|ORD-1%ZZ":    "",
		"":                                      "",
	} {
		got, err := conditionOf("If-None-Exist", in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzReadTaskCreate: any body posted as a Task or a transaction Bundle is
// refused or read; nothing panics, an absolute reference never gets
// through, and what is read has a ServiceRequest to map.
func FuzzReadTaskCreate(f *testing.F) {
	f.Add(`{"resourceType":"Task","status":"requested","intent":"order","focus":{"reference":"#sr"},"contained":[{"resourceType":"ServiceRequest","id":"sr"}]}`, false)
	f.Add(`{"resourceType":"Task","status":"requested","intent":"order","focus":{"reference":"https://ehr.example/ServiceRequest/1"}}`, false)
	f.Add(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Task"}}]}`, true)
	f.Add(`{"resourceType":"Bundle","type":"transaction","entry":[null, 1, "x"]}`, true)
	f.Add(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Task","status":"requested","intent":"order","focus":{"reference":"urn:uuid:1"}},"request":{"method":"POST","ifNoneExist":"identifier=a|1"}},{"fullUrl":"urn:uuid:1","resource":{"resourceType":"ServiceRequest"}}]}`, true)
	f.Add(`[]`, false)
	f.Fuzz(func(t *testing.T, body string, transaction bool) {
		tc, err := ReadTaskCreate([]byte(body), "", transaction)
		var task taskIn
		if json.Unmarshal([]byte(body), &task) == nil && checkTask(task) == nil {
			for _, r := range []*Reference{task.Focus, task.For, task.Requester} {
				if r != nil && (strings.HasPrefix(r.Reference, "http://") || strings.HasPrefix(r.Reference, "https://")) {
					t.Fatalf("an absolute reference passed the Task's check: %q", r.Reference)
				}
			}
		}
		if err != nil {
			return
		}
		if transaction && !slices.Contains(tc.Entries, "Task") {
			t.Fatalf("the entries %v have no Task", tc.Entries)
		}
		if len(tc.Identifiers) > maxTaskIdentifiers+1 {
			t.Fatalf("%d identifiers", len(tc.Identifiers))
		}
	})
}

// TestTaskOf: a referral as its Task, status by status, with the reason
// of a closed one and each group approached; never patient data.
func TestTaskOf(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	r := &referral.Referral{ID: "01JGX7Q3M4ZK8R5T2VWB6N9CDE", ClinicID: "lakeside", Status: referral.Cancelled, CreatedAt: at, UpdatedAt: at.Add(time.Hour),
		Version: 3, Intake: referral.Intake{ExternalID: "ORD-1", Patient: referral.Patient{GivenName: "Rosa", Email: "rosa@patient.example"}}}
	events := []referral.Event{
		{Type: referral.StatusChanged, Status: referral.AwaitingConsent, Detail: "referral received"},
		{Type: referral.StatusChanged, Status: referral.Cancelled, Detail: "cancelled by the clinic"},
	}
	routes := []referral.Route{{GroupName: "Mission Group", Status: referral.RouteWithdrawn}}
	task := TaskOf(r, routes, events)
	if task.Status != "cancelled" || task.StatusReason == nil || task.StatusReason.Text != "cancelled by the clinic" ||
		task.Meta.VersionID != "3" || len(task.Identifier) != 2 || task.Output[0].ValueString != "Mission Group: withdrawn" ||
		task.Requester.Identifier.Value != "lakeside" || task.BusinessStatus.Text != "cancelled" {
		t.Errorf("TaskOf: %+v", task)
	}
	for s, want := range map[referral.Status]string{
		referral.AwaitingConsent: "requested", referral.Routed: "accepted", referral.Accepted: "in-progress",
		referral.Connected: "completed", referral.Declined: "rejected", referral.Unreachable: "failed", referral.Revoked: "cancelled",
	} {
		if got := TaskStatus(s); got != want {
			t.Errorf("%s: %s, want %s", s, got, want)
		}
	}
}
