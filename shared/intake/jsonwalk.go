package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/handoff-health/handoff/shared/problem"
)

// kind is the JSON type a schema node expects.
type kind int

const (
	kindAny kind = iota // anything: not checked further
	kindObject
	kindArray
	kindString
	kindNumber
	kindBool
)

func (k kind) String() string {
	switch k {
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindBool:
		return "true or false"
	}
	return "a value"
}

// schema describes the JSON a Go type decodes from: the fields of an object
// (by their json names) or the element of an array.
type schema struct {
	kind   kind
	fields map[string]*schema
	elem   *schema
}

// schemaOf derives the schema of a struct type from its json tags.
func schemaOf(t reflect.Type) *schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &schema{kind: kindObject, fields: map[string]*schema{}}
		for i := range t.NumField() {
			f := t.Field(i)
			name := jsonName(f)
			if name == "" || !f.IsExported() {
				continue
			}
			s.fields[name] = schemaOf(f.Type)
		}
		return s
	case reflect.Slice, reflect.Array:
		return &schema{kind: kindArray, elem: schemaOf(t.Elem())}
	case reflect.String:
		return &schema{kind: kindString}
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64, reflect.Int32:
		return &schema{kind: kindNumber}
	case reflect.Bool:
		return &schema{kind: kindBool}
	}
	return &schema{kind: kindAny}
}

// jsonName is the name a struct field has in JSON, or "" if it has none.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// maxDepth bounds the nesting of a body: the native form needs 3 levels, and
// FHIR resources rarely more than 10.
const maxDepth = 64

// maxFieldErrors bounds how many field errors one answer lists.
const maxFieldErrors = 50

// frame is one open object or array while walking a document.
type frame struct {
	s       *schema // nil: not checked (an unknown field or a mismatched type)
	path    string
	object  bool
	index   int             // next element, in an array
	wantKey bool            // in an object: a key (or '}') comes next
	key     string          // in an object: the key whose value comes next
	seen    map[string]bool // in an object: keys already read
}

// walk reads body as one JSON value and checks it against s (nil checks
// syntax only). It returns a Malformed error for bad syntax, trailing data, a
// top-level value that is not an object, or nesting deeper than maxDepth; and
// otherwise the fields that are unknown, repeated or of the wrong type. Field
// errors name the JSON path, never a value.
func walk(body []byte, s *schema) ([]problem.FieldError, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var (
		stack  []*frame
		fields []problem.FieldError
		done   bool // the top-level value is complete
	)
	report := func(path, detail string) {
		if len(fields) < maxFieldErrors {
			fields = append(fields, problem.FieldError{Field: path, Detail: detail})
		}
	}
	for !done {
		offset := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(body, err, offset)
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}

		// A key, or the end of an object.
		if top != nil && top.object && top.wantKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				done = len(stack) == 0
				continue
			}
			key, _ := tok.(string)
			path := joinPath(top.path, key)
			if top.s != nil {
				if top.seen[key] {
					report(path, "appears more than once")
				}
				top.seen[key] = true
			}
			top.key, top.wantKey = key, false
			continue
		}
		// The end of an array.
		if top != nil && !top.object && tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			done = len(stack) == 0
			continue
		}

		// A value: find where it sits and what it should be.
		var path string
		var want *schema
		checked := true
		switch {
		case top == nil:
			want = s
			checked = s != nil
		case top.object:
			path = joinPath(top.path, top.key)
			top.wantKey = true
			if top.s == nil {
				checked = false
			} else if want = top.s.fields[top.key]; want == nil && top.s.kind == kindObject {
				report(path, "is not a known field; free text such as notes or a diagnosis is never accepted")
				checked = false
			}
		default:
			path = top.path + "[" + strconv.Itoa(top.index) + "]"
			top.index++
			if top.s == nil {
				checked = false
			} else {
				want = top.s.elem
			}
		}
		if want == nil || want.kind == kindAny {
			checked = false
		}

		got := kindOf(tok)
		if top == nil && got != kindObject {
			return nil, problem.Errorf(problem.Malformed, "The body must be a JSON object.")
		}
		if checked && tok != nil && got != want.kind {
			report(path, "must be "+want.kind.String())
			checked = false
		}
		if checked && got == kindNumber {
			if f, err := tok.(json.Number).Float64(); err != nil || math.IsInf(f, 0) {
				report(path, "is out of range")
			}
		}
		switch got {
		case kindObject, kindArray:
			if len(stack) >= maxDepth {
				return nil, problem.Errorf(problem.Malformed, "The body is nested more than %d levels deep.", maxDepth)
			}
			f := &frame{path: path, object: got == kindObject, wantKey: true}
			if checked {
				f.s = want
				f.seen = map[string]bool{}
			}
			stack = append(stack, f)
		default:
			done = top == nil
		}
	}
	// Nothing but white space may follow.
	offset := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		rest := body[offset:]
		skipped := len(rest) - len(bytes.TrimLeft(rest, " \t\r\n"))
		line, col := position(body, offset+int64(skipped))
		return nil, problem.Errorf(problem.Malformed, "The body has data after its JSON object, at line %d, column %d.", line, col)
	}
	return fields, nil
}

func kindOf(tok json.Token) kind {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return kindObject
		}
		return kindArray
	case string:
		return kindString
	case json.Number:
		return kindNumber
	case bool:
		return kindBool
	}
	return kindAny // null: allowed anywhere, as an absent value
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// syntaxError turns a decoder error into a Malformed error that gives the
// position and never the content (a decoder's own message quotes it).
func syntaxError(body []byte, err error, offset int64) error {
	var se *json.SyntaxError
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return problem.Errorf(problem.Malformed, "The body is empty; send a JSON object.")
	case errors.As(err, &se):
		line, col := position(body, se.Offset)
		return problem.Errorf(problem.Malformed, "The body is not valid JSON: syntax error at line %d, column %d.", line, col)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(body, int64(len(body)))
		return problem.Errorf(problem.Malformed, "The body is not valid JSON: it ends early, at line %d, column %d.", line, col)
	}
	line, col := position(body, offset)
	return problem.Errorf(problem.Malformed, "The body is not valid JSON near line %d, column %d.", line, col)
}

// position gives the 1-based line and column (in bytes) of an offset.
func position(body []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(body)))
	before := body[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// typeError turns an error from json.Unmarshal into a field error, for the
// cases walk did not catch first.
func typeError(err error, prefix string) (problem.FieldError, bool) {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return problem.FieldError{}, false
	}
	field := te.Field
	if prefix != "" {
		field = joinPath(prefix, field)
	}
	return problem.FieldError{Field: field, Detail: fmt.Sprintf("must be %s", describe(te.Type))}, true
}

func describe(t reflect.Type) string {
	return schemaOf(t).kind.String()
}
