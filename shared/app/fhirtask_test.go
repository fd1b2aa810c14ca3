package app

import "testing"

// TestScopeAllows: SMART v2 letters (cruds, in order), v1 read/write/*, and
// Task or * only.
func TestScopeAllows(t *testing.T) {
	for _, c := range []struct {
		scope string
		allow string // of c, r, u, s
	}{
		{"system/Task.cru", "cru"}, {"system/Task.rs", "rs"}, {"system/Task.s", "s"}, {"system/Task.cruds", "crus"},
		{"system/Task.read", "rs"}, {"system/Task.write", "cu"}, {"system/*.*", "crus"}, {"system/*.rs", "rs"},
		{"system/Subscription.cru", ""}, {"system/Task.sr", ""}, {"system/Task.rr", ""}, {"system/Task.", ""},
		{"user/Task.cruds", ""}, {"patient/Task.read", ""}, {"system/Task.rs?status=requested", ""}, {"system/Task.x", ""},
	} {
		for _, l := range []string{"c", "r", "u", "s"} {
			want := false
			for _, a := range c.allow {
				want = want || string(a) == l
			}
			if got := scopeAllows(c.scope, l); got != want {
				t.Errorf("%s allows %s: %v, want %v", c.scope, l, got, want)
			}
		}
	}
}

// TestConditionOf: one identifier with its system (or none: |value); every
// other search is refused, saying what is supported.
func TestConditionOf(t *testing.T) {
	for in, want := range map[string]string{
		"identifier=urn:ehr:orders|ORD-1":       "urn:ehr:orders|ORD-1",
		"identifier=urn%3Aehr%3Aorders%7CORD-1": "urn:ehr:orders|ORD-1",
		"?identifier=urn:ehr:orders|ORD+1":      "urn:ehr:orders|ORD+1",
		"identifier=|ORD-1":                     "|ORD-1",
		"identifier=ORD-1":                      "",
		"identifier=urn:ehr:orders|":            "",
		"identifier=a|1,a|2":                    "",
		"identifier=a|1&status=requested":       "",
		"status=requested":                      "",
		"identifier=urn:ehr:orders|ORD-1%ZZ":    "",
		"":                                      "",
	} {
		got, err := conditionOf("If-None-Exist", in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}
