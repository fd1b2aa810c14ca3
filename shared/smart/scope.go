package smart

import (
	"slices"
	"strings"
)

// The resources handoff's FHIR API serves, as scopes name them.
const (
	Task         = "Task"
	Subscription = "Subscription"
)

// The SMART v2 permissions a scope may carry on a resource.
const (
	Create = 'c'
	Read   = 'r'
	Update = 'u'
	Delete = 'd'
	Search = 's'
)

// SupportedScopes are the scopes /.well-known/smart-configuration lists: the
// SMART v2 forms and the v1 forms EHRs still send. A token may also carry
// other SMART v2 letters on Task or Subscription (system/Task.r,
// system/Subscription.rs).
var SupportedScopes = []string{
	"system/Task.cru", "system/Task.rs", "system/Subscription.cru",
	"system/Task.read", "system/Task.write", "system/*.*",
}

// v1Permissions are the SMART v2 letters a v1 scope's permission stands for.
var v1Permissions = map[string]string{"read": "rs", "write": "cud", "*": "cruds"}

// Allows reports whether a scope grants a permission on a resource: the
// scope names the resource (or *) for the system, with SMART v2 letters
// (cruds, each at most once, in that order) or a v1 read, write or *. A v2
// scope narrowed by a query allows nothing.
func Allows(scope, resource string, permission rune) bool {
	rest, ok := strings.CutPrefix(scope, "system/")
	res, perm, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || (res != resource && res != "*") {
		return false
	}
	if v1, ok := v1Permissions[perm]; ok {
		return strings.ContainsRune(v1, permission)
	}
	return v2Letters(perm) && strings.ContainsRune(perm, permission)
}

// v2Letters reports whether a permission is SMART v2 letters: some of
// cruds, each once, in that order.
func v2Letters(perm string) bool {
	at := 0
	for _, l := range perm {
		i := strings.IndexRune("cruds"[at:], l)
		if i < 0 {
			return false
		}
		at += i + 1
	}
	return perm != ""
}

// grantable reports whether a token may carry a scope: a supported one, or
// SMART v2 letters on Task or Subscription.
func grantable(scope string) bool {
	if slices.Contains(SupportedScopes, scope) {
		return true
	}
	for _, res := range []string{Task, Subscription} {
		if perm, ok := strings.CutPrefix(scope, "system/"+res+"."); ok && v2Letters(perm) {
			return true
		}
	}
	return false
}

// ScopesFor names the supported scopes that grant a permission on a
// resource, for messages that say which scope a request needs.
func ScopesFor(resource string, permission rune) []string {
	var out []string
	for _, s := range SupportedScopes {
		if Allows(s, resource, permission) {
			out = append(out, s)
		}
	}
	return out
}

// A Grant is what a checked access token allows: its client (a clinic's
// id) and scopes.
type Grant struct {
	ClinicID string
	Scopes   []string
}

// Allows reports whether any of the grant's scopes allows a permission on a
// resource.
func (g Grant) Allows(resource string, permission rune) bool {
	return slices.ContainsFunc(g.Scopes, func(s string) bool { return Allows(s, resource, permission) })
}
