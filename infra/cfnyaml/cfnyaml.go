// Package cfnyaml reads a CloudFormation (or SAM) template written in YAML
// into plain Go values, with the short-form intrinsic tags (!Ref, !GetAtt,
// !Sub, !If, …) in their long form ({"Ref": …}, {"Fn::GetAtt": [res,
// attr]}, {"Fn::Sub": …}), as CloudFormation itself reads them. The IAM
// check and the template's tests read template.yaml through it.
package cfnyaml

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse reads a template's text: its top level must be a mapping.
func Parse(data []byte) (map[string]any, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, err
	}
	v, err := LongForm(&node)
	if err != nil {
		return nil, err
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the template is not a mapping")
	}
	return doc, nil
}

// LongForm converts a YAML node to plain values, with short-form intrinsic
// tags in their long form.
func LongForm(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return LongForm(n.Content[0])
	case yaml.AliasNode:
		return LongForm(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := LongForm(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := LongForm(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if isIntrinsicTag(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !isIntrinsicTag(n.Tag) {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
	}
	return map[string]any{"Fn::" + name: v}, nil
}

func isIntrinsicTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// Dig walks maps by key; it returns nil when a step is missing.
func Dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// Map is v as a mapping, or nil.
func Map(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// String is v as a string, or "".
func String(v any) string {
	s, _ := v.(string)
	return s
}

// List returns v as a list; a single value becomes a list of one.
func List(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// Copy is a deep copy of a template's plain values (maps and lists).
func Copy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[k] = Copy(val)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, val := range x {
			l[i] = Copy(val)
		}
		return l
	}
	return v
}
