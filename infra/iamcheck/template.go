package iamcheck

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/handoff-health/handoff/infra/cfnyaml"
)

// Template is template.yaml in CloudFormation's long form ({"Ref": …},
// {"Fn::GetAtt": [name, attr]}, {"Fn::Sub": …}), with its conditions
// evaluated and its intrinsics resolvable for one deployment.
type Template struct {
	doc        map[string]any
	deployment Deployment
	conditions map[string]bool
}

// Load reads the template at path for deployment d (see Sample). It returns
// an error when the file cannot be read or parsed, or a condition cannot be
// evaluated.
func Load(path string, d Deployment) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := Parse(data, d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse reads a template's text for deployment d.
func Parse(data []byte, d Deployment) (*Template, error) {
	doc, err := cfnyaml.Parse(data)
	if err != nil {
		return nil, err
	}
	return newTemplate(doc, d)
}

func newTemplate(doc map[string]any, d Deployment) (*Template, error) {
	t := &Template{doc: doc, deployment: d, conditions: map[string]bool{}}
	for name, p := range cfnyaml.Map(doc["Parameters"]) {
		if _, ok := d.Parameters[name]; ok {
			continue
		}
		if def, ok := cfnyaml.Map(p)["Default"]; ok {
			if t.deployment.Parameters == nil {
				t.deployment.Parameters = map[string]string{}
			}
			t.deployment.Parameters = maps.Clone(t.deployment.Parameters)
			t.deployment.Parameters[name] = scalar(def)
		}
	}
	for name := range cfnyaml.Map(doc["Conditions"]) {
		if _, err := t.condition(name, 0); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Clone returns a deep copy, for tests that change a template on purpose.
func (t *Template) Clone() *Template {
	c, _ := newTemplate(cfnyaml.Copy(t.doc).(map[string]any), t.deployment)
	return c
}

// Deployment returns the deployment the template is resolved for.
func (t *Template) Deployment() Deployment { return t.deployment }

// Resources returns the logical ids of the resources the deployment has
// (their Condition holds), of type typ, sorted.
func (t *Template) Resources(typ string) []string {
	var ids []string
	for id, r := range cfnyaml.Map(t.doc["Resources"]) {
		if cfnyaml.String(cfnyaml.Map(r)["Type"]) != typ || !t.exists(id) {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// exists reports whether resource id is declared and its Condition holds.
func (t *Template) exists(id string) bool {
	r := cfnyaml.Map(cfnyaml.Dig(t.doc, "Resources", id))
	if r == nil {
		return false
	}
	c := cfnyaml.String(r["Condition"])
	return c == "" || t.conditions[c]
}

// TypeOf returns the Type of resource id, "" when there is none.
func (t *Template) TypeOf(id string) string {
	return cfnyaml.String(cfnyaml.Dig(t.doc, "Resources", id, "Type"))
}

// Property returns a resource's property as written (not resolved).
func (t *Template) Property(id string, path ...string) any {
	return cfnyaml.Dig(t.doc, append([]string{"Resources", id, "Properties"}, path...)...)
}

// Metadata returns a resource's Metadata entry as written.
func (t *Template) Metadata(id, key string) any {
	return cfnyaml.Dig(t.doc, "Resources", id, "Metadata", key)
}

// SetMetadata sets a resource's Metadata entry (for tests that change a
// template).
func (t *Template) SetMetadata(id, key string, value any) {
	r := cfnyaml.Map(cfnyaml.Dig(t.doc, "Resources", id))
	if r == nil {
		return
	}
	md := cfnyaml.Map(r["Metadata"])
	if md == nil {
		md = map[string]any{}
		r["Metadata"] = md
	}
	md[key] = value
}

// Set replaces a resource's property (for tests that change a template).
func (t *Template) Set(id string, value any, path ...string) error {
	m := cfnyaml.Map(cfnyaml.Dig(t.doc, append([]string{"Resources", id, "Properties"}, path[:len(path)-1]...)...))
	if m == nil {
		return fmt.Errorf("%s has no %s", id, strings.Join(path[:len(path)-1], "."))
	}
	m[path[len(path)-1]] = value
	return nil
}

// condition evaluates a named condition.
func (t *Template) condition(name string, depth int) (bool, error) {
	if v, ok := t.conditions[name]; ok {
		return v, nil
	}
	def, ok := cfnyaml.Map(t.doc["Conditions"])[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not declared", name)
	}
	v, err := t.truth(def, depth+1)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	t.conditions[name] = v
	return v, nil
}

// truth evaluates a condition function.
func (t *Template) truth(v any, depth int) (bool, error) {
	if depth > 20 {
		return false, errors.New("conditions nest too deep")
	}
	m := cfnyaml.Map(v)
	if len(m) != 1 {
		return false, fmt.Errorf("not a condition function: %v", v)
	}
	for fn, arg := range m {
		args := cfnyaml.List(arg)
		switch fn {
		case "Condition":
			return t.condition(cfnyaml.String(arg), depth)
		case "Fn::Not":
			if len(args) != 1 {
				return false, errors.New("Fn::Not takes one condition")
			}
			b, err := t.truth(args[0], depth+1)
			return !b, err
		case "Fn::And", "Fn::Or":
			all := fn == "Fn::And"
			for _, a := range args {
				b, err := t.truth(a, depth+1)
				if err != nil {
					return false, err
				}
				if b != all {
					return b, nil
				}
			}
			return all, nil
		case "Fn::Equals":
			if len(args) != 2 {
				return false, errors.New("Fn::Equals takes two values")
			}
			a, err := t.Resolve(args[0])
			if err != nil {
				return false, err
			}
			b, err := t.Resolve(args[1])
			if err != nil {
				return false, err
			}
			return scalar(a) == scalar(b), nil
		}
		return false, fmt.Errorf("%s is not a condition function", fn)
	}
	return false, nil
}

// noValue is what AWS::NoValue resolves to: the property or list entry
// holding it is dropped.
type noValue struct{}

// Resolve evaluates every intrinsic function in v for the deployment: Ref,
// Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If and
// AWS::NoValue. Resources resolve to the names and ARNs Sample gives them.
// It returns an error for a function or attribute it cannot resolve.
func (t *Template) Resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return t.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, val := range x {
			r, err := t.Resolve(val)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, val := range x {
			r, err := t.Resolve(val)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

// ResolveString resolves v to a string.
func (t *Template) ResolveString(v any) (string, error) {
	r, err := t.Resolve(v)
	if err != nil {
		return "", err
	}
	switch r.(type) {
	case map[string]any, []any, noValue:
		return "", fmt.Errorf("%v is not a string", v)
	}
	return scalar(r), nil
}

func (t *Template) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		return t.ref(cfnyaml.String(arg))
	case "Fn::GetAtt":
		l := cfnyaml.List(arg)
		if s, ok := arg.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			l = []any{res, attr}
		}
		if len(l) != 2 {
			return nil, fmt.Errorf("Fn::GetAtt %v", arg)
		}
		return t.attribute(cfnyaml.String(l[0]), cfnyaml.String(l[1]))
	case "Fn::Sub":
		return t.sub(arg)
	case "Fn::Join":
		l := cfnyaml.List(arg)
		if len(l) != 2 {
			return nil, fmt.Errorf("Fn::Join %v", arg)
		}
		parts, err := t.Resolve(l[1])
		if err != nil {
			return nil, err
		}
		var s []string
		for _, p := range cfnyaml.List(parts) {
			s = append(s, scalar(p))
		}
		return strings.Join(s, cfnyaml.String(l[0])), nil
	case "Fn::Select":
		l := cfnyaml.List(arg)
		if len(l) != 2 {
			return nil, fmt.Errorf("Fn::Select %v", arg)
		}
		idx, err := t.ResolveString(l[0])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(idx)
		if err != nil {
			return nil, fmt.Errorf("Fn::Select index %q", idx)
		}
		list, err := t.Resolve(l[1])
		if err != nil {
			return nil, err
		}
		items := cfnyaml.List(list)
		if i < 0 || i >= len(items) {
			return nil, fmt.Errorf("Fn::Select index %d of %d", i, len(items))
		}
		return items[i], nil
	case "Fn::Split":
		l := cfnyaml.List(arg)
		if len(l) != 2 {
			return nil, fmt.Errorf("Fn::Split %v", arg)
		}
		s, err := t.ResolveString(l[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, cfnyaml.String(l[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::If":
		l := cfnyaml.List(arg)
		if len(l) != 3 {
			return nil, fmt.Errorf("Fn::If %v", arg)
		}
		c, err := t.condition(cfnyaml.String(l[0]), 0)
		if err != nil {
			return nil, err
		}
		if c {
			return t.Resolve(l[1])
		}
		return t.Resolve(l[2])
	}
	return nil, fmt.Errorf("%s is not resolved here", fn)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (t *Template) sub(arg any) (any, error) {
	text, vars := cfnyaml.String(arg), map[string]any(nil)
	if l, ok := arg.([]any); ok && len(l) == 2 {
		text, vars = cfnyaml.String(l[0]), cfnyaml.Map(l[1])
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		var (
			v   any
			err error
		)
		if val, ok := vars[name]; ok {
			v, err = t.Resolve(val)
		} else if res, attr, ok := strings.Cut(name, "."); ok {
			v, err = t.attribute(res, attr)
		} else {
			v, err = t.ref(name)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return scalar(v)
	})
	return out, firstErr
}

func (t *Template) ref(name string) (any, error) {
	d := t.deployment
	switch name {
	case "AWS::AccountId":
		return d.Account, nil
	case "AWS::Region":
		return d.Region, nil
	case "AWS::Partition":
		return d.Partition, nil
	case "AWS::StackName":
		return d.StackName, nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::NoValue":
		return noValue{}, nil
	}
	if _, ok := cfnyaml.Map(t.doc["Parameters"])[name]; ok {
		v, ok := d.Parameters[name]
		if !ok {
			return nil, fmt.Errorf("parameter %s has no default and no sample value", name)
		}
		return v, nil
	}
	if cfnyaml.Map(cfnyaml.Dig(t.doc, "Resources", name)) == nil {
		return nil, fmt.Errorf("no parameter or resource %s (Ref)", name)
	}
	return t.physical(name, "Ref")
}

func (t *Template) attribute(res, attr string) (any, error) {
	if cfnyaml.Map(cfnyaml.Dig(t.doc, "Resources", res)) == nil {
		return nil, fmt.Errorf("GetAtt %s.%s: no such resource", res, attr)
	}
	return t.physical(res, attr)
}

// scalar renders a resolved scalar as CloudFormation would pass it.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// target returns the resource a {"Ref": X} or {"Fn::GetAtt": [X, attr]}
// points at, or "".
func target(v any) string {
	m := cfnyaml.Map(v)
	if ref := cfnyaml.String(m["Ref"]); ref != "" {
		return ref
	}
	if l := cfnyaml.List(m["Fn::GetAtt"]); len(l) > 0 {
		return cfnyaml.String(l[0])
	}
	return ""
}
