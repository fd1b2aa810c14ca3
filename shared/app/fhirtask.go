package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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

// transaction is what handoff reads of a transaction Bundle: its Task, the
// Task entry's conditional create, the request entries' resource types in
// order (for the transaction-response), and the Bundle without the Task,
// for intake to read.
type transaction struct {
	task        taskIn
	ifNoneExist string
	entries     []string
	forIntake   []byte
}

func readTransaction(body []byte) (transaction, error) {
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		return transaction{}, problem.Errorf(problem.Malformed, "the body is not JSON")
	}
	if b["resourceType"] != "Bundle" || b["type"] != "transaction" {
		return transaction{}, fhirInvalid("Bundle.type", "must be a transaction Bundle")
	}
	entries, _ := b["entry"].([]any)
	var tx transaction
	var rest []any
	found := 0
	for _, e := range entries {
		em, ok := e.(map[string]any)
		if !ok {
			return transaction{}, fhirInvalid("Bundle.entry", "every entry must be an object")
		}
		res, _ := em["resource"].(map[string]any)
		kind, _ := res["resourceType"].(string)
		tx.entries = append(tx.entries, kind)
		if kind != "Task" {
			rest = append(rest, e)
			continue
		}
		raw, _ := json.Marshal(res)
		if err := json.Unmarshal(raw, &tx.task); err != nil {
			return transaction{}, fhirInvalid("Bundle.entry", "the Task cannot be read")
		}
		req, _ := em["request"].(map[string]any)
		if m, _ := req["method"].(string); req != nil && m != "POST" {
			return transaction{}, fhirInvalid("Bundle.entry.request.method", "the Task's entry must be a POST (a create)")
		}
		tx.ifNoneExist, _ = req["ifNoneExist"].(string)
		found++
	}
	if found != 1 {
		return transaction{}, fhirInvalid("Bundle.entry", "must hold exactly one Task")
	}
	b["entry"] = rest
	out, err := json.Marshal(b)
	tx.forIntake = out
	return tx, err
}

// maxTaskIdentifiers is how many identifiers a Task may carry: each is
// indexed for conditional creates.
const maxTaskIdentifiers = 5

// identifiersOf are a Task's identifiers as system|value (|value for one
// without a system); one without a value is not indexed.
func identifiersOf(t taskIn) ([]string, error) {
	var out []string
	for _, raw := range t.Identifier {
		var id struct{ System, Value string }
		if json.Unmarshal(raw, &id) != nil {
			return nil, fhirInvalid("Task.identifier", "cannot be read")
		}
		ident := id.System + "|" + id.Value
		if id.Value != "" && !slices.Contains(out, ident) {
			out = append(out, ident)
		}
	}
	if len(out) > maxTaskIdentifiers {
		return nil, fhirInvalid("Task.identifier", fmt.Sprintf("at most %d identifiers", maxTaskIdentifiers))
	}
	return out, nil
}

// conditionOf reads a conditional create's search (the If-None-Exist header
// or a transaction entry's request.ifNoneExist): handoff searches Tasks by
// one identifier, identifier=<system>|<value> (|<value> for an identifier
// without a system). It returns system|value.
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

// TaskCreated is a created (or, for a conditional create, found) Task.
type TaskCreated struct {
	ID      string
	Created bool // false: the conditional create found the Task
	Task    map[string]any
	// Entries are a transaction's request entries' resource types, in order.
	Entries []string
}

// CreateTask takes a posted Task (with its ServiceRequest, Patient and
// requester contained) or a transaction Bundle holding them. ifNoneExist is
// the If-None-Exist header (a Bundle's Task entry may carry it as
// request.ifNoneExist instead): a conditional create, per FHIR R4, answers
// the clinic's one Task with that identifier if there is one. Every Task's
// identifiers are indexed for it. Errors: those of a referral's intake,
// Invalid for a Task handoff cannot take, PreconditionFailed when several
// Tasks carry the identifier.
func (a *App) CreateTask(ctx context.Context, clinicID string, body []byte, ifNoneExist string) (TaskCreated, error) {
	c, err := a.Clinic(ctx, clinicID)
	if err != nil {
		return TaskCreated{}, err
	}
	var head struct{ ResourceType string }
	if err := json.Unmarshal(body, &head); err != nil {
		return TaskCreated{}, problem.Errorf(problem.Malformed, "the body is not JSON")
	}
	var task taskIn
	var forIntake []byte
	var entries []string
	condField := "If-None-Exist"
	switch head.ResourceType {
	case "Bundle":
		tx, err := readTransaction(body)
		if err != nil {
			return TaskCreated{}, err
		}
		task, forIntake, entries = tx.task, tx.forIntake, tx.entries
		if tx.ifNoneExist != "" {
			ifNoneExist, condField = tx.ifNoneExist, "Bundle.entry.request.ifNoneExist"
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
	idents := dynamo.TaskIdentifiers{}
	if idents.All, err = identifiersOf(task); err != nil {
		return TaskCreated{}, err
	}
	if ifNoneExist != "" {
		if idents.Condition, err = conditionOf(condField, ifNoneExist); err != nil {
			return TaskCreated{}, err
		}
		if !slices.Contains(idents.All, idents.Condition) {
			idents.All = append(idents.All, idents.Condition) // so that a retry finds it
		}
	}
	for attempt := 0; ; attempt++ {
		if idents.Condition != "" {
			found, err := a.matchTask(ctx, c.ID, &idents)
			if err != nil {
				return TaskCreated{}, err
			}
			if found != nil {
				return TaskCreated{ID: found.Referral.ID, Task: fhirTaskOf(found), Entries: entries}, nil
			}
		}
		// A fresh delivery key: a FHIR create is never a replay of another.
		_, rec, err := a.createReferral(ctx, c, "fhir:"+NewID(a.now()), "application/fhir+json", forIntake, "fhir", idents)
		if errors.Is(err, dynamo.ErrTaskMatched) {
			if attempt < 3 {
				continue // another create with the identifier won: answer its Task
			}
			return TaskCreated{}, problem.Errorf(problem.Conflict, "other creates with this identifier keep winning: try again")
		}
		if err != nil {
			return TaskCreated{}, err
		}
		return TaskCreated{ID: rec.Referral.ID, Created: true, Task: fhirTaskOf(rec), Entries: entries}, nil
	}
}

// matchTask is a conditional create's search: the clinic's Task with the
// identifier, or nil (with idents.Seen set for the create's condition).
// Errors: PreconditionFailed for several.
func (a *App) matchTask(ctx context.Context, clinicID string, idents *dynamo.TaskIdentifiers) (*dynamo.Record, error) {
	m, err := a.Referrals.MatchTasks(ctx, clinicID, idents.Condition)
	if err != nil {
		return nil, err
	}
	idents.Seen = m.Seen
	switch len(m.IDs) {
	case 0:
		return nil, nil
	case 1:
		rec, err := a.fhirRecord(ctx, clinicID, m.IDs[0])
		if problem.Is(err, problem.NotFound) {
			return nil, nil // indexed but gone: make a new one
		}
		return rec, err
	}
	return nil, problem.Errorf(problem.PreconditionFailed, "%d of the clinic's Tasks carry this identifier: the conditional create cannot choose", len(m.IDs))
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
func (a *App) ReadTask(ctx context.Context, clinicID string, id string) (map[string]any, error) {
	rec, err := a.fhirRecord(ctx, clinicID, id)
	if err != nil {
		return nil, err
	}
	return fhirTaskOf(rec), nil
}

// CancelTask cancels a Task of the token's clinic: the body is the Task with
// status cancelled (nothing else may change). Errors: NotFound, Invalid,
// Conflict (the referral can no longer be cancelled).
func (a *App) CancelTask(ctx context.Context, clinicID string, id string, body []byte) (map[string]any, error) {
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
		rec, err := a.fhirRecord(ctx, clinicID, id)
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
		err = a.Apply(ctx, ch)
		if problem.Is(err, problem.Conflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		a.Log.InfoContext(ctx, "referral cancelled through FHIR", "clinic", clinicID, "referral", id)
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
	// The referral profile's references. handoff keeps neither the
	// ServiceRequest nor the Patient as resources (only what the referral
	// needs of them), so those two are named, not pointed to.
	t["focus"] = map[string]any{"type": "ServiceRequest", "display": "the referral's ServiceRequest (handoff keeps only its topics)"}
	t["for"] = map[string]any{"type": "Patient", "display": "the referred patient (handoff keeps only what the referral needs)"}
	t["requester"] = map[string]any{"type": "Organization", "identifier": map[string]any{"system": "urn:handoff:clinic", "value": rec.Referral.ClinicID}}
	t["owner"] = map[string]any{"type": "Organization", "display": "handoff, the coordination platform"}
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
	From   time.Time // _lastUpdated at or after (zero: any)
	Before time.Time // _lastUpdated before (zero: any)
	// Statuses are the FHIR Task statuses a Task may have (nil: any; empty:
	// none, as for status=completed&status=failed).
	Statuses []string
	IDs      []string // _id: the Tasks to read (nil: search the index)
	Count    int      // _count
	Cursor   string   // the next page's, from a next link
}

// SearchTasks answers a Task search with a searchset Bundle: the clinic's
// Tasks (created through FHIR) last updated in the range, oldest first,
// paged with a next link. A page is one Query of clinic-index and a read of
// each Task it lists (with _id, only the reads). self is the request's URL,
// for the links.
func (a *App) SearchTasks(ctx context.Context, clinicID string, q TaskSearch, self func(cursor string) string) (map[string]any, error) {
	ids, next := q.IDs, ""
	empty := q.Statuses != nil && len(q.Statuses) == 0 || !q.Before.IsZero() && !q.From.Before(q.Before)
	if ids == nil && !empty {
		page, err := a.Referrals.SearchTasks(ctx, clinicID, q.From, q.Before, q.Count, q.Cursor)
		if err != nil {
			return nil, err
		}
		ids, next = page.IDs, page.Next
	}
	entries := []any{}
	for _, id := range ids {
		if empty {
			break
		}
		rec, err := a.fhirRecord(ctx, clinicID, id)
		if problem.Is(err, problem.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r := rec.Referral
		if r.Source != "fhir" || r.UpdatedAt.Before(q.From) || (!q.Before.IsZero() && !r.UpdatedAt.Before(q.Before)) {
			continue // an index entry older than the referral (or not a Task)
		}
		t := fhirTaskOf(rec)
		if q.Statuses != nil && !slices.Contains(q.Statuses, t["status"].(string)) {
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
					"extension": []any{map[string]any{"url": "token", "valueUri": a.Config.PublicURL + "/oauth/token"}},
				}},
			},
			"resource": []any{map[string]any{
				"type": "Task", "supportedProfile": []string{"http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"},
				"interaction":       []any{map[string]any{"code": "create"}, map[string]any{"code": "read"}, map[string]any{"code": "update"}, map[string]any{"code": "search-type"}},
				"conditionalCreate": true,
				"searchParam": []any{
					map[string]any{"name": "_lastUpdated", "type": "date", "documentation": "gt, ge, lt, le or eq (no prefix: eq at the value's precision); repeat it for a range"},
					map[string]any{"name": "status", "type": "token", "documentation": "a comma list is OR; a repeated status is AND"},
					map[string]any{"name": "_id", "type": "token"}, map[string]any{"name": "_count", "type": "number", "documentation": "1 to 100 (20 by default); 0 is taken as 1"},
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
