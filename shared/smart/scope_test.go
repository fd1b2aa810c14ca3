package smart

import (
	"strings"
	"testing"
)

// TestAllows: SMART v2 letters (cruds, in order), v1 read/write/*, on the
// resource named or *; a scope narrowed by a query allows nothing.
func TestAllows(t *testing.T) {
	for _, c := range []struct {
		scope    string
		resource string
		allow    string // of c, r, u, s
	}{
		{"system/Task.cru", Task, "cru"}, {"system/Task.rs", Task, "rs"}, {"system/Task.s", Task, "s"}, {"system/Task.cruds", Task, "crus"},
		{"system/Task.read", Task, "rs"}, {"system/Task.write", Task, "cu"}, {"system/*.*", Task, "crus"}, {"system/*.rs", Task, "rs"},
		{"system/Subscription.cru", Task, ""}, {"system/Task.sr", Task, ""}, {"system/Task.rr", Task, ""}, {"system/Task.", Task, ""},
		{"user/Task.cruds", Task, ""}, {"patient/Task.read", Task, ""}, {"system/Task.rs?status=requested", Task, ""}, {"system/Task.x", Task, ""},
		{"system/Subscription.cru", Subscription, "cru"}, {"system/Subscription.rs", Subscription, "rs"}, {"system/Subscription.c", Subscription, "c"},
		{"system/*.*", Subscription, "crus"}, {"system/Task.cruds", Subscription, ""}, {"system/Subscription.sr", Subscription, ""},
	} {
		for _, l := range "crus" {
			want := strings.ContainsRune(c.allow, l)
			if got := Allows(c.scope, c.resource, l); got != want {
				t.Errorf("%s allows %c on %s: %v, want %v", c.scope, l, c.resource, got, want)
			}
		}
	}
}

// TestGrantScopes: the supported scopes and SMART v2 letters on Task and
// Subscription are granted as asked; anything else is invalid_scope.
func TestGrantScopes(t *testing.T) {
	for scope, ok := range map[string]bool{
		"system/Task.cru system/Task.rs": true, "system/Subscription.cru": true, "system/Subscription.rs": true,
		"system/Subscription.c": true, "system/Task.r": true, "system/*.*": true, "system/Task.read": true,
		"system/Patient.read": false, "system/Subscription.sr": false, "": false, "system/*.rs": false,
		"system/Subscription.read": false, "patient/Task.rs": false,
	} {
		got, err := grantScopes(scope)
		if ok != (err == nil) || (ok && got != scope) {
			t.Errorf("%q: %q, %v; want ok=%v", scope, got, err, ok)
		}
		if oe, isOAuth := err.(*OAuthError); err != nil && (!isOAuth || oe.Code != "invalid_scope") {
			t.Errorf("%q: %v, want invalid_scope", scope, err)
		}
	}
}
