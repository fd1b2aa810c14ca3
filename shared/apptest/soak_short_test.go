//go:build !soak

package apptest_test

// soakReferrals is TestSoak's size in `make test`: the least a run of the
// soak keeps to however slow the machine (two cohorts). `make soak` (build
// tag soak) runs 200, and TestSoakLong 2,000.
const soakReferrals = 50
