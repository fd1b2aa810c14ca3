package ulids_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/handoff-health/handoff/shared/ulids"
)

// TestOrderKeptAcrossOtherTimes: ids for one millisecond keep their order
// when ids for other times are made between them — with the library's
// default entropy about half of them would not.
func TestOrderKeptAcrossOtherTimes(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for i := range 1000 {
		a := ulids.New(t0)
		for j := range 10 {
			_ = ulids.New(t0.Add(time.Duration(j+1) * time.Hour)) // other clocks
		}
		if b := ulids.New(t0); b <= a {
			t.Fatalf("round %d: %s made after %s sorts before it", i, b, a)
		}
	}
}

// TestIDs: valid ULIDs of the time asked for, distinct and ordered when
// made side by side.
func TestIDs(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			last := ""
			for range 500 {
				id := ulids.New(now)
				u, err := ulid.ParseStrict(id)
				if err != nil || !ulid.Time(u.Time()).Equal(now) {
					t.Errorf("%s: %v, time %v", id, err, ulid.Time(u.Time()))
					return
				}
				if id <= last {
					t.Errorf("%s after %s", id, last)
				}
				last = id
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 8*500 {
		t.Errorf("%d distinct ids of %d", len(seen), 8*500)
	}
	if later := ulids.New(now.Add(time.Millisecond)); later <= ulids.New(now) {
		t.Error("an id a millisecond later sorts first")
	}
}

// TestValid: an id New made is valid; one in lower case, of another
// length, with a letter Crockford's base32 leaves out, or past the largest
// time is not.
func TestValid(t *testing.T) {
	id := ulids.New(time.Now())
	if !ulids.Valid(id) {
		t.Errorf("Valid(%q) = false", id)
	}
	for _, bad := range []string{"", strings.ToLower(id), id[:25], id + "0", "01ARZ3NDEKTSV4RRFFQ69G5FAU", "81ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FA-"} {
		if ulids.Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
}
