package smartlaunch

import (
	"regexp"
	"strings"
)

// Scope is exactly what handoff asks an EHR for: the launch context, the
// clinician's identity, and reading the open patient's record and searching
// their Conditions — nothing wider.
const Scope = "launch openid fhirUser patient/Patient.r patient/Condition.rs"

// resourceScope is a SMART clinical scope: v2 (patient/Condition.rs, with an
// optional query) or v1 (patient/Condition.read, .write, .*).
var resourceScope = regexp.MustCompile(`^(patient|user|system)/([A-Za-z]+|\*)\.(\*|read|write|c?r?u?d?s?)(\?.*)?$`)

// letters turns a permission into SMART v2 letters.
func letters(p string) string {
	switch p {
	case "read":
		return "rs"
	case "write":
		return "cud"
	case "*":
		return "cruds"
	}
	return p
}

// covers reports whether the asked scope allows at least all that granted does.
func covers(asked, granted string) bool {
	if asked == granted {
		return true
	}
	a, g := resourceScope.FindStringSubmatch(asked), resourceScope.FindStringSubmatch(granted)
	if a == nil || g == nil || a[4] != "" || letters(g[3]) == "" {
		return false
	}
	if a[1] != g[1] || (a[2] != "*" && a[2] != g[2]) {
		return false
	}
	for _, l := range letters(g[3]) {
		if !strings.ContainsRune(letters(a[3]), l) {
			return false
		}
	}
	return true // a query on the granted scope only narrows it
}

// beyond returns the granted scopes that no asked scope covers.
func beyond(asked, granted string) []string {
	var out []string
	for _, g := range strings.Fields(granted) {
		ok := false
		for _, a := range strings.Fields(asked) {
			if covers(a, g) {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, g)
		}
	}
	return out
}
