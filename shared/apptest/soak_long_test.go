//go:build soak

package apptest_test

import (
	"testing"
	"time"
)

// soakReferrals is TestSoak's size in `make soak`.
const soakReferrals = 200

// TestSoakLong is TestSoak with 2,000 referrals (HANDOFF_SOAK_N overrides),
// for `make soak`; it starts no new cohort after 45 minutes.
func TestSoakLong(t *testing.T) {
	runSoak(t, soakSize(t, 2000), 45*time.Minute)
}
