// Package cdshookstest is what tests check handoff's CDS Hooks service
// against, on either side of it (the service's own tests and the whole
// app's): the CDS Hooks 2.0.1 specification's examples and the JSON Schemas
// transcribed from its tables (spec/, sources and licences in
// spec/SOURCES.md). File reads one, Load compiles the three schemas, and
// Validate checks a document against one of them.
package cdshookstest

import (
	"bytes"
	"embed"
	"encoding/json"
	"testing"

	jsonschema "github.com/pb33f/jsonschema/v6"
)

//go:embed spec/*.json
var specFS embed.FS

// File returns spec/name; a file that is not there fails the test.
func File(t testing.TB, name string) []byte {
	t.Helper()
	b, err := specFS.ReadFile("spec/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Schemas are the specification's shapes of a discovery document, a
// service request and a service response.
type Schemas struct{ Discovery, Request, Response *jsonschema.Schema }

// Load compiles the three schemas, with formats asserted; a schema that
// does not compile fails the test.
func Load(t testing.TB) Schemas {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	compile := func(name string) *jsonschema.Schema {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(File(t, name)))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(name, doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s
	}
	return Schemas{compile("discovery.schema.json"), compile("request.schema.json"), compile("response.schema.json")}
}

// Validate checks a JSON document (bytes, or a value to marshal) against
// s and returns the schema's error when it does not have s's shape. A
// value that does not marshal, or bytes that are not JSON, fail the test.
func Validate(t testing.TB, s *jsonschema.Schema, doc any) error {
	t.Helper()
	raw, ok := doc.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(doc); err != nil {
			t.Fatal(err)
		}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not JSON: %v\n%.400s", err, raw)
	}
	return s.Validate(v)
}
