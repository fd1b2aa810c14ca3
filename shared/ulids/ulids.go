// Package ulids makes time-ordered ids (ULIDs) that keep the order they were
// made in within a millisecond, whatever other times are asked for between.
//
// The ULID library's default entropy is monotonic for one millisecond at a
// time: asked for an id at another time, it forgets the last one, and the
// next id for the first time comes from fresh entropy — before or after the
// ids already made then, by chance. A process whose callers pass different
// clocks (tests running side by side, each with its own) would then order
// one referral's events at random. Here each of the recent milliseconds
// keeps its own monotonic entropy.
package ulids

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// recent is how many milliseconds keep their entropy: the one a process
// runs at, and the clocks of the tests that share it.
const recent = 64

var gen struct {
	sync.Mutex
	ms      [recent]uint64
	entropy [recent]*ulid.MonotonicEntropy
	used    [recent]uint64 // when each slot was last used, in calls
	calls   uint64
}

// New returns a new ULID for now. Ids made in one process for the same
// millisecond sort in the order they were made (up to recent other
// milliseconds asked for in between). It panics only if one millisecond's
// entropy overflows (after some 2^48 ids).
func New(now time.Time) string {
	ms := ulid.Timestamp(now)
	gen.Lock()
	defer gen.Unlock()
	gen.calls++
	slot, oldest := -1, 0
	for i := range recent {
		if gen.entropy[i] != nil && gen.ms[i] == ms {
			slot = i
			break
		}
		if gen.used[i] < gen.used[oldest] {
			oldest = i
		}
	}
	if slot < 0 {
		slot = oldest
		gen.ms[slot], gen.entropy[slot] = ms, ulid.Monotonic(rand.Reader, 0)
	}
	gen.used[slot] = gen.calls
	return ulid.MustNew(ms, gen.entropy[slot]).String()
}

// Valid reports whether s is an id as New writes it (a ULID in upper case),
// before any read.
func Valid(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil && s == strings.ToUpper(s)
}
