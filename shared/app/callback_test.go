package app

import (
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
