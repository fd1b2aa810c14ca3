package app

import (
	"context"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/ulids"
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
	Group  directory.GroupRef   `json:"group"`
	Status referral.RouteStatus `json:"status"`
	Reason string               `json:"reason,omitempty"`
	At     time.Time            `json:"at"`
}

var errClinicAuth = problem.Errorf(problem.Unauthorized, "a valid api key for this clinic is required (Authorization: Bearer <api_key>)")

// CheckClinicKey authenticates a clinic's api key. Errors:
// problem.Unauthorized (unknown clinic or wrong key: no hint which).
func (a *App) CheckClinicKey(ctx context.Context, clinicID, bearer string) error {
	c, err := a.Clinic(ctx, clinicID)
	if problem.Is(err, problem.NotFound) {
		return errClinicAuth
	}
	if err != nil {
		return err
	}
	if !apiKeyMatches(c, bearer) {
		return errClinicAuth
	}
	return nil
}

// ClinicReferral loads one of a clinic's referrals, with its routes and
// events (one Query). Errors: problem.NotFound (no such referral, or
// another clinic's: no hint which).
func (a *App) ClinicReferral(ctx context.Context, clinicID, id string) (*dynamo.Record, error) {
	notFound := problem.Errorf(problem.NotFound, "referral not found")
	if !ulids.Valid(id) {
		return nil, notFound
	}
	rec, err := a.Referrals.Load(ctx, id)
	if problem.Is(err, problem.NotFound) || (err == nil && rec.Referral.ClinicID != clinicID) {
		return nil, notFound
	}
	return rec, err
}

// StatusViewOf is a clinic's view of a referral as loaded.
func StatusViewOf(rec *dynamo.Record) StatusView {
	r := rec.Referral
	v := StatusView{
		ID: r.ID, ExternalID: r.ExternalID, Status: r.Status, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Timeline: []TimelineEntry{}, Routes: []RouteView{},
	}
	if fm := r.FirstMeeting; fm != nil {
		v.FirstMeeting = &FirstMeetingView{GroupID: fm.GroupID, StartsAt: occurrence.Zoned(fm.Start, fm.Zone), EndsAt: occurrence.Zoned(fm.End, fm.Zone)}
	}
	for _, e := range rec.Events {
		if e.Type == referral.StatusChanged || e.Type == referral.Noted {
			v.Timeline = append(v.Timeline, TimelineEntry{At: e.At, Status: e.Status, Detail: e.Detail})
		}
	}
	for _, rt := range rec.Routes {
		v.Routes = append(v.Routes, RouteView{Group: directory.GroupRef{ID: rt.GroupID, Name: rt.GroupName}, Status: rt.Status, Reason: rt.Reason, At: rt.At})
	}
	return v
}

// CancelReferral is a clinic's cancel of one of its referrals, whichever
// way it asks (the clinic API's DELETE, a FHIR Task's status set to
// cancelled): an open referral is cancelled (a group already notified is
// told) and returned as it now is. Cancelling a referral cancelled before
// changes nothing: it is returned as it is, with already true (each
// protocol answers that its own way). Errors: those of ClinicReferral, and
// problem.Conflict for a referral closed otherwise (it can no longer be
// cancelled).
func (a *App) CancelReferral(ctx context.Context, clinicID, id string) (rec *dynamo.Record, already bool, err error) {
	for attempt := 0; ; attempt++ {
		rec, err := a.ClinicReferral(ctx, clinicID, id)
		if err != nil {
			return nil, false, err
		}
		r := rec.Referral
		if r.Status == referral.Cancelled {
			return rec, true, nil
		}
		if !r.CanMove(referral.Cancelled) {
			return nil, false, problem.Errorf(problem.Conflict, "the referral is %s and can no longer be cancelled", r.Status)
		}
		ch := a.close(rec, referral.Cancelled, "cancelled by the clinic")
		err = a.Apply(ctx, ch)
		if problem.Is(err, problem.Conflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		a.Log.InfoContext(ctx, "referral cancelled", "clinic", clinicID, "referral", r.ID)
		rec.Referral = ch.Referral
		rec.Events = append(rec.Events, ch.Events...)
		return rec, false, nil
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
