package templatetest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/infra/cfnyaml"
)

// root is the repository root, seen from this package's directory.
const root = "../.."

// stack is template.yaml in CloudFormation's long form: the short tags
// (!Ref, !GetAtt, !Sub, …) become {"Ref": …}, {"Fn::GetAtt": [name, attr]},
// {"Fn::Sub": …}, so checks see one shape whichever syntax the file uses.
// Values are the YAML scalars as decoded (string, int, bool, float64), maps
// and []any.
type stack map[string]any

func loadStack(t *testing.T) stack {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	s, err := parseStack(data)
	if err != nil {
		t.Fatalf("parse template.yaml: %v", err)
	}
	return s
}

func parseStack(data []byte) (stack, error) {
	m, err := cfnyaml.Parse(data)
	if err != nil {
		return nil, err
	}
	return stack(m), nil
}

// clone returns a deep copy, for tests that break a template on purpose.
func (s stack) clone() stack { return cfnyaml.Copy(map[string]any(s)).(map[string]any) }

// resource returns the resource with logical id id, or nil.
func (s stack) resource(id string) map[string]any { return asMap(dig(s, "Resources", id)) }

// props returns the Properties of resource id (nil if none).
func (s stack) props(id string) map[string]any { return asMap(dig(s, "Resources", id, "Properties")) }

// typeOf returns the Type of resource id, "" if there is no such resource.
func (s stack) typeOf(id string) string { return cfnyaml.String(dig(s, "Resources", id, "Type")) }

// ofType returns the logical ids of the resources of type typ, sorted.
func (s stack) ofType(typ string) []string {
	var ids []string
	for id := range asMap(s["Resources"]) {
		if s.typeOf(id) == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// declares reports whether name is a resource or parameter of the template.
func (s stack) declares(name string) bool {
	return s.resource(name) != nil || asMap(dig(s, "Parameters", name)) != nil
}

const functionType = "AWS::Serverless::Function"

// functions returns the logical ids of the template's functions.
func (s stack) functions() []string { return s.ofType(functionType) }

// events returns the Events of function fn by name.
func (s stack) events(fn string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, ev := range asMap(s.props(fn)["Events"]) {
		out[name] = asMap(ev)
	}
	return out
}

// env returns the environment function fn gets: Globals merged with its own.
func (s stack) env(fn string) map[string]any {
	env := maps.Clone(asMap(dig(s, "Globals", "Function", "Environment", "Variables")))
	if env == nil {
		env = map[string]any{}
	}
	maps.Copy(env, asMap(dig(s.props(fn), "Environment", "Variables")))
	return env
}

// property returns the effective property of function fn: its own, else Globals.
func (s stack) property(fn, name string) any {
	if v, ok := s.props(fn)[name]; ok {
		return v
	}
	return dig(s, "Globals", "Function", name)
}

// statement is one IAM policy statement of a role.
type statement struct {
	role, sid string
	raw       map[string]any
	actions   []string
	resources []any
}

// statements returns every statement of every inline policy of role.
func (s stack) statements(role string) []statement {
	var out []statement
	for _, p := range cfnyaml.List(s.props(role)["Policies"]) {
		for _, st := range cfnyaml.List(dig(p, "PolicyDocument", "Statement")) {
			m := asMap(st)
			var actions []string
			for _, a := range cfnyaml.List(m["Action"]) {
				actions = append(actions, cfnyaml.String(a))
			}
			out = append(out, statement{
				role: role, sid: cfnyaml.String(m["Sid"]), raw: m,
				actions: actions, resources: cfnyaml.List(m["Resource"]),
			})
		}
	}
	return out
}

func (st statement) String() string {
	if st.sid != "" {
		return st.role + "/" + st.sid
	}
	return fmt.Sprintf("%s/%v", st.role, st.actions)
}

// allows reports whether the statement allows action on a resource that
// refers to target (a Ref, a GetAtt or a Sub naming it).
func (st statement) allows(action, target string) bool {
	if cfnyaml.String(st.raw["Effect"]) != "Allow" || !slices.Contains(st.actions, action) {
		return false
	}
	return slices.ContainsFunc(st.resources, func(r any) bool { return slices.Contains(refsIn(r), target) })
}

// dig walks maps by key; it returns nil when a step is missing.
func dig(v any, path ...string) any {
	if st, ok := v.(stack); ok {
		v = map[string]any(st)
	}
	return cfnyaml.Dig(v, path...)
}

func asMap(v any) map[string]any {
	if st, ok := v.(stack); ok {
		return st
	}
	return cfnyaml.Map(v)
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case float64:
		return int(x), x == float64(int(x))
	}
	return 0, false
}

func asBool(v any) bool {
	b, _ := v.(bool)
	return b
}

// target returns the resource or parameter a {"Ref": X} or {"Fn::GetAtt":
// [X, attr]} points at, or "".
func target(v any) string {
	m := asMap(v)
	if ref := cfnyaml.String(m["Ref"]); ref != "" {
		return ref
	}
	if l := cfnyaml.List(m["Fn::GetAtt"]); len(l) > 0 {
		return cfnyaml.String(l[0])
	}
	return ""
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

// refsIn returns every resource, parameter or pseudo parameter that v
// refers to: a Ref, a GetAtt, or a variable of a Sub (and the refs of its
// variable map).
func refsIn(v any) []string {
	if t := target(v); t != "" {
		return []string{t}
	}
	sub, ok := asMap(v)["Fn::Sub"]
	if !ok {
		return nil
	}
	text, vars := subParts(sub)
	var out []string
	for _, m := range subVar.FindAllStringSubmatch(text, -1) {
		name, _, _ := strings.Cut(m[1], ".")
		if val, ok := vars[name]; ok {
			out = append(out, refsIn(val)...)
			continue
		}
		out = append(out, name)
	}
	for _, val := range vars {
		out = append(out, refsInDeep(val)...)
	}
	return out
}

// refsInDeep finds Refs and GetAtts anywhere inside v.
func refsInDeep(v any) []string {
	if t := target(v); t != "" {
		return []string{t}
	}
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for _, val := range x {
			out = append(out, refsInDeep(val)...)
		}
	case []any:
		for _, val := range x {
			out = append(out, refsInDeep(val)...)
		}
	}
	return out
}

func subParts(sub any) (string, map[string]any) {
	if l, ok := sub.([]any); ok && len(l) == 2 {
		return cfnyaml.String(l[0]), asMap(l[1])
	}
	return cfnyaml.String(sub), nil
}

// scoped reports whether an IAM resource names something of this stack
// rather than a wildcard: a literal ARN without "*", a Ref or GetAtt of a
// resource or parameter, or a Sub in which no "*" comes before the last
// variable naming one (so "${Table.Arn}/stream/*" is scoped, and
// "arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*" is not).
func (s stack) scoped(v any) bool {
	if str, ok := v.(string); ok {
		return !strings.Contains(str, "*")
	}
	if t := target(v); t != "" {
		return !strings.HasPrefix(t, "AWS::") && s.declares(t)
	}
	sub, ok := asMap(v)["Fn::Sub"]
	if !ok {
		return false
	}
	text, vars := subParts(sub)
	last := -1
	for _, m := range subVar.FindAllStringSubmatchIndex(text, -1) {
		name, _, _ := strings.Cut(text[m[2]:m[3]], ".")
		if _, isVar := vars[name]; isVar || (!strings.HasPrefix(name, "AWS::") && s.declares(name)) {
			last = m[1]
		}
	}
	return last >= 0 && !strings.Contains(text[:last], "*")
}
