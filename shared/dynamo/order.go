package dynamo

import (
	"context"
	"time"

	"github.com/handoff-health/handoff/shared/referral"
)

// Recorded reports whether an effect's ledger entry is recorded done (its
// outside action happened, or was given up): not merely claimed, and not
// missing. Errors: a failure to read the ledger.
func (s *Referrals) Recorded(ctx context.Context, effectKey string) (bool, error) {
	state, err := s.ledgerState(ctx, effectKey)
	return state == "done", err
}

// Unrecorded finds rec's events of ev's type that came before ev, are still
// pending, and have not recorded the effect key(id) names (Recorded): it
// reports whether there are any and, when there are, the latest of their
// next due times (none of them can finish that effect before then). It
// reads one ledger entry per earlier pending event of ev's type, and none
// when there is no such event. Errors: a failure to read the ledger.
func (s *Referrals) Unrecorded(ctx context.Context, rec *Record, ev referral.Event, key func(id string) string) (due time.Time, found bool, err error) {
	for _, e := range rec.Events {
		if e.Type != ev.Type || e.ID >= ev.ID || !rec.Pending[e.ID] {
			continue
		}
		done, err := s.Recorded(ctx, key(e.ID))
		if err != nil {
			return time.Time{}, false, err
		}
		if !done && (!found || e.Due.After(due)) {
			due, found = e.Due, true
		}
	}
	return due, found, nil
}
