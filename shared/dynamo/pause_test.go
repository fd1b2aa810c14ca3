package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
)

// TestTimedPauseEndsWithoutAWrite: a pause with an end keeps the group's
// index items, carrying the end; matching skips the group until then and
// offers it from then on with nothing written, and reading the group lifts
// the pause. Any other pause (a bounce, its feed) has no end and removes the
// items, also when it comes during a timed pause.
func TestTimedPauseEndsWithoutAWrite(t *testing.T) {
	ctx := context.Background()
	now := dirNow
	d, db := newDirectory(t)
	d.Now = func() time.Time { return now }
	until := dirNow.Add(14 * 24 * time.Hour)
	for _, id := range []string{"resting", "bounced", "withdrawn"} {
		put(t, d, grp(id, loopLat, loopLon))
		err := d.EditGroup(ctx, id, func(g *directory.Group) bool {
			g.Paused, g.PausedReason, g.PausedUntil = true, "paused by its contact", until
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if keys := indexItemsOf(t, db, id); len(keys) != 3 {
			t.Fatalf("%s: a timed pause should keep the index items, has %v", id, keys)
		}
	}
	if err := d.Pause(ctx, "bounced", "contact email bounce"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WithdrawMissing(ctx, "test", map[string]bool{"resting": true, "bounced": true}, "no longer in its feed"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bounced", "withdrawn"} {
		if g, _ := d.GetGroup(ctx, id); !g.Paused || !g.PausedUntil.IsZero() {
			t.Errorf("%s: paused %v until %v, want paused with no end", id, g.Paused, g.PausedUntil)
		}
		if keys := indexItemsOf(t, db, id); len(keys) != 0 {
			t.Errorf("%s: a pause with no end keeps index items %v", id, keys)
		}
	}
	matched := func() []string {
		t.Helper()
		ms, err := d.Match(ctx, directory.Query{Topics: []string{"alcohol"}, Lat: loopLat, Lon: loopLon, HasLocation: true, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.Group.ID)
		}
		return ids
	}
	if ids := matched(); len(ids) != 0 {
		t.Fatalf("during the pause: offered %v", ids)
	}
	now = until
	if ids := matched(); len(ids) != 1 || ids[0] != "resting" {
		t.Fatalf("at the pause's end, with nothing written: offered %v, want [resting]", ids)
	}
	g, _ := d.GetGroup(ctx, "resting")
	if g.Paused || !g.PausedUntil.IsZero() || g.PausedReason != "" {
		t.Errorf("read after the pause's end: paused %v until %v (%q)", g.Paused, g.PausedUntil, g.PausedReason)
	}
	// The next write stores the lifted pause, even one that changes nothing
	// else; a PUT after the end does not bring the pause back.
	if err := d.EditGroup(ctx, "resting", func(*directory.Group) bool { return false }); err != nil {
		t.Fatal(err)
	}
	put(t, d, grp("resting", loopLat, loopLon))
	cands, _, err := d.Candidates(ctx, directory.Query{Topics: []string{"alcohol"}, Lat: loopLat, Lon: loopLon, HasLocation: true, Now: now})
	if err != nil || len(cands) != 1 || cands[0].Paused || !cands[0].PausedUntil.IsZero() {
		t.Errorf("index after the pause's end and a write: %+v (%v)", cands, err)
	}
	if keys := dynamo.IndexKeys(g); len(keys) != 3 {
		t.Errorf("IndexKeys after the pause: %v", keys)
	}
}
