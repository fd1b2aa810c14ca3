package app

import (
	"context"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// StatusView is what a clinic reads about its referral: no patient contact data.
type StatusView struct {
	ID         string          `json:"id"`
	ExternalID string          `json:"external_id,omitempty"`
	Status     referral.Status `json:"status"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	Timeline   []TimelineEntry `json:"timeline"`
	Routes     []RouteView     `json:"routes"`
	// FirstMeeting is the first meeting the accepting group chose, when it
	// chose one.
	FirstMeeting *FirstMeetingView `json:"first_meeting,omitempty"`
}

// FirstMeetingView is a first meeting as its clinic reads it: the group,
// and when, in the meeting's own offset.
type FirstMeetingView struct {
	GroupID  string    `json:"group_id"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// TimelineEntry is one status change.
type TimelineEntry struct {
	At     time.Time       `json:"at"`
	Status referral.Status `json:"status"`
	Detail string          `json:"detail,omitempty"`
}

// RouteView is one group approached.
type RouteView struct {
	Group  GroupRef             `json:"group"`
	Status referral.RouteStatus `json:"status"`
	Reason string               `json:"reason,omitempty"`
	At     time.Time            `json:"at"`
}

// GroupRef names a group.
type GroupRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

var errClinicAuth = problem.Errorf(problem.Unauthorized, "a valid api key for this clinic is required (Authorization: Bearer <api_key>)")

// clinicRecord authenticates a clinic's api key and loads one of its referrals.
// Errors: problem.Unauthorized (unknown clinic or wrong key), problem.NotFound
// (no such referral, or another clinic's).
func (a *App) clinicRecord(ctx context.Context, clinicID, bearer, id string) (*dynamo.Record, error) {
	c, err := a.Clinic(ctx, clinicID)
	if problem.Is(err, problem.NotFound) {
		return nil, errClinicAuth
	}
	if err != nil {
		return nil, err
	}
	if !apiKeyMatches(c, bearer) {
		return nil, errClinicAuth
	}
	if !validID(id) {
		return nil, problem.Errorf(problem.NotFound, "referral not found")
	}
	rec, err := a.Referrals.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec.Referral.ClinicID != clinicID {
		return nil, problem.Errorf(problem.NotFound, "referral not found")
	}
	return rec, nil
}

// validID reports whether s can be a referral id (a ULID), before any read.
func validID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// ReferralStatus returns a clinic's view of one referral.
func (a *App) ReferralStatus(ctx context.Context, clinicID, bearer, id string) (StatusView, error) {
	rec, err := a.clinicRecord(ctx, clinicID, bearer, id)
	if err != nil {
		return StatusView{}, err
	}
	return statusView(rec), nil
}

func statusView(rec *dynamo.Record) StatusView {
	r := rec.Referral
	v := StatusView{
		ID: r.ID, ExternalID: r.ExternalID, Status: r.Status, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Timeline: []TimelineEntry{}, Routes: []RouteView{},
	}
	if fm := r.FirstMeeting; fm != nil {
		v.FirstMeeting = &FirstMeetingView{GroupID: fm.GroupID, StartsAt: zoned(fm.Start, fm.Zone), EndsAt: zoned(fm.End, fm.Zone)}
	}
	for _, e := range rec.Events {
		if e.Type == referral.StatusChanged || e.Type == referral.Noted {
			v.Timeline = append(v.Timeline, TimelineEntry{At: e.At, Status: e.Status, Detail: e.Detail})
		}
	}
	for _, rt := range rec.Routes {
		v.Routes = append(v.Routes, RouteView{Group: GroupRef{ID: rt.GroupID, Name: rt.GroupName}, Status: rt.Status, Reason: rt.Reason, At: rt.At})
	}
	return v
}

// CancelReferral cancels an open referral for its clinic; a group already
// notified is told. Errors: those of ReferralStatus, and problem.Conflict for a
// closed referral.
func (a *App) CancelReferral(ctx context.Context, clinicID, bearer, id string) (StatusView, error) {
	for attempt := 0; ; attempt++ {
		rec, err := a.clinicRecord(ctx, clinicID, bearer, id)
		if err != nil {
			return StatusView{}, err
		}
		r := rec.Referral
		if !r.CanMove(referral.Cancelled) {
			return StatusView{}, problem.Errorf(problem.Conflict, "the referral is %s and can no longer be cancelled", r.Status)
		}
		ch := a.close(rec, referral.Cancelled, "cancelled by the clinic")
		err = a.Apply(ctx, ch)
		if problem.Is(err, problem.Conflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return StatusView{}, err
		}
		a.Log.InfoContext(ctx, "referral cancelled", "clinic", clinicID, "referral", r.ID)
		rec.Events = append(rec.Events, ch.Events...)
		return statusView(rec), nil
	}
}

// close moves a referral to a closing status (cancelled, revoked), withdraws
// every open route (each withdrawn group gets an email) and records the change.
func (a *App) close(rec *dynamo.Record, to referral.Status, detail string) dynamo.Change {
	r := rec.Referral
	now := a.now()
	r.Status, r.UpdatedAt = to, now
	ch := dynamo.Change{Referral: r}
	routes := make([]referral.Route, len(rec.Routes))
	copy(routes, rec.Routes)
	for i, rt := range routes {
		if referral.CanMoveRoute(rt.Status, referral.RouteWithdrawn) {
			routes[i].Status, routes[i].At = referral.RouteWithdrawn, now
			seq := rt.Seq
			ch.Events = append(ch.Events, a.NewEvent(r, referral.Withdrawn, now, func(e *referral.Event) {
				e.Data = map[string]string{"route": itoa(seq), "group": rt.GroupID}
			}))
			ch.Routes = append(ch.Routes, routes[i])
		}
	}
	rec.Routes = routes
	ch.Events = append(ch.Events, a.StatusEvent(r, detail))
	return ch
}

// fhirTaskStatus maps a referral status to FHIR R4 Task.status.
var fhirTaskStatus = map[referral.Status]string{
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

// FHIRTask renders a clinic's view of a referral as a FHIR R4 Task.
func FHIRTask(v StatusView) map[string]any {
	ids := []map[string]any{{"system": "urn:handoff:referral", "value": v.ID}}
	if v.ExternalID != "" {
		ids = append(ids, map[string]any{"system": "urn:handoff:external-id", "value": v.ExternalID})
	}
	task := map[string]any{
		"resourceType":   "Task",
		"id":             v.ID,
		"identifier":     ids,
		"status":         fhirTaskStatus[v.Status],
		"businessStatus": map[string]any{"coding": []map[string]any{{"system": "urn:handoff:referral-status", "code": string(v.Status)}}, "text": string(v.Status)},
		"intent":         "order",
		"code":           map[string]any{"coding": []map[string]any{{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}}},
		"authoredOn":     v.CreatedAt.Format(time.RFC3339),
		"lastModified":   v.UpdatedAt.Format(time.RFC3339),
	}
	var out []map[string]any
	for _, rt := range v.Routes {
		out = append(out, map[string]any{
			"type":        map[string]any{"text": "route"},
			"valueString": rt.Group.Name + ": " + string(rt.Status),
		})
	}
	if len(out) > 0 {
		task["output"] = out
	}
	return task
}
