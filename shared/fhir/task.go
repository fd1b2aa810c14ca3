package fhir

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Task is an R4 Task as handoff writes it: a referral of the Gravity SDOH
// Clinical Care IG, handoff the coordination platform.
type Task struct {
	ResourceType   string           `json:"resourceType"`
	ID             string           `json:"id,omitempty"`
	Meta           *Meta            `json:"meta,omitempty"`
	Identifier     []Identifier     `json:"identifier,omitempty"`
	Status         string           `json:"status"`
	StatusReason   *CodeableConcept `json:"statusReason,omitempty"`
	BusinessStatus *CodeableConcept `json:"businessStatus,omitempty"`
	Intent         string           `json:"intent"`
	Code           *CodeableConcept `json:"code,omitempty"`
	Focus          *Reference       `json:"focus,omitempty"`
	For            *Reference       `json:"for,omitempty"`
	AuthoredOn     string           `json:"authoredOn,omitempty"`
	LastModified   string           `json:"lastModified,omitempty"`
	Requester      *Reference       `json:"requester,omitempty"`
	Owner          *Reference       `json:"owner,omitempty"`
	Output         []TaskOutput     `json:"output,omitempty"`
}

// TaskOutput is one of a Task's outputs.
type TaskOutput struct {
	Type        CodeableConcept `json:"type"`
	ValueString string          `json:"valueString"`
}

// taskIn is what handoff reads of a posted Task.
type taskIn struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Status       string            `json:"status"`
	Intent       string            `json:"intent"`
	Identifier   []Identifier      `json:"identifier"`
	Focus        *Reference        `json:"focus"`
	For          *Reference        `json:"for"`
	Requester    *Reference        `json:"requester"`
	Contained    []json.RawMessage `json:"contained"`
}

// Task statuses: how a referral's status shows as R4 Task.status.
var taskStatus = map[referral.Status]string{
	referral.AwaitingConsent:   "requested",
	referral.Consented:         "accepted",
	referral.Routed:            "accepted",
	referral.SharedWithPatient: "accepted",
	referral.Accepted:          "in-progress",
	referral.Connected:         "completed",
	referral.Attended:          "completed",
	referral.Declined:          "rejected",
	referral.Expired:           "failed",
	referral.Unmatched:         "failed",
	referral.NotConnected:      "failed",
	referral.Unreachable:       "failed",
	referral.Cancelled:         "cancelled",
	referral.Revoked:           "cancelled",
}

// TaskStatuses are the R4 Task status codes (those handoff never sets
// simply match nothing in a search).
var TaskStatuses = []string{"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
	"in-progress", "on-hold", "failed", "completed", "entered-in-error"}

// TaskStatus is the Task.status a referral's status shows as.
func TaskStatus(s referral.Status) string { return taskStatus[s] }

// TaskOf is a referral as its clinic's EHR reads it, a Task: no patient
// data; businessStatus carries handoff's own status, statusReason why a
// rejected, failed or cancelled one is so, output each group approached.
// The ServiceRequest and Patient are named, not pointed to: handoff keeps
// neither as a resource, only what the referral needs of them.
func TaskOf(r *referral.Referral, routes []referral.Route, events []referral.Event) Task {
	t := Task{
		ResourceType: "Task", ID: r.ID,
		Meta:       &Meta{LastUpdated: r.UpdatedAt.UTC().Format(time.RFC3339Nano), VersionID: strconv.Itoa(r.Version)},
		Identifier: []Identifier{{System: "urn:handoff:referral", Value: r.ID}},
		Status:     taskStatus[r.Status],
		BusinessStatus: &CodeableConcept{
			Coding: []Coding{{System: "urn:handoff:referral-status", Code: string(r.Status)}}, Text: string(r.Status),
		},
		Intent:       "order",
		Code:         &CodeableConcept{Coding: []Coding{{System: "http://hl7.org/fhir/CodeSystem/task-code", Code: "fulfill"}}},
		Focus:        &Reference{Type: "ServiceRequest", Display: "the referral's ServiceRequest (handoff keeps only its topics)"},
		For:          &Reference{Type: "Patient", Display: "the referred patient (handoff keeps only what the referral needs)"},
		AuthoredOn:   r.CreatedAt.UTC().Format(time.RFC3339),
		LastModified: r.UpdatedAt.UTC().Format(time.RFC3339),
		Requester:    &Reference{Type: "Organization", Identifier: &Identifier{System: "urn:handoff:clinic", Value: r.ClinicID}},
		Owner:        &Reference{Type: "Organization", Display: "handoff, the coordination platform"},
	}
	if r.ExternalID != "" {
		t.Identifier = append(t.Identifier, Identifier{System: "urn:handoff:external-id", Value: r.ExternalID})
	}
	switch t.Status {
	case "rejected", "failed", "cancelled":
		for i := len(events) - 1; i >= 0; i-- {
			if e := events[i]; e.Type == referral.StatusChanged && e.Status == r.Status && e.Detail != "" {
				t.StatusReason = &CodeableConcept{Text: e.Detail}
				break
			}
		}
	}
	for _, rt := range routes {
		t.Output = append(t.Output, TaskOutput{Type: CodeableConcept{Text: "route"}, ValueString: rt.GroupName + ": " + string(rt.Status)})
	}
	return t
}

// A TaskCreate is a create of a Task, as posted: a Task with its
// ServiceRequest, Patient and requester contained (POST /fhir/Task), or a
// transaction Bundle holding them (POST /fhir).
type TaskCreate struct {
	// Referral is the Task's ServiceRequest with the resources it
	// references: what intake maps.
	Referral Referral
	// Identifiers are the Task's identifiers as system|value (|value for
	// one without a system), at most five, each indexed for conditional
	// creates; the conditional create's is among them.
	Identifiers []string
	// Condition is a conditional create's identifier (system|value), from
	// the If-None-Exist header or the Task entry's request.ifNoneExist; ""
	// for a plain create.
	Condition string
	// Entries are a transaction's request entries' resource types, in
	// order, for its transaction-response (nil for a Task).
	Entries []string
}

// maxTaskIdentifiers is how many identifiers a Task may carry.
const maxTaskIdentifiers = 5

// ReadTaskCreate reads a Task create: a Task (transaction false) or a
// transaction Bundle (true) holding one. ifNoneExist is the If-None-Exist
// header (a Bundle's Task entry may carry request.ifNoneExist instead).
// Errors: Malformed; Invalid for a Task handoff cannot take (not a
// requested order, a focus that is not its contained ServiceRequest, a
// reference to another server, a search handoff does not run).
func ReadTaskCreate(body []byte, ifNoneExist string, transaction bool) (TaskCreate, error) {
	var root head
	if err := json.Unmarshal(body, &root); err != nil {
		return TaskCreate{}, decodeError(err, "")
	}
	if (root.ResourceType == "Bundle") != transaction {
		return TaskCreate{}, problem.Invalidf([]problem.FieldError{{Field: "resourceType",
			Detail: "post a Task to /fhir/Task, a transaction Bundle to /fhir"}}, "The resource is not one this endpoint takes.")
	}
	if transaction {
		return readTransaction(body, ifNoneExist)
	}
	if root.ResourceType != "Task" {
		return TaskCreate{}, taskInvalid("resourceType", "must be Task (or a transaction Bundle on the base)")
	}
	var t taskIn
	if err := json.Unmarshal(body, &t); err != nil {
		return TaskCreate{}, decodeError(err, "Task")
	}
	if err := checkTask(t); err != nil {
		return TaskCreate{}, err
	}
	ref, err := containedReferral(t)
	if err != nil {
		return TaskCreate{}, err
	}
	return taskCreate(t, ref, nil, "If-None-Exist", ifNoneExist)
}

// readTransaction reads a transaction Bundle: its one Task (a POST), the
// ServiceRequest and the resources it references among the other entries.
func readTransaction(body []byte, ifNoneExist string) (TaskCreate, error) {
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return TaskCreate{}, decodeError(err, "Bundle")
	}
	if b.Type != "transaction" {
		return TaskCreate{}, taskInvalid("Bundle.type", "must be a transaction Bundle")
	}
	var task taskIn
	var rest []bundleEntry
	var entries []string
	found := 0
	condField := "If-None-Exist"
	for _, e := range b.Entry {
		var h head
		if len(e.Resource) > 0 && json.Unmarshal(e.Resource, &h) != nil {
			return TaskCreate{}, taskInvalid("Bundle.entry", "every entry's resource must be an object")
		}
		entries = append(entries, h.ResourceType)
		if h.ResourceType != "Task" {
			rest = append(rest, e)
			continue
		}
		found++
		if err := json.Unmarshal(e.Resource, &task); err != nil {
			return TaskCreate{}, decodeError(err, "Task")
		}
		if e.Request != nil && e.Request.Method != "POST" {
			return TaskCreate{}, taskInvalid("Bundle.entry.request.method", "the Task's entry must be a POST (a create)")
		}
		if e.Request != nil && e.Request.IfNoneExist != "" {
			ifNoneExist, condField = e.Request.IfNoneExist, "Bundle.entry.request.ifNoneExist"
		}
	}
	if found != 1 {
		return TaskCreate{}, taskInvalid("Bundle.entry", "must hold exactly one Task")
	}
	if err := checkTask(task); err != nil {
		return TaskCreate{}, err
	}
	ref, err := referralIn(rest)
	if err != nil {
		return TaskCreate{}, err
	}
	return taskCreate(task, ref, entries, condField, ifNoneExist)
}

func taskInvalid(field, detail string) error {
	return problem.Invalidf([]problem.FieldError{{Field: field, Detail: detail}}, "The Task is not one handoff can take.")
}

// checkTask checks what every posted Task must be.
func checkTask(t taskIn) error {
	switch {
	case t.ResourceType != "Task":
		return taskInvalid("resourceType", "must be Task")
	case t.Intent != "order":
		return taskInvalid("Task.intent", "must be order")
	case t.Status != "requested":
		return taskInvalid("Task.status", "must be requested")
	case t.Focus == nil || t.Focus.Reference == "":
		return taskInvalid("Task.focus", "must reference the ServiceRequest")
	}
	for _, r := range []*Reference{t.Focus, t.For, t.Requester} {
		if r != nil && (strings.HasPrefix(r.Reference, "http://") || strings.HasPrefix(r.Reference, "https://")) {
			return taskInvalid("Task.focus", "references another server ("+refKind(r.Reference)+"): contain the ServiceRequest, Patient and requester in the Task, or send a transaction Bundle")
		}
	}
	return nil
}

// refKind names a reference's resource type, never its id.
func refKind(ref string) string {
	parts := strings.Split(strings.TrimRight(ref, "/"), "/")
	if len(parts) >= 2 {
		return parts[len(parts)-2]
	}
	return "a resource"
}

// containedReferral is the referral of a Task with everything contained:
// the contained ServiceRequest its focus names, with the Task's for,
// requester and identifier where the ServiceRequest lacks them, and the
// other contained resources for its references.
func containedReferral(t taskIn) (Referral, error) {
	focus := strings.TrimPrefix(t.Focus.Reference, "#")
	if focus == t.Focus.Reference {
		return Referral{}, taskInvalid("Task.focus", "must reference a contained ServiceRequest (#id), or send a transaction Bundle")
	}
	var sr *ServiceRequest
	var rs Resources
	for _, raw := range t.Contained {
		r, ok := decodeResource(raw, "")
		if !ok {
			return Referral{}, taskInvalid("Task.contained", "holds a resource that cannot be read")
		}
		if r.Type == "ServiceRequest" && r.ID == focus {
			if r.Err != nil {
				return Referral{}, r.Err
			}
			sr = r.ServiceRequest
			continue
		}
		if r.ID != "" {
			r.FullURL = "#" + r.ID
			rs = append(rs, r)
		}
	}
	if sr == nil {
		return Referral{}, taskInvalid("Task.focus", "names no contained ServiceRequest")
	}
	if sr.Subject == nil {
		sr.Subject = t.For
	}
	if sr.Requester == nil {
		sr.Requester = t.Requester
	}
	if len(sr.Identifier) == 0 {
		sr.Identifier = t.Identifier
	}
	return Referral{ServiceRequest: *sr, Resources: rs}, nil
}

// taskCreate collects a Task's identifiers and its conditional create.
func taskCreate(t taskIn, ref Referral, entries []string, condField, ifNoneExist string) (TaskCreate, error) {
	tc := TaskCreate{Referral: ref, Entries: entries}
	for _, id := range t.Identifier {
		ident := id.System + "|" + id.Value
		if id.Value != "" && !slices.Contains(tc.Identifiers, ident) {
			tc.Identifiers = append(tc.Identifiers, ident)
		}
	}
	if len(tc.Identifiers) > maxTaskIdentifiers {
		return TaskCreate{}, taskInvalid("Task.identifier", fmt.Sprintf("at most %d identifiers", maxTaskIdentifiers))
	}
	if ifNoneExist != "" {
		cond, err := conditionOf(condField, ifNoneExist)
		if err != nil {
			return TaskCreate{}, err
		}
		tc.Condition = cond
		if !slices.Contains(tc.Identifiers, cond) {
			tc.Identifiers = append(tc.Identifiers, cond) // so that a retry finds it
		}
	}
	return tc, nil
}

// conditionOf reads a conditional create's search: handoff searches Tasks
// by one identifier, identifier=<system>|<value> (|<value> for an
// identifier without a system). It returns system|value.
func conditionOf(field, search string) (string, error) {
	bad := func(detail string) error {
		return problem.Invalidf([]problem.FieldError{{Field: field, Detail: detail}}, "The conditional create is not one handoff supports.")
	}
	name, value, _ := strings.Cut(strings.TrimPrefix(search, "?"), "=")
	if name != "identifier" || strings.Contains(value, "&") {
		return "", bad("handoff searches only by one identifier: identifier=<system>|<value>")
	}
	v, err := url.PathUnescape(value)
	system, code, ok := strings.Cut(v, "|")
	switch {
	case err != nil || code == "" || len(v) > 512:
		return "", bad("must be identifier=<system>|<value>, at most 512 characters")
	case !ok:
		return "", bad("must name the identifier's system: identifier=<system>|<value> (|<value> for an identifier without a system); a value alone is not searched")
	case strings.Contains(v, ","):
		return "", bad("must name one identifier, not a list")
	}
	return system + "|" + code, nil
}

// TaskCancel reads the body of a requester's cancel (PUT /fhir/Task/{id}):
// the Task with status cancelled, its id the one addressed or none;
// nothing else may change. Errors: Malformed, Invalid.
func TaskCancel(body []byte, id string) error {
	var t struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Status       string `json:"status"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return problem.Errorf(problem.Malformed, "the body is not JSON")
	}
	if t.ResourceType != "Task" || (t.ID != "" && t.ID != id) {
		return taskInvalid("Task.id", "must be the Task's own id")
	}
	if t.Status != "cancelled" {
		return taskInvalid("Task.status", "the requester may only change the status to cancelled")
	}
	return nil
}
