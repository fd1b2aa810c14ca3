package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// The FHIR R4 Task API (Gravity SDOH Clinical Care IG, handoff as the
// coordination platform): a Task creates a referral through the same intake
// path as a signed webhook; the Task read back is the clinic's view of it.

// The kinds of FHIR access, and the scopes that allow each.
const (
	ReadTasks     = "read"
	WriteTasks    = "write"
	Subscriptions = "subscription"
)

var accessScopes = map[string][]string{
	ReadTasks:     {"system/Task.rs", "system/Task.cru", "system/Task.read", "system/*.*"},
	WriteTasks:    {"system/Task.cru", "system/Task.write", "system/*.*"},
	Subscriptions: {"system/Subscription.cru", "system/*.*"},
}

// FHIRAccess checks an access token for a kind of access (ReadTasks,
// WriteTasks, Subscriptions). Errors: Unauthorized (no valid token),
// Forbidden (no scope for it).
func (a *App) FHIRAccess(ctx context.Context, bearer, kind string) (AccessGrant, error) {
	g, err := a.CheckAccessToken(ctx, bearer)
	if err != nil {
		return g, err
	}
	want := accessScopes[kind]
	for _, s := range g.Scopes {
		if slices.Contains(want, s) {
			return g, nil
		}
	}
	return g, problem.Errorf(problem.Forbidden, "the access token's scopes do not allow this (%s)", strings.Join(want, " or "))
}

// fhirRef is a FHIR Reference.
type fhirRef struct {
	Reference string `json:"reference"`
}

// taskIn is the part of a posted Task handoff reads.
type taskIn struct {
	ResourceType string            `json:"resourceType"`
	Status       string            `json:"status"`
	Intent       string            `json:"intent"`
	Identifier   []json.RawMessage `json:"identifier"`
	Focus        *fhirRef          `json:"focus"`
	For          *fhirRef          `json:"for"`
	Requester    *fhirRef          `json:"requester"`
	Contained    []json.RawMessage `json:"contained"`
}

func fhirInvalid(field, detail string) error {
	return problem.Invalidf([]problem.FieldError{{Field: field, Detail: detail}}, "The Task is not one handoff can take.")
}

// checkTask checks what every posted Task must be.
func checkTask(t taskIn) error {
	switch {
	case t.ResourceType != "Task":
		return fhirInvalid("resourceType", "must be Task")
	case t.Intent != "order":
		return fhirInvalid("Task.intent", "must be order")
	case t.Status != "requested":
		return fhirInvalid("Task.status", "must be requested")
	case t.Focus == nil || t.Focus.Reference == "":
		return fhirInvalid("Task.focus", "must reference the ServiceRequest")
	}
	for _, r := range []*fhirRef{t.Focus, t.For, t.Requester} {
		if r != nil && (strings.HasPrefix(r.Reference, "http://") || strings.HasPrefix(r.Reference, "https://")) {
			return fhirInvalid("Task.focus", "references another server ("+refKind(r.Reference)+"): contain the ServiceRequest, Patient and requester in the Task, or send a transaction Bundle")
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

// serviceRequestOf builds, from a Task with everything contained, the
// ServiceRequest intake reads: the Task's contained ServiceRequest, with the
// other contained resources and the Task's for, requester and identifier
// where the ServiceRequest lacks them.
func serviceRequestOf(t taskIn) ([]byte, error) {
	focus := strings.TrimPrefix(t.Focus.Reference, "#")
	if focus == t.Focus.Reference {
		return nil, fhirInvalid("Task.focus", "must reference a contained ServiceRequest (#id), or send a transaction Bundle")
	}
	var sr map[string]any
	var others []json.RawMessage
	for _, raw := range t.Contained {
		var head struct{ ResourceType, ID string }
		if json.Unmarshal(raw, &head) != nil {
			return nil, fhirInvalid("Task.contained", "holds a resource that cannot be read")
		}
		if head.ResourceType == "ServiceRequest" && head.ID == focus {
			if err := json.Unmarshal(raw, &sr); err != nil {
				return nil, fhirInvalid("Task.contained", "the ServiceRequest cannot be read")
			}
			continue
		}
		others = append(others, raw)
	}
	if sr == nil {
		return nil, fhirInvalid("Task.focus", "names no contained ServiceRequest")
	}
	sr["contained"] = others
	if _, ok := sr["subject"]; !ok && t.For != nil {
		sr["subject"] = t.For
	}
	if _, ok := sr["requester"]; !ok && t.Requester != nil {
		sr["requester"] = t.Requester
	}
	if _, ok := sr["identifier"]; !ok && len(t.Identifier) > 0 {
		sr["identifier"] = t.Identifier
	}
	if _, ok := sr["status"]; !ok {
		sr["status"] = "active"
	}
	if _, ok := sr["intent"]; !ok {
		sr["intent"] = "order"
	}
	return json.Marshal(sr)
}

// bundleWithoutTask returns a transaction Bundle's Task, and the Bundle
// without it, for intake to read.
func bundleWithoutTask(body []byte) (taskIn, []byte, error) {
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		return taskIn{}, nil, problem.Errorf(problem.Malformed, "the body is not JSON")
	}
	if b["resourceType"] != "Bundle" || b["type"] != "transaction" {
		return taskIn{}, nil, fhirInvalid("Bundle.type", "must be a transaction Bundle")
	}
	entries, _ := b["entry"].([]any)
	var task taskIn
	var rest []any
	found := 0
	for _, e := range entries {
		em, ok := e.(map[string]any)
		if !ok {
			return taskIn{}, nil, fhirInvalid("Bundle.entry", "every entry must be an object")
		}
		res, _ := em["resource"].(map[string]any)
		if res != nil && res["resourceType"] == "Task" {
			raw, _ := json.Marshal(res)
			if err := json.Unmarshal(raw, &task); err != nil {
				return taskIn{}, nil, fhirInvalid("Bundle.entry", "the Task cannot be read")
			}
			found++
			continue
		}
		rest = append(rest, e)
	}
	if found != 1 {
		return taskIn{}, nil, fhirInvalid("Bundle.entry", "must hold exactly one Task")
	}
	b["entry"] = rest
	out, err := json.Marshal(b)
	return task, out, err
}

// TaskCreated is a created (or, for a conditional create, found) Task.
type TaskCreated struct {
	ID      string
	Created bool // false: If-None-Exist found the Task made before
	Task    map[string]any
}

// CreateTask takes a posted Task (with its ServiceRequest, Patient and
// requester contained) or a transaction Bundle holding them. ifNoneExist is
// the If-None-Exist header (identifier=<system>|<value>): the create is then
// idempotent. Errors: those of a referral's intake, and Invalid for a Task
// handoff cannot take.
func (a *App) CreateTask(ctx context.Context, g AccessGrant, body []byte, ifNoneExist string) (TaskCreated, error) {
	c, err := a.clinic(ctx, g.ClinicID)
	if err != nil {
		return TaskCreated{}, err
	}
	var head struct{ ResourceType string }
	if err := json.Unmarshal(body, &head); err != nil {
		return TaskCreated{}, problem.Errorf(problem.Malformed, "the body is not JSON")
	}
	var task taskIn
	var forIntake []byte
	switch head.ResourceType {
	case "Bundle":
		if task, forIntake, err = bundleWithoutTask(body); err != nil {
			return TaskCreated{}, err
		}
		if err := checkTask(task); err != nil {
			return TaskCreated{}, err
		}
	case "Task":
		if err := json.Unmarshal(body, &task); err != nil {
			return TaskCreated{}, problem.Errorf(problem.Malformed, "the Task cannot be read")
		}
		if err := checkTask(task); err != nil {
			return TaskCreated{}, err
		}
		if forIntake, err = serviceRequestOf(task); err != nil {
			return TaskCreated{}, err
		}
	default:
		return TaskCreated{}, fhirInvalid("resourceType", "must be Task (or a transaction Bundle on the base)")
	}
	key := "fhir:" + newID(a.now())
	if ifNoneExist != "" {
		ident, ok := strings.CutPrefix(ifNoneExist, "identifier=")
		if !ok || ident == "" || len(ident) > 240 || !strings.Contains(ident, "|") {
			return TaskCreated{}, problem.Invalidf([]problem.FieldError{{Field: "If-None-Exist", Detail: "must be identifier=<system>|<value>"}}, "The conditional create is not valid.")
		}
		key = "fhir:" + ident
	}
	answer, replay, err := a.createReferral(ctx, c, key, "application/fhir+json", forIntake, "fhir")
	if problem.Is(err, problem.Conflict) {
		return TaskCreated{}, problem.Errorf(problem.Conflict, "a Task with this identifier was created from another body")
	}
	if err != nil {
		return TaskCreated{}, err
	}
	var receipt Receipt
	if err := json.Unmarshal(answer, &receipt); err != nil {
		return TaskCreated{}, err
	}
	rec, err := a.Referrals.Load(ctx, receipt.ID)
	if err != nil {
		return TaskCreated{}, err
	}
	return TaskCreated{ID: receipt.ID, Created: !replay, Task: fhirTaskOf(rec)}, nil
}

// fhirRecord loads a referral of the clinic; another clinic's is NotFound.
func (a *App) fhirRecord(ctx context.Context, clinicID, id string) (*dynamo.Record, error) {
	notFound := problem.Errorf(problem.NotFound, "no Task with this id")
	if !validID(id) {
		return nil, notFound
	}
	rec, err := a.Referrals.Load(ctx, id)
	if problem.Is(err, problem.NotFound) || (err == nil && rec.Referral.ClinicID != clinicID) {
		return nil, notFound
	}
	return rec, err
}

// ReadTask is a Task of the token's clinic. Errors: NotFound.
func (a *App) ReadTask(ctx context.Context, g AccessGrant, id string) (map[string]any, error) {
	rec, err := a.fhirRecord(ctx, g.ClinicID, id)
	if err != nil {
		return nil, err
	}
	return fhirTaskOf(rec), nil
}

// CancelTask cancels a Task of the token's clinic: the body is the Task with
// status cancelled (nothing else may change). Errors: NotFound, Invalid,
// Conflict (the referral can no longer be cancelled).
func (a *App) CancelTask(ctx context.Context, g AccessGrant, id string, body []byte) (map[string]any, error) {
	var t struct{ ResourceType, ID, Status string }
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, problem.Errorf(problem.Malformed, "the body is not JSON")
	}
	if t.ResourceType != "Task" || (t.ID != "" && t.ID != id) {
		return nil, fhirInvalid("Task.id", "must be the Task's own id")
	}
	if t.Status != "cancelled" {
		return nil, fhirInvalid("Task.status", "the requester may only change the status to cancelled")
	}
	for attempt := 0; ; attempt++ {
		rec, err := a.fhirRecord(ctx, g.ClinicID, id)
		if err != nil {
			return nil, err
		}
		if rec.Referral.Status == referral.Cancelled {
			return fhirTaskOf(rec), nil // cancelled before: the same answer
		}
		if !referral.CanMove(rec.Referral.Status, referral.Cancelled) {
			return nil, problem.Errorf(problem.Conflict, "the referral is %s and can no longer be cancelled", rec.Referral.Status)
		}
		ch := a.close(rec, referral.Cancelled, "cancelled by the clinic")
		err = a.apply(ctx, ch)
		if problem.Is(err, problem.Conflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		a.Log.InfoContext(ctx, "referral cancelled through FHIR", "clinic", g.ClinicID, "referral", id)
		rec.Events = append(rec.Events, ch.Events...)
		return fhirTaskOf(rec), nil
	}
}

// fhirTaskOf is the Task as handoff holds it: FHIRTask with its meta and
// the reason for a closed status.
func fhirTaskOf(rec *dynamo.Record) map[string]any {
	v := statusView(rec)
	t := FHIRTask(v)
	t["meta"] = map[string]any{"lastUpdated": v.UpdatedAt.Format(time.RFC3339Nano), "versionId": fmt.Sprint(rec.Referral.Version)}
	switch t["status"] {
	case "rejected", "failed", "cancelled":
		for i := len(v.Timeline) - 1; i >= 0; i-- {
			if v.Timeline[i].Status == v.Status && v.Timeline[i].Detail != "" {
				t["statusReason"] = map[string]any{"text": v.Timeline[i].Detail}
				break
			}
		}
	}
	return t
}

// TaskSearch is a search of the token's clinic's Tasks.
type TaskSearch struct {
	Since     time.Time // _lastUpdated
	Inclusive bool      // ge rather than gt
	Statuses  []string  // FHIR Task statuses; none: all
	ID        string    // _id
	Count     int       // _count
	Cursor    string    // the next page's, from a next link
}

// SearchTasks answers a Task search with a searchset Bundle: the clinic's
// Tasks (created through FHIR) updated since the instant, oldest first,
// paged with a next link. self is the request's URL, for the links.
func (a *App) SearchTasks(ctx context.Context, g AccessGrant, q TaskSearch, self func(cursor string) string) (map[string]any, error) {
	var ids []string
	next := ""
	if q.ID != "" {
		ids = []string{q.ID}
	} else {
		page, err := a.Referrals.SearchTasks(ctx, g.ClinicID, q.Since, q.Inclusive, q.Count, q.Cursor)
		if err != nil {
			return nil, err
		}
		ids, next = page.IDs, page.Next
	}
	entries := []any{}
	for _, id := range ids {
		rec, err := a.fhirRecord(ctx, g.ClinicID, id)
		if problem.Is(err, problem.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r := rec.Referral
		if r.Source != "fhir" || r.UpdatedAt.Before(q.Since) || (!q.Inclusive && r.UpdatedAt.Equal(q.Since)) {
			continue // an index entry older than the referral (or not a Task)
		}
		t := fhirTaskOf(rec)
		if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, t["status"].(string)) {
			continue
		}
		entries = append(entries, map[string]any{
			"fullUrl": a.Config.PublicURL + "/fhir/Task/" + id, "resource": t, "search": map[string]any{"mode": "match"},
		})
	}
	links := []any{map[string]any{"relation": "self", "url": self(q.Cursor)}}
	if next != "" {
		links = append(links, map[string]any{"relation": "next", "url": self(next)})
	}
	return map[string]any{"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}, nil
}

// CapabilityStatement is GET /fhir/metadata.
func (a *App) CapabilityStatement() map[string]any {
	return map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-12-04",
		"kind":         "instance",
		"instantiates": []string{"http://hl7.org/fhir/us/sdoh-clinicalcare/CapabilityStatement/SDOHCC-CoordinationPlatform"},
		"software":     map[string]any{"name": "handoff"},
		"implementation": map[string]any{
			"description": "handoff: referrals from clinicians to self-help groups", "url": a.Config.PublicURL + "/fhir",
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"application/fhir+json"},
		"rest": []any{map[string]any{
			"mode": "server",
			"security": map[string]any{
				"service": []any{map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}}}},
				"extension": []any{map[string]any{
					"url":       "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
					"extension": []any{map[string]any{"url": "token", "valueUri": a.TokenEndpoint()}},
				}},
			},
			"resource": []any{map[string]any{
				"type": "Task", "supportedProfile": []string{"http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"},
				"interaction":       []any{map[string]any{"code": "create"}, map[string]any{"code": "read"}, map[string]any{"code": "update"}, map[string]any{"code": "search-type"}},
				"conditionalCreate": true,
				"searchParam": []any{
					map[string]any{"name": "_lastUpdated", "type": "date"}, map[string]any{"name": "status", "type": "token"},
					map[string]any{"name": "_id", "type": "token"}, map[string]any{"name": "_count", "type": "number"},
				},
			}, map[string]any{
				"type": "Subscription", "interaction": []any{map[string]any{"code": "create"}, map[string]any{"code": "read"}, map[string]any{"code": "update"}},
				"supportedProfile": []string{"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"},
			}},
			"interaction": []any{map[string]any{"code": "transaction"}},
			"operation":   []any{map[string]any{"name": "status", "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"}},
		}},
	}
}
