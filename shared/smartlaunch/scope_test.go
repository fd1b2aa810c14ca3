package smartlaunch

import (
	"strings"
	"testing"
)

// What the EHR grants may be what was asked or narrower, never wider.
func TestBeyond(t *testing.T) {
	for _, c := range []struct {
		granted string
		beyond  string
	}{
		{Scope, ""},
		{"launch openid fhirUser patient/Patient.r", ""},        // narrower: fewer scopes
		{"patient/Condition.r patient/Condition.s", ""},         // narrower letters
		{"patient/Condition.rs?category=problem-list-item", ""}, // a query narrows
		{"patient/Condition.read", ""},                          // v1 read = rs
		{"patient/Patient.rs", "patient/Patient.rs"},            // search on Patient was not asked
		{"patient/Observation.rs", "patient/Observation.rs"},
		{"patient/*.rs", "patient/*.rs"},
		{"user/Patient.r", "user/Patient.r"},
		{"patient/Condition.cruds", "patient/Condition.cruds"},
		{"patient/Condition.write", "patient/Condition.write"},
		{"patient/Condition.*", "patient/Condition.*"},
		{"offline_access online_access", "offline_access online_access"},
		{"launch/patient", "launch/patient"},
		{"patient/Condition.", "patient/Condition."},
	} {
		if got := strings.Join(beyond(Scope, c.granted), " "); got != c.beyond {
			t.Errorf("beyond(%q) = %q, want %q", c.granted, got, c.beyond)
		}
	}
}
