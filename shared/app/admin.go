package app

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
)

// Clock returns the current time (UTC).
func (a *App) Clock() time.Time { return a.now() }

// Healthy checks that the tables answer.
func (a *App) Healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return a.Referrals.Ping(ctx)
}

// PutGroup normalizes, validates and stores a group listing (see
// dynamo.Directory.PutGroup); it reports whether it was new.
// A group without a listing-check schedule gets one, written with it: its
// first check is due a period later, or, for a listing of a feed (the
// operator tool imports feeds by PUTs), spread as an import's are (see
// importedCheckDue). keepTexts is for a listing that does not say whether
// its contact takes texts (a PUT without contact.texts, as the operator
// tool's): the same contact keeps the agreement stored.
func (a *App) PutGroup(ctx context.Context, g directory.Group, keepTexts bool) (bool, error) {
	due := func(string) time.Time { return a.now().Add(a.Config.ListingCheckEvery) }
	if src := strings.TrimSpace(g.Source); src != "" && !strings.EqualFold(src, "admin") {
		due = a.importedCheckDue
	}
	return a.Directory.PutGroupWith(ctx, g, dynamo.PutGroupOptions{Schedule: a.listingSchedule(due), KeepTexts: keepTexts})
}

// StoreGroups stores an import's listings (see dynamo.Directory.ImportGroups),
// each one that has no listing-check schedule with its first check, spread
// over weeks (see importedCheckDue), in its own transaction. Re-importing a
// group keeps its schedule.
func (a *App) StoreGroups(ctx context.Context, groups []directory.Group) (imported, updated int, skipped []directory.Skip, err error) {
	return a.Directory.ImportGroups(ctx, groups, dynamo.ImportHooks{Schedule: a.listingSchedule(a.importedCheckDue)})
}

// ImportResult is the answer to an import.
type ImportResult struct {
	Imported int              `json:"imported"`
	Updated  int              `json:"updated"`
	Skipped  []directory.Skip `json:"skipped"`
	// InferredTimezone names the zone given to meetings whose rows named
	// none (the one the feed's located meetings agree on), and those rows.
	InferredTimezone *directory.InferredZone `json:"inferred_timezone,omitempty"`
	// Withdrawn lists the groups of the import's source that the feed no
	// longer carries, now paused (only with ImportOptions.WithdrawMissing).
	Withdrawn []string `json:"withdrawn"`
}

// WithdrawnReason is the pause reason of a group its feed no longer carries.
const WithdrawnReason = "no longer in its feed"

// ImportGroups imports a Meeting Guide or HSDS feed (see StoreGroups: every
// group it stores has a listing-check schedule). A bad row is skipped with
// its reason; a feed that cannot be read at all is a problem.Malformed error.
func (a *App) ImportGroups(ctx context.Context, format string, body []byte, opt directory.ImportOptions) (ImportResult, error) {
	if opt.WithdrawMissing && strings.TrimSpace(opt.Source) == "" {
		return ImportResult{}, problem.Invalidf([]problem.FieldError{{Field: "source", Detail: "name the feed to withdraw the groups it no longer carries"}}, "withdraw_missing needs a source")
	}
	var (
		res directory.Result
		err error
	)
	switch format {
	case "meeting-guide":
		res, err = directory.ImportMeetingGuide(bytes.NewReader(body), opt)
	case "hsds":
		res, err = directory.ImportHSDS(bytes.NewReader(body), opt)
	default:
		return ImportResult{}, problem.Invalidf([]problem.FieldError{{Field: "format", Detail: "must be meeting-guide or hsds"}}, "unknown import format")
	}
	if err != nil {
		return ImportResult{}, err
	}
	imported, updated, skipped, err := a.StoreGroups(ctx, res.Groups)
	if err != nil {
		return ImportResult{}, err
	}
	out := ImportResult{Imported: imported, Updated: updated, Skipped: append(res.Skipped, skipped...), Withdrawn: []string{}}
	if res.InferredZone.Timezone != "" {
		out.InferredTimezone = &res.InferredZone
	}
	if out.Skipped == nil {
		out.Skipped = []directory.Skip{}
	}
	// A feed that yields no group at all is more likely broken than empty:
	// it withdraws nothing.
	if opt.WithdrawMissing && len(res.Groups) > 0 {
		keep := make(map[string]bool, len(res.Groups))
		for _, g := range res.Groups {
			keep[g.ID] = true
		}
		withdrawn, err := a.Directory.WithdrawMissing(ctx, res.Groups[0].Source, keep, WithdrawnReason)
		if err != nil {
			return ImportResult{}, err
		}
		if withdrawn != nil {
			out.Withdrawn = withdrawn
		}
	}
	a.Log.InfoContext(ctx, "groups imported", "format", format, "imported", imported, "updated", updated,
		"skipped", len(out.Skipped), "withdrawn", len(out.Withdrawn))
	return out, nil
}
