package app

import (
	"errors"
	"testing"
	"time"
)

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	prev := time.Duration(0)
	for n := 1; n <= 20; n++ {
		d := Backoff(n)
		if d <= 0 || d > time.Hour+time.Hour/5 {
			t.Fatalf("backoff(%d) = %v", n, d)
		}
		if n <= 10 && d < prev/2 {
			t.Fatalf("backoff(%d) = %v shrank from %v", n, d, prev)
		}
		prev = d
	}
	// The attempts span at least the 72 hours the contract promises before the
	// window closes: sum of the capped schedule.
	var total time.Duration
	for n := 1; total < CallbackWindow; n++ {
		total += time.Second << min(n-1, 12)
		if n > 200 {
			t.Fatal("the schedule never reaches the retry window")
		}
	}
}

// TestSoonest: an effect's independent posts combine to nil when all went,
// to a failure that is not a Later before any Later, else to the Later
// that comes first, whatever their order.
func TestSoonest(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	soon, late := Later(now.Add(time.Minute), "soon"), Later(now.Add(time.Hour), "late")
	failed := errors.New("the store failed")
	if err := Soonest(nil, nil); err != nil {
		t.Errorf("all went: %v", err)
	}
	if err := Soonest(late, nil, soon); err != soon {
		t.Errorf("two Laters: %v, want the sooner", err)
	}
	if err := Soonest(soon, failed, late); err != failed {
		t.Errorf("a failure among Laters: %v", err)
	}
	if at, ok := RetryAt(Soonest(nil, late)); !ok || !at.Equal(now.Add(time.Hour)) {
		t.Errorf("one Later: %v %v", at, ok)
	}
}
