package dispatch_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dispatch"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/referral"
)

// TestEveryEventHasItsEffect: every event type the code declares (a
// constant of type referral.EventType in any package under shared/) has an
// effect in a process wired with Effects, as the dispatch function, the
// local stack and the test harness are. An event type added without its
// effect there would stay pending, retried, in AWS.
func TestEveryEventHasItsEffect(t *testing.T) {
	types := eventTypes(t, "..")
	if len(types) < 30 {
		t.Fatalf("found %d event types under shared/: the scan is broken", len(types))
	}
	a := &app.App{Config: config.Config{PublicURL: "https://handoff.example"},
		Referrals: &dynamo.Referrals{}, Clinics: &dynamo.Clinics{}, Directory: &dynamo.Directory{}}
	before := 0
	for _, et := range types {
		if a.Handles(et) {
			before++
		}
	}
	dispatch.Effects(a)
	for _, et := range types {
		if !a.Handles(et) {
			t.Errorf("event type %q has no effect in a process wired with dispatch.Effects", et)
		}
	}
	t.Logf("%d event types: %d the core's own, %d added by Effects", len(types), before, len(types)-before)
}

// eventTypes are the values of the constants of type EventType declared in
// the non-test Go files under root.
func eventTypes(t *testing.T, root string) []referral.EventType {
	t.Helper()
	var out []referral.EventType
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if !isEventType(vs.Type) {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						out = append(out, referral.EventType(s))
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func isEventType(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "EventType"
	case *ast.SelectorExpr:
		return x.Sel.Name == "EventType"
	}
	return false
}
