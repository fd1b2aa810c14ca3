package app

import (
	"hash/fnv"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/referral"
)

// Every stored group has a listing-check schedule: its next check is a
// pending referral.ListingCheck event in the group's own partition (see
// dynamo.GroupPartition). The directory's writes here (PutGroup,
// StoreGroups) give a new group its first check, in the group's own
// transaction; what a check does, and the contact's answers that move the
// schedule, are shared/listing's.

// ListingCheck is a listing check of group gid, due at due: periodic marks
// a check of the group's schedule (each schedules the next), not one an
// operator asked for.
func (a *App) ListingCheck(gid string, due time.Time, periodic bool) referral.Event {
	now := a.now()
	data := map[string]string{"group": gid}
	if periodic {
		data["periodic"] = "1"
	}
	return referral.Event{ID: NewID(now), Partition: dynamo.GroupPartition(gid), Type: referral.ListingCheck, At: now, Due: due, Data: data}
}

// listingSchedule gives a stored group that has no listing-check schedule
// its first check, due at due(its id), in the group's own transaction (see
// dynamo.GroupSchedule); a schedule it has is kept as it is.
func (a *App) listingSchedule(due func(gid string) time.Time) *dynamo.GroupSchedule {
	return &dynamo.GroupSchedule{Referrals: a.Referrals, First: func(gid string) referral.Event {
		return a.ListingCheck(gid, due(gid), true)
	}}
}

// importSpread is the share of a period over which an import's first
// checks are spread: a feed of thousands of groups does not email all
// their contacts on one day.
const importSpread = 4 // a quarter

// importedCheckDue is when the first check of a group an import stored is
// due: a period from now, plus an offset under a quarter of the period that
// the group's id fixes (to the second), so the same group gets the same
// offset and a feed's groups fall evenly over those weeks. Each later check
// is a period after the one before, so the spread lasts.
func (a *App) importedCheckDue(gid string) time.Time {
	every := a.Config.ListingCheckEvery
	due := a.now().Add(every)
	window := uint64(every / importSpread / time.Second)
	if window == 0 {
		return due
	}
	h := fnv.New64a()
	h.Write([]byte(gid))
	return due.Add(time.Duration(h.Sum64()%window) * time.Second)
}
