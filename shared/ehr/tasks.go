package ehr

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/problem"
)

// The FHIR R4 Task API (Gravity SDOH Clinical Care IG, handoff as the
// coordination platform): a Task creates a referral through the same intake
// as a signed webhook; the Task read back is the clinic's view of it.

// Base is the FHIR base URL.
func (s *Service) Base() string { return s.App.Config.PublicURL + "/fhir" }

// taskOf is a referral as its Task.
func taskOf(rec *dynamo.Record) fhir.Task {
	return fhir.TaskOf(rec.Referral, rec.Routes, rec.Events)
}

// TaskCreated is a created (or, for a conditional create, found) Task.
type TaskCreated struct {
	Task    fhir.Task
	Created bool // false: the conditional create found the Task
}

// CreateTask creates a referral from a Task read once (fhir.ReadTaskCreate,
// through intake.ReadTask): a conditional create first answers the
// clinic's one Task with its identifier, if there is one; otherwise the
// Task's referral goes through intake's mapping (codes to topics, then
// dropped) and the core's one intake transaction, its identifiers indexed
// in it. A plain create makes one write and no read (with the clinic in
// the core's cache). Errors: those of intake.FromFHIR and
// app.CreateReferral, problem.PreconditionFailed when several of the
// clinic's Tasks carry the identifier, problem.Conflict when other creates
// with it keep winning.
func (s *Service) CreateTask(ctx context.Context, clinicID string, tc fhir.TaskCreate) (TaskCreated, error) {
	c, err := s.App.Clinic(ctx, clinicID)
	if err != nil {
		return TaskCreated{}, err
	}
	idents := dynamo.TaskIdentifiers{All: tc.Identifiers, Condition: tc.Condition}
	for attempt := 0; ; attempt++ {
		if idents.Condition != "" {
			found, err := s.matchTask(ctx, c.ID, &idents)
			if err != nil {
				return TaskCreated{}, err
			}
			if found != nil {
				return TaskCreated{Task: taskOf(found)}, nil
			}
		}
		in, err := intake.FromFHIR(tc.Referral)
		if err != nil {
			return TaskCreated{}, err
		}
		_, rec, err := s.App.CreateReferral(ctx, c, in, app.Arrival{Source: "fhir", Media: intake.MediaFHIR, Identifiers: idents})
		if errors.Is(err, dynamo.ErrTaskMatched) {
			if attempt < 3 {
				continue // another create with the identifier won: answer its Task
			}
			return TaskCreated{}, problem.Errorf(problem.Conflict, "other creates with this identifier keep winning: try again")
		}
		if err != nil {
			return TaskCreated{}, err
		}
		return TaskCreated{Task: taskOf(rec), Created: true}, nil
	}
}

// matchTask is a conditional create's search: the clinic's Task with the
// identifier, or nil (with idents.Seen set for the create's condition).
// Errors: PreconditionFailed for several.
func (s *Service) matchTask(ctx context.Context, clinicID string, idents *dynamo.TaskIdentifiers) (*dynamo.Record, error) {
	m, err := s.App.Referrals.MatchTasks(ctx, clinicID, idents.Condition)
	if err != nil {
		return nil, err
	}
	idents.Seen = m.Seen
	switch len(m.IDs) {
	case 0:
		return nil, nil
	case 1:
		rec, err := s.App.ClinicReferral(ctx, clinicID, m.IDs[0])
		if problem.Is(err, problem.NotFound) {
			return nil, nil // indexed but gone: make a new one
		}
		return rec, err
	}
	return nil, problem.Errorf(problem.PreconditionFailed, "%d of the clinic's Tasks carry this identifier: the conditional create cannot choose", len(m.IDs))
}

// ReadTask is a Task of the token's clinic. Errors: NotFound.
func (s *Service) ReadTask(ctx context.Context, clinicID, id string) (fhir.Task, error) {
	rec, err := s.App.ClinicReferral(ctx, clinicID, id)
	if err != nil {
		return fhir.Task{}, err
	}
	return taskOf(rec), nil
}

// CancelTask is the requester's cancel (PUT with status cancelled): the
// core's one cancel. A Task cancelled before answers as it is, an update
// to the state it already has. Errors: NotFound, Conflict (the referral
// closed otherwise and can no longer be cancelled).
func (s *Service) CancelTask(ctx context.Context, clinicID, id string) (fhir.Task, error) {
	rec, _, err := s.App.CancelReferral(ctx, clinicID, id)
	if err != nil {
		return fhir.Task{}, err
	}
	return taskOf(rec), nil
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
// each Task it lists (with _id, only the reads). self is the request's URL
// with a cursor, for the links.
func (s *Service) SearchTasks(ctx context.Context, clinicID string, q TaskSearch, self func(cursor string) string) (fhir.Bundle, error) {
	ids, next := q.IDs, ""
	empty := q.Statuses != nil && len(q.Statuses) == 0 || !q.Before.IsZero() && !q.From.Before(q.Before)
	if ids == nil && !empty {
		page, err := s.App.Referrals.SearchTasks(ctx, clinicID, q.From, q.Before, q.Count, q.Cursor)
		if err != nil {
			return fhir.Bundle{}, err
		}
		ids, next = page.IDs, page.Next
	}
	var tasks []fhir.Task
	for _, id := range ids {
		if empty {
			break
		}
		rec, err := s.App.ClinicReferral(ctx, clinicID, id)
		if problem.Is(err, problem.NotFound) {
			continue
		}
		if err != nil {
			return fhir.Bundle{}, err
		}
		r := rec.Referral
		if r.Source != "fhir" || r.UpdatedAt.Before(q.From) || (!q.Before.IsZero() && !r.UpdatedAt.Before(q.Before)) {
			continue // an index entry older than the referral (or not a Task)
		}
		t := taskOf(rec)
		if q.Statuses != nil && !slices.Contains(q.Statuses, t.Status) {
			continue
		}
		tasks = append(tasks, t)
	}
	nextURL := ""
	if next != "" {
		nextURL = self(next)
	}
	return fhir.Searchset(s.Base(), tasks, self(q.Cursor), nextURL), nil
}

// Capabilities is GET /fhir/metadata.
func (s *Service) Capabilities() fhir.CapabilityStatement {
	return fhir.Capabilities(s.Base(), s.App.Config.PublicURL+"/oauth/token")
}
