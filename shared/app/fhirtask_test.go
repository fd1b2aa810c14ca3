package app

import "testing"

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
