package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/truora/minidyn/server"
	"gopkg.in/yaml.v3"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/seal"
	"github.com/handoff-health/handoff/shared/testenv"
	"github.com/handoff-health/handoff/shared/webhook"
)

// The contract test: docs/openapi.yaml is checked as a document, and every
// request this file sends to the real handlers (behind apptest's embedded
// DynamoDB and SES emulator), and every answer, is validated against it.

// contract is the OpenAPI document, its validator and what the tests called.
type contract struct {
	doc      libopenapi.Document
	model    *v3.Document
	v        validator.Validator
	schemas  schema_validation.SchemaValidator
	routes   map[string]bool         // "METHOD /template" of every operation in the document
	answered map[string]bool         // the operations a test called
	statuses map[string]map[int]bool // the statuses each operation answered
}

func loadContract(t *testing.T) *contract {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "openapi.yaml"))
	if err != nil {
		t.Fatalf("read the OpenAPI document: %v", err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("parse docs/openapi.yaml: %v", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("build the OpenAPI 3.1 model of docs/openapi.yaml: %v", err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("build a validator for docs/openapi.yaml: %v", errs)
	}
	c := &contract{
		doc: doc, model: &m.Model, v: v,
		schemas:  schema_validation.NewSchemaValidator(config.WithFormatAssertions()),
		routes:   map[string]bool{},
		answered: map[string]bool{},
		statuses: map[string]map[int]bool{},
	}
	for p, item := range m.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			c.routes[strings.ToUpper(method)+" "+p] = true
		}
	}
	return c
}

// schema returns a named schema of the document's components.
func (c *contract) schema(t *testing.T, name string) *base.Schema {
	t.Helper()
	p := c.model.Components.Schemas.GetOrZero(name)
	if p == nil {
		t.Fatalf("docs/openapi.yaml has no components.schemas.%s", name)
	}
	return p.Schema()
}

// describe renders validation errors so a failing test says what to fix.
func describe(errs []*liberrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s (at %s, schema %s)", f.Reason, f.FieldPath, f.KeywordLocation)
		}
	}
	return b.String()
}

// want says what the document must make of a request.
type want int

const (
	conforms      want = iota // a request the API documents as valid
	violates                  // a request the document itself already refuses
	inexpressible             // refused for a reason no schema can state (a signature, a clock, a size, stored state)
)

// exchange is one request and the status it must get.
type exchange struct {
	method, path string
	header       http.Header
	body         []byte
	status       int
	request      want
}

func (x exchange) newRequest(t *testing.T, base string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(x.method, base+x.path, bytes.NewReader(x.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range x.header {
		req.Header[k] = slices.Clone(v)
	}
	return req
}

// doAll does each of xs (see do) as method, on path where one names none.
func (c *contract) doAll(t *testing.T, h *apptest.Harness, method, path string, xs []exchange) {
	t.Helper()
	for _, x := range xs {
		x.method = method
		if x.path == "" {
			x.path = path
		}
		c.do(t, h, x)
	}
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do validates x's request, sends it to the handlers, checks the status, and
// validates the answer: against the operation's responses when the document
// has the operation, else as a problem document.
func (c *contract) do(t *testing.T, h *apptest.Harness, x exchange) (http.Header, []byte) {
	t.Helper()
	_, reqErrs := c.v.ValidateHttpRequestSync(x.newRequest(t, h.Server.URL))
	switch x.request {
	case conforms:
		if len(reqErrs) > 0 {
			t.Errorf("%s %s: the request does not conform to docs/openapi.yaml:%s", x.method, x.path, describe(reqErrs))
		}
	case violates:
		if len(reqErrs) == 0 {
			t.Errorf("%s %s: docs/openapi.yaml accepts a request the handler must refuse (%d)", x.method, x.path, x.status)
		}
	case inexpressible:
		if len(reqErrs) > 0 {
			t.Logf("%s %s: validator notes on a request the document cannot refuse:%s", x.method, x.path, describe(reqErrs))
		}
	}
	resp, err := noRedirects.Do(x.newRequest(t, h.Server.URL))
	if err != nil {
		t.Fatalf("%s %s: %v", x.method, x.path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", x.method, x.path, err)
	}
	if resp.StatusCode != x.status {
		t.Errorf("%s %s: status %d, want %d; body %s", x.method, x.path, resp.StatusCode, x.status, body)
	}
	route := c.route(t, h, x)
	if route == "" {
		// Not an operation of the document (an unknown path or method): the
		// answer must still be a problem document.
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s: content type %q, want application/problem+json", x.method, x.path, ct)
		}
		if ok, errs := c.schemas.ValidateSchemaBytes(c.schema(t, "Problem"), body); !ok {
			t.Errorf("%s %s: the answer is not a Problem:%s\n%s", x.method, x.path, describe(errs), body)
		}
		return resp.Header, body
	}
	c.answered[route] = true
	if c.statuses[route] == nil {
		c.statuses[route] = map[int]bool{}
	}
	c.statuses[route][resp.StatusCode] = true
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if ok, errs := c.v.ValidateHttpResponse(x.newRequest(t, h.Server.URL), resp); !ok {
		t.Errorf("%s %s: the %d answer does not conform to docs/openapi.yaml:%s\nbody: %s",
			x.method, x.path, resp.StatusCode, describe(errs), body)
	}
	return resp.Header, body
}

// route names the document's operation a request reaches, or "".
func (c *contract) route(t *testing.T, h *apptest.Harness, x exchange) string {
	t.Helper()
	_, _, p := paths.FindPath(x.newRequest(t, h.Server.URL), c.model, config.NewValidationOptions())
	key := x.method + " " + p
	if p == "" || !c.routes[key] {
		return ""
	}
	return key
}

// TestOpenAPIDocument: the document is valid OpenAPI 3.1, and it describes
// exactly the API routes the SAM template deploys (the pages — /c/, /g/, the
// operator's /admin, the clinic's /clinic, the SMART launch's /launch — are
// HTML, not API, and /fhir is described by its CapabilityStatement).
func TestOpenAPIDocument(t *testing.T) {
	c := loadContract(t)
	if got := c.doc.GetVersion(); got != "3.1.0" {
		t.Errorf("openapi: %s, want 3.1.0", got)
	}
	if ok, errs := c.v.ValidateDocument(); !ok {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document:%s", describe(errs))
	}
	if c.model.Webhooks.GetOrZero("referral.status_changed") == nil {
		t.Error("the status webhook (referral.status_changed) is not documented under webhooks")
	}
	deployed := templateRoutes(t)
	for r := range deployed {
		if !c.routes[r] {
			t.Errorf("template.yaml deploys %s, which docs/openapi.yaml does not document", r)
		}
	}
	for r := range c.routes {
		if !deployed[r] {
			t.Errorf("docs/openapi.yaml documents %s, which template.yaml does not deploy", r)
		}
	}
}

// templateRoutes lists the HTTP API routes of template.yaml's functions,
// leaving out the pages (/c/, /g/, /l/, /assets/).
func templateRoutes(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// CloudFormation's short tags (!Ref, !GetAtt, …) decode as plain values.
	var tpl struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Events map[string]struct {
					Type       string `yaml:"Type"`
					Properties struct {
						Method string `yaml:"Method"`
						Path   string `yaml:"Path"`
					} `yaml:"Properties"`
				} `yaml:"Events"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatalf("read template.yaml: %v", err)
	}
	out := map[string]bool{}
	for _, r := range tpl.Resources {
		for _, e := range r.Properties.Events {
			p := e.Properties.Path
			if e.Type != "HttpApi" || strings.HasPrefix(p, "/c/") || strings.HasPrefix(p, "/g/") || strings.HasPrefix(p, "/l/") || strings.HasPrefix(p, "/assets/") ||
				p == "/admin" || strings.HasPrefix(p, "/admin/") || p == "/fhir" || strings.HasPrefix(p, "/fhir/") ||
				p == "/clinic" || strings.HasPrefix(p, "/clinic/") || strings.HasPrefix(p, "/s/") || strings.HasPrefix(p, "/q/") ||
				p == "/launch" || strings.HasPrefix(p, "/launch/") {
				continue
			}
			out[strings.ToUpper(e.Properties.Method)+" "+p] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("template.yaml has no HttpApi routes")
	}
	return out
}

// A native referral; testPatient's email makes each one distinct.
const nativeReferral = `{
  "external_id": "EHR-ORDER-123",
  "patient": {"given_name": "Ana", "family_name": "Diaz", "email": "PATIENT",
    "phone": "+14155550100", "preferred_language": "es", "postal_code": "94110", "country": "US"},
  "needs": ["alcohol"],
  "reason_codes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}],
  "preferences": {"formats": ["in-person", "online"], "spirituality": "secular", "times": ["evening"]},
  "clinician": {"name": "Dr. Jan Rivera", "email": "rivera@clinic.example"}
}`

func referralFor(email string) []byte {
	return []byte(strings.Replace(nativeReferral, "PATIENT", email, 1))
}

// A FHIR R4 ServiceRequest with its Patient and Practitioner contained, and a
// note handoff must ignore.
const fhirReferral = `{
  "resourceType": "ServiceRequest",
  "contained": [
    {"resourceType": "Patient", "id": "pat",
     "name": [{"given": ["Luis"], "family": "Ortega"}],
     "telecom": [{"system": "email", "value": "luis.fhir@patient.example"}],
     "address": [{"postalCode": "94110", "country": "US"}]},
    {"resourceType": "Practitioner", "id": "dr",
     "name": [{"given": ["Jan"], "family": "Rivera"}],
     "telecom": [{"system": "email", "value": "rivera@clinic.example"}]}
  ],
  "identifier": [{"system": "urn:ehr:orders", "value": "FHIR-ORDER-9"}],
  "status": "active", "intent": "order",
  "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}]}],
  "subject": {"reference": "#pat"},
  "requester": {"reference": "#dr"},
  "note": [{"text": "free text that is never kept"}]
}`

// signed returns headers that sign body for a clinic at ts.
func signed(t *testing.T, secret, webhookID string, ts time.Time, body []byte, ctype string) http.Header {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	hd := webhook.SignHeaders(key, webhookID, ts, body)
	hd.Set("Content-Type", ctype)
	return hd
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func adminJSON(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// callbacks records the status webhooks a clinic receives.
type callbacks struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
}

func (cb *callbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	cb.mu.Lock()
	cb.bodies = append(cb.bodies, b)
	cb.heads = append(cb.heads, r.Header.Clone())
	cb.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// TestOpenAPIContract sends good and bad requests to every route of the clinic
// and admin APIs and validates each request and answer against the document.
func TestOpenAPIContract(t *testing.T) {
	c := loadContract(t)
	h := apptest.New(t)
	hooks := &callbacks{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)

	admin := apptest.AdminToken
	var clinic, other struct{ ID, WebhookSecret, APIKey, CallbackSecret string }
	newClinic := func(t *testing.T, id, callback string, dst *struct{ ID, WebhookSecret, APIKey, CallbackSecret string }) {
		t.Helper()
		in := map[string]string{"id": id, "name": "Lakeside Health Center", "contact_email": "desk@clinic.example"}
		if callback != "" {
			in["callback_url"] = callback
		}
		_, b := c.do(t, h, exchange{method: "POST", path: "/v1/admin/clinics", header: adminJSON(admin),
			body: mustJSON(t, in), status: 201, request: conforms})
		var out struct {
			ID             string `json:"id"`
			WebhookSecret  string `json:"webhook_secret"`
			APIKey         string `json:"api_key"`
			CallbackSecret string `json:"callback_secret"`
		}
		if err := json.Unmarshal(b, &out); err != nil || out.WebhookSecret == "" {
			t.Fatalf("create clinic %s: %s", id, b)
		}
		*dst = struct{ ID, WebhookSecret, APIKey, CallbackSecret string }{out.ID, out.WebhookSecret, out.APIKey, out.CallbackSecret}
	}

	t.Run("healthz", func(t *testing.T) {
		c.do(t, h, exchange{method: "GET", path: "/healthz", status: 200, request: conforms})
	})

	t.Run("admin create clinic", func(t *testing.T) {
		newClinic(t, "lakeside", hookSrv.URL, &clinic)
		newClinic(t, "elsewhere", "", &other)
		if clinic.CallbackSecret == "" {
			t.Error("a clinic with a callback_url got no callback_secret")
		}
	})

	t.Run("admin create clinic refused", func(t *testing.T) {
		good := mustJSON(t, map[string]string{"id": "hillside", "name": "Hillside", "contact_email": "desk@hill.example"})
		tests := []struct {
			name string
			x    exchange
		}{
			{"no token", exchange{header: http.Header{"Content-Type": {"application/json"}}, body: good, status: 401, request: violates}},
			{"wrong token", exchange{header: adminJSON("not-the-token"), body: good, status: 401, request: inexpressible}},
			{"id taken", exchange{header: adminJSON(admin), body: mustJSON(t, map[string]string{"id": "lakeside", "name": "Again", "contact_email": "desk@clinic.example"}), status: 409, request: inexpressible}},
			{"invalid id", exchange{header: adminJSON(admin), body: mustJSON(t, map[string]string{"id": "Not An Id", "name": "X", "contact_email": "desk@clinic.example"}), status: 422, request: violates}},
			{"unknown field", exchange{header: adminJSON(admin), body: []byte(`{"id":"hillside","name":"Hillside","contact_email":"desk@hill.example","notes":"x"}`), status: 422, request: violates}},
			{"malformed JSON", exchange{header: adminJSON(admin), body: []byte(`{"id":`), status: 400, request: violates}},
			{"wrong content type", exchange{header: http.Header{"Authorization": {"Bearer " + admin}, "Content-Type": {"text/plain"}}, body: good, status: 415, request: violates}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.x.method, tc.x.path = "POST", "/v1/admin/clinics"
				c.do(t, h, tc.x)
			})
		}
	})

	group := apptest.SampleGroup("mission-a", 37.7599, -122.4148)
	t.Run("admin put and get group", func(t *testing.T) {
		c.do(t, h, exchange{method: "PUT", path: "/v1/admin/groups/mission-a", header: adminJSON(admin), body: mustJSON(t, group), status: 201, request: conforms})
		group.Description = "A weekly peer support meeting, in English and Spanish."
		c.do(t, h, exchange{method: "PUT", path: "/v1/admin/groups/mission-a", header: adminJSON(admin), body: mustJSON(t, group), status: 200, request: conforms})
		// A short listing of an online group: the path gives the id.
		minimal := []byte(`{"name": "Online Grief Circle", "topics": ["grief"], "model": "peer-support",
			"formats": ["online"], "languages": ["en"], "source": "admin",
			"meetings": [{"day": "tue", "time": "18:00", "end_time": "19:30", "timezone": "America/New_York", "online_url": "https://meet.example/grief"}],
			"contact": {"name": "Sam", "email": "sam@groups.example"}, "accepting_referrals": true}`)
		c.do(t, h, exchange{method: "PUT", path: "/v1/admin/groups/grief-online", header: adminJSON(admin), body: minimal, status: 201, request: conforms})
		_, b := c.do(t, h, exchange{method: "GET", path: "/v1/admin/groups/mission-a", header: bearerHeader(admin), status: 200, request: conforms})
		if !strings.Contains(string(b), "English and Spanish") {
			t.Errorf("GET does not return the updated listing: %s", b)
		}
		c.do(t, h, exchange{method: "POST", path: "/v1/admin/groups/mission-a/check", header: bearerHeader(admin), status: 202, request: conforms})
	})

	t.Run("admin group refused", func(t *testing.T) {
		bad := group
		bad.Topics = []string{"astrology"}
		tests := []struct {
			name string
			x    exchange
		}{
			{"unknown group", exchange{method: "GET", path: "/v1/admin/groups/nobody", header: bearerHeader(admin), status: 404, request: inexpressible}},
			{"no token", exchange{method: "GET", path: "/v1/admin/groups/mission-a", status: 401, request: violates}},
			{"check of an unknown group", exchange{method: "POST", path: "/v1/admin/groups/nobody/check", header: bearerHeader(admin), status: 404, request: inexpressible}},
			{"check without a token", exchange{method: "POST", path: "/v1/admin/groups/mission-a/check", status: 401, request: violates}},
			{"id differs from the path", exchange{method: "PUT", path: "/v1/admin/groups/mission-b", header: adminJSON(admin), body: mustJSON(t, group), status: 422, request: inexpressible}},
			{"unknown topic", exchange{method: "PUT", path: "/v1/admin/groups/mission-a", header: adminJSON(admin), body: mustJSON(t, bad), status: 422, request: violates}},
			{"unknown field", exchange{method: "PUT", path: "/v1/admin/groups/mission-a", header: adminJSON(admin), body: []byte(`{"name":"X","topics":["grief"],"model":"other","formats":["online"],"contact":{"name":"A","email":"a@b.example"},"secret_notes":"x"}`), status: 422, request: violates}},
			{"wrong content type", exchange{method: "PUT", path: "/v1/admin/groups/mission-a", header: http.Header{"Authorization": {"Bearer " + admin}, "Content-Type": {"text/csv"}}, body: []byte("a,b"), status: 415, request: violates}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { c.do(t, h, tc.x) })
		}
	})

	t.Run("admin import", func(t *testing.T) {
		feed, err := os.ReadFile(filepath.Join("..", "..", "infra", "seed", "feeds", "atlantaaa.json"))
		if err != nil {
			t.Fatal(err)
		}
		q := "?format=meeting-guide&topic=alcohol&fellowship=aa&contact_email=" + url.QueryEscape("intergroup@aa.example")
		_, b := c.do(t, h, exchange{method: "POST", path: "/v1/admin/groups/import" + q, header: adminJSON(admin), body: feed, status: 200, request: conforms})
		var res struct{ Imported, Updated int }
		if err := json.Unmarshal(b, &res); err != nil || res.Imported == 0 {
			t.Errorf("the Atlanta feed imported nothing: %s", b)
		}
		tests := []struct {
			name string
			x    exchange
		}{
			{"unknown format", exchange{path: "/v1/admin/groups/import?format=csv&topic=alcohol", header: adminJSON(admin), body: feed, status: 422, request: violates}},
			{"not JSON", exchange{path: "/v1/admin/groups/import" + q, header: adminJSON(admin), body: []byte("[{"), status: 400, request: violates}},
			{"no token", exchange{path: "/v1/admin/groups/import" + q, header: http.Header{"Content-Type": {"application/json"}}, body: feed, status: 401, request: violates}},
			{"withdraw_missing not a boolean", exchange{path: "/v1/admin/groups/import" + q + "&source=atlanta-aa&withdraw_missing=maybe", header: adminJSON(admin), body: feed, status: 422, request: violates}},
			{"withdraw_missing without a source", exchange{path: "/v1/admin/groups/import" + q + "&withdraw_missing=true", header: adminJSON(admin), body: feed, status: 422, request: inexpressible}},
			{"a named source withdraws nothing new", exchange{path: "/v1/admin/groups/import" + q + "&source=atlanta-aa", header: adminJSON(admin), body: feed, status: 200, request: conforms}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.x.method = "POST"
				c.do(t, h, tc.x)
			})
		}
	})

	t.Run("admin asynchronous import", func(t *testing.T) {
		feed, err := os.ReadFile(filepath.Join("..", "..", "infra", "seed", "feeds", "atlantaaa.json"))
		if err != nil {
			t.Fatal(err)
		}
		q := "?format=meeting-guide&topic=alcohol&fellowship=aa&contact_email=" + url.QueryEscape("intergroup@aa.example") + "&parts=2"
		part := http.Header{"Authorization": {"Bearer " + admin}, "Content-Type": {"application/octet-stream"}}
		_, b := c.do(t, h, exchange{method: "POST", path: "/v1/admin/imports" + q, header: part, body: feed[:len(feed)/2], status: 202, request: conforms})
		var job struct{ ID, Status string }
		if err := json.Unmarshal(b, &job); err != nil || job.Status != "receiving" {
			t.Fatalf("start: %s", b)
		}
		c.do(t, h, exchange{method: "PUT", path: "/v1/admin/imports/" + job.ID + "/parts/1", header: part, body: feed[len(feed)/2:], status: 202, request: conforms})
		h.Settle()
		_, b = c.do(t, h, exchange{method: "GET", path: "/v1/admin/imports/" + job.ID, header: bearerHeader(admin), status: 200, request: conforms})
		if !strings.Contains(string(b), `"status":"done"`) {
			t.Errorf("the import is not done: %s", b)
		}
		tests := []exchange{
			{method: "GET", path: "/v1/admin/imports/01jzzzzzzzzzzzzzzzzzzzzzzz", header: bearerHeader(admin), status: 404, request: inexpressible},
			{method: "GET", path: "/v1/admin/imports/" + job.ID, status: 401, request: violates},
			{method: "POST", path: "/v1/admin/imports?format=meeting-guide&topic=alcohol&parts=99", header: part, body: feed, status: 422, request: violates},
			{method: "POST", path: "/v1/admin/imports?format=meeting-guide&topic=nope", header: part, body: feed, status: 422, request: violates},
			{method: "PUT", path: "/v1/admin/imports/" + job.ID + "/parts/5", header: part, body: feed, status: 422, request: inexpressible},
			{method: "PUT", path: "/v1/admin/imports/01jzzzzzzzzzzzzzzzzzzzzzzz/parts/1", header: part, body: feed, status: 404, request: inexpressible},
		}
		for _, x := range tests {
			c.do(t, h, x)
		}
	})

	t.Run("admin remove clinic", func(t *testing.T) {
		var gone struct{ ID, WebhookSecret, APIKey, CallbackSecret string }
		newClinic(t, "leaving", "", &gone)
		c.do(t, h, exchange{method: "DELETE", path: "/v1/admin/clinics/leaving", header: bearerHeader(admin), status: 200, request: conforms})
		c.do(t, h, exchange{method: "DELETE", path: "/v1/admin/clinics/leaving", header: bearerHeader(admin), status: 200, request: conforms})
		c.do(t, h, exchange{method: "DELETE", path: "/v1/admin/clinics/nobody", header: bearerHeader(admin), status: 404, request: inexpressible})
		c.do(t, h, exchange{method: "DELETE", path: "/v1/admin/clinics/leaving", status: 401, request: violates})
	})

	t.Run("admin match", func(t *testing.T) {
		_, b := c.do(t, h, exchange{method: "GET", path: "/v1/admin/match?topic=alcohol&postal_code=94110&limit=5", header: bearerHeader(admin), status: 200, request: conforms})
		if !strings.Contains(string(b), `"mission-a"`) {
			t.Errorf("the match near 94110 does not offer mission-a: %s", b)
		}
		_, b = c.do(t, h, exchange{method: "GET", path: "/v1/admin/match?topic=alcohol&lat=34.0993&lon=-84.5794&format=in-person&spirituality=spiritual&language=en", header: bearerHeader(admin), status: 200, request: conforms})
		if !strings.Contains(string(b), `"matches":[{`) {
			t.Errorf("the match near the imported Atlanta meetings found none: %s", b)
		}
		c.do(t, h, exchange{method: "GET", path: "/v1/admin/match?topic=grief&limit=1", header: bearerHeader(admin), status: 200, request: conforms})
		tests := []struct {
			name string
			x    exchange
		}{
			{"without topic", exchange{path: "/v1/admin/match?postal_code=94110", header: bearerHeader(admin), status: 422, request: violates}},
			{"unknown topic", exchange{path: "/v1/admin/match?topic=astrology&postal_code=94110", header: bearerHeader(admin), status: 422, request: violates}},
			{"limit out of range", exchange{path: "/v1/admin/match?topic=alcohol&postal_code=94110&limit=0", header: bearerHeader(admin), status: 422, request: violates}},
			{"unknown ZIP", exchange{path: "/v1/admin/match?topic=alcohol&postal_code=00000", header: bearerHeader(admin), status: 422, request: inexpressible}},
			{"no token", exchange{path: "/v1/admin/match?topic=alcohol&postal_code=94110", status: 401, request: violates}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.x.method = "GET"
				c.do(t, h, tc.x)
			})
		}
	})

	var referralID string
	body := referralFor("ana.contract@patient.example")
	referrals := func(clinicID string) string { return "/v1/clinics/" + clinicID + "/referrals" }
	t.Run("send referral", func(t *testing.T) {
		hd := signed(t, clinic.WebhookSecret, "msg_contract_1", h.Now(), body, "application/json")
		_, first := c.do(t, h, exchange{method: "POST", path: referrals(clinic.ID), header: hd, body: body, status: 202, request: conforms})
		var r struct{ ID string }
		if err := json.Unmarshal(first, &r); err != nil || r.ID == "" {
			t.Fatalf("202 without an id: %s", first)
		}
		referralID = r.ID
		_, again := c.do(t, h, exchange{method: "POST", path: referrals(clinic.ID), header: hd, body: body, status: 202, request: conforms})
		if !bytes.Equal(bytes.TrimSpace(first), bytes.TrimSpace(again)) {
			t.Errorf("a repeated delivery got another answer:\n%s\n%s", first, again)
		}
		fhir := []byte(fhirReferral)
		c.do(t, h, exchange{method: "POST", path: referrals(clinic.ID), header: signed(t, clinic.WebhookSecret, "msg_contract_fhir", h.Now(), fhir, "application/fhir+json"),
			body: fhir, status: 202, request: conforms})
	})

	t.Run("send referral refused", func(t *testing.T) {
		now := h.Now()
		sign := func(id string, b []byte, ctype string) http.Header {
			return signed(t, clinic.WebhookSecret, id, now, b, ctype)
		}
		changed := referralFor("someone.else@patient.example")
		unknownField := []byte(strings.Replace(string(body), `"needs"`, `"notes": "drinks daily", "needs"`, 1))
		noClinician := []byte(strings.Replace(string(body), `,
  "clinician": {"name": "Dr. Jan Rivera", "email": "rivera@clinic.example"}`, "", 1))
		oversized := append(bytes.TrimSuffix(bytes.TrimSpace(body), []byte("}")), []byte(strings.Repeat(" ", 65<<10)+"}")...)
		malformed := []byte(`{"patient": {"given_name": "Ana"`)
		tests := []struct {
			name string
			x    exchange
		}{
			{"same webhook-id, other body", exchange{header: sign("msg_contract_1", changed, "application/json"), body: changed, status: 409, request: inexpressible}},
			{"unsigned", exchange{header: http.Header{"Content-Type": {"application/json"}}, body: body, status: 401, request: violates}},
			{"signed with another clinic's secret", exchange{header: signed(t, other.WebhookSecret, "msg_x", now, body, "application/json"), body: body, status: 401, request: inexpressible}},
			{"stale signature", exchange{header: signed(t, clinic.WebhookSecret, "msg_stale", now.Add(-time.Hour), body, "application/json"), body: body, status: 401, request: inexpressible}},
			{"unknown field", exchange{header: sign("msg_unknown", unknownField, "application/json"), body: unknownField, status: 422, request: violates}},
			{"no clinician", exchange{header: sign("msg_noclin", noClinician, "application/json"), body: noClinician, status: 422, request: violates}},
			{"malformed JSON", exchange{header: sign("msg_malformed", malformed, "application/json"), body: malformed, status: 400, request: violates}},
			{"wrong content type", exchange{header: sign("msg_text", body, "text/plain"), body: body, status: 415, request: violates}},
			{"oversized", exchange{header: sign("msg_big", oversized, "application/json"), body: oversized, status: 413, request: inexpressible}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.x.method, tc.x.path = "POST", referrals(clinic.ID)
				c.do(t, h, tc.x)
			})
		}
		t.Run("unknown clinic", func(t *testing.T) {
			c.do(t, h, exchange{method: "POST", path: referrals("nowhere"), header: sign("msg_nowhere", body, "application/json"), body: body, status: 401, request: inexpressible})
		})
	})

	t.Run("read referral", func(t *testing.T) {
		if referralID == "" {
			t.Skip("no referral was accepted")
		}
		h.Settle()
		self := referrals(clinic.ID) + "/" + referralID
		_, b := c.do(t, h, exchange{method: "GET", path: self, header: bearerHeader(clinic.APIKey), status: 200, request: conforms})
		if !strings.Contains(string(b), `"awaiting-consent"`) {
			t.Errorf("status view: %s", b)
		}
		hd := bearerHeader(clinic.APIKey)
		hd.Set("Accept", "application/fhir+json")
		rh, b := c.do(t, h, exchange{method: "GET", path: self, header: hd, status: 200, request: conforms})
		if ct := rh.Get("Content-Type"); ct != "application/fhir+json" || !strings.Contains(string(b), `"resourceType":"Task"`) {
			t.Errorf("Accept: application/fhir+json gave %q %s", ct, b)
		}
		tests := []struct {
			name string
			x    exchange
		}{
			{"no api key", exchange{path: self, status: 401, request: violates}},
			{"wrong api key", exchange{path: self, header: bearerHeader("hk_wrong"), status: 401, request: inexpressible}},
			{"another clinic's referral", exchange{path: referrals(other.ID) + "/" + referralID, header: bearerHeader(other.APIKey), status: 404, request: inexpressible}},
			{"unknown referral", exchange{path: referrals(clinic.ID) + "/01J00000000000000000000000", header: bearerHeader(clinic.APIKey), status: 404, request: inexpressible}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.x.method = "GET"
				c.do(t, h, tc.x)
			})
		}
	})

	t.Run("read a routed referral", func(t *testing.T) {
		if referralID == "" {
			t.Skip("no referral was accepted")
		}
		mails := h.MailsTo("ana.contract@patient.example")
		if len(mails) != 1 {
			t.Fatalf("%d consent emails, want 1", len(mails))
		}
		st, loc := h.Form(h.Link(mails[0], "c"), url.Values{"action": {"confirm"}, "mode": {"introduce"}, "groups": {"mission-a"}})
		if st != http.StatusSeeOther || !strings.Contains(loc, "notice=confirmed") {
			t.Fatalf("confirm: %d", st)
		}
		h.Settle()
		self := referrals(clinic.ID) + "/" + referralID
		_, b := c.do(t, h, exchange{method: "GET", path: self, header: bearerHeader(clinic.APIKey), status: 200, request: conforms})
		if !strings.Contains(string(b), `"status":"routed"`) || !strings.Contains(string(b), `"status":"notified"`) {
			t.Errorf("after consent, the referral is not routed to a notified group: %s", b)
		}
		hd := bearerHeader(clinic.APIKey)
		hd.Set("Accept", "application/fhir+json")
		_, b = c.do(t, h, exchange{method: "GET", path: self, header: hd, status: 200, request: conforms})
		if !strings.Contains(string(b), `"status":"accepted"`) || !strings.Contains(string(b), `"output"`) {
			t.Errorf("the routed referral as a FHIR Task: %s", b)
		}
	})

	t.Run("cancel referral", func(t *testing.T) {
		if referralID == "" {
			t.Skip("no referral was accepted")
		}
		self := referrals(clinic.ID) + "/" + referralID
		c.do(t, h, exchange{method: "DELETE", path: referrals(other.ID) + "/" + referralID, header: bearerHeader(other.APIKey), status: 404, request: inexpressible})
		c.do(t, h, exchange{method: "DELETE", path: self, status: 401, request: violates})
		_, b := c.do(t, h, exchange{method: "DELETE", path: self, header: bearerHeader(clinic.APIKey), status: 200, request: conforms})
		if !strings.Contains(string(b), `"status":"cancelled"`) || !strings.Contains(string(b), `"status":"withdrawn"`) {
			t.Errorf("cancel answered %s, want the referral cancelled and its group withdrawn", b)
		}
		c.do(t, h, exchange{method: "DELETE", path: self, header: bearerHeader(clinic.APIKey), status: 409, request: inexpressible})
		h.Settle()
	})

	t.Run("status webhooks", func(t *testing.T) {
		hook := c.model.Webhooks.GetOrZero("referral.status_changed")
		if hook == nil || hook.Post == nil {
			t.Fatal("no webhooks.referral.status_changed.post in the document")
		}
		schema := hook.Post.RequestBody.Content.GetOrZero("application/json").Schema.Schema()
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		if len(hooks.bodies) < 4 {
			t.Fatalf("%d status webhooks received, want awaiting-consent, consented, routed and cancelled", len(hooks.bodies))
		}
		key, err := webhook.ParseSecret(clinic.CallbackSecret)
		if err != nil {
			t.Fatal(err)
		}
		v := webhook.Verifier{Now: time.Now, Tolerance: 365 * 24 * time.Hour}
		for i, b := range hooks.bodies {
			if ok, errs := c.schemas.ValidateSchemaBytes(schema, b); !ok {
				t.Errorf("status webhook %d does not conform to docs/openapi.yaml:%s\n%s", i, describe(errs), b)
			}
			if err := v.Verify(b, hooks.heads[i], key); err != nil {
				t.Errorf("status webhook %d: signature: %v", i, err)
			}
		}
	})

	t.Run("outcomes", func(t *testing.T) {
		_, b := c.do(t, h, exchange{method: "GET", path: "/v1/admin/outcomes", header: bearerHeader(admin), status: 200, request: conforms})
		if !strings.Contains(string(b), `"received":`) {
			t.Errorf("the operator's outcomes hold no funnel: %s", b)
		}
		c.do(t, h, exchange{method: "GET", path: "/v1/admin/outcomes?topic=alcohol&clinic=lakeside", header: bearerHeader(admin), status: 200, request: conforms})
		c.do(t, h, exchange{method: "GET", path: "/v1/clinics/lakeside/outcomes?from=2026-01-01&to=2026-12-31", header: bearerHeader(clinic.APIKey), status: 200, request: conforms})
		for _, x := range []exchange{
			{path: "/v1/admin/outcomes", status: 401, request: violates},
			{path: "/v1/admin/outcomes?from=yesterday", header: bearerHeader(admin), status: 422, request: violates},
			{path: "/v1/admin/outcomes?from=2020-01-01&to=2026-01-01", header: bearerHeader(admin), status: 422, request: inexpressible},
			{path: "/v1/admin/outcomes?topic=astrology", header: bearerHeader(admin), status: 422, request: violates},
			{path: "/v1/clinics/lakeside/outcomes", header: bearerHeader(other.APIKey), status: 401, request: conforms},
			{path: "/v1/clinics/lakeside/outcomes?to=2026-13-01", header: bearerHeader(clinic.APIKey), status: 422, request: violates},
		} {
			x.method = "GET"
			c.do(t, h, x)
		}
	})

	t.Run("SMART Backend Services", func(t *testing.T) {
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwks := mustJSON(t, map[string]any{"jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1"}}}})
		c.do(t, h, exchange{method: "PUT", path: "/v1/admin/clinics/lakeside/fhir-client", header: adminJSON(admin), body: jwks, status: 200, request: conforms})
		c.doAll(t, h, "PUT", "/v1/admin/clinics/lakeside/fhir-client", []exchange{
			{body: jwks, status: 401, request: violates},
			{path: "/v1/admin/clinics/nobody/fhir-client", header: adminJSON(admin), body: jwks, status: 404, request: conforms},
			{header: adminJSON(admin), body: []byte(`{}`), status: 422, request: inexpressible},
			{header: adminJSON(admin), body: []byte(`{"jwks":`), status: 400, request: violates},
		})
		c.do(t, h, exchange{method: "GET", path: "/.well-known/smart-configuration", status: 200, request: conforms})
		staff := mustJSON(t, map[string]any{"name": "Jan Rivera", "email": "rivera@clinic.example"})
		staffPath := "/v1/admin/clinics/lakeside/staff"
		_, b := c.do(t, h, exchange{method: "POST", path: staffPath, header: adminJSON(admin), body: staff, status: 201, request: conforms})
		c.doAll(t, h, "POST", staffPath, []exchange{
			{body: staff, status: 401, request: violates},
			{header: adminJSON(admin), body: staff, status: 409, request: conforms},
			{path: "/v1/admin/clinics/nobody/staff", header: adminJSON(admin), body: mustJSON(t, map[string]any{"name": "A", "email": "a@clinic.example"}), status: 404, request: conforms},
			{header: adminJSON(admin), body: []byte(`{"name": "", "email": "x"}`), status: 422, request: inexpressible},
			{header: adminJSON(admin), body: []byte(`{"name":`), status: 400, request: violates},
		})
		var invited struct {
			StaffID string `json:"staff_id"`
		}
		if err := json.Unmarshal(b, &invited); err != nil {
			t.Fatal(err)
		}
		c.do(t, h, exchange{method: "DELETE", path: staffPath + "/" + invited.StaffID, header: bearerHeader(admin), status: 204, request: conforms})
		c.do(t, h, exchange{method: "DELETE", path: staffPath + "/" + invited.StaffID, header: bearerHeader(admin), status: 404, request: conforms})
		c.do(t, h, exchange{method: "DELETE", path: staffPath + "/" + invited.StaffID, status: 401, request: violates})
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		assertion, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: "lakeside", Subject: "lakeside", ID: "contract-1",
			Audience: jwt.Audience{h.Server.URL + "/oauth/token"}, Expiry: jwt.NewNumericDate(h.Now().Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		form := func(grant, a string) []byte {
			return []byte(url.Values{"grant_type": {grant}, "scope": {"system/Task.rs"}, "client_assertion": {a},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}.Encode())
		}
		formHeader := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		c.do(t, h, exchange{method: "POST", path: "/oauth/token", header: formHeader, body: form("client_credentials", assertion), status: 200, request: conforms})
		c.do(t, h, exchange{method: "POST", path: "/oauth/token", header: formHeader, body: form("client_credentials", assertion), status: 401, request: conforms})
		c.do(t, h, exchange{method: "POST", path: "/oauth/token", header: formHeader, body: form("password", assertion), status: 400, request: inexpressible})
	})

	t.Run("inside the EHR", func(t *testing.T) {
		app := mustJSON(t, map[string]string{"iss": "https://fhir.ehr.example/r4", "client_id": "handoff-at-ehr"})
		c.do(t, h, exchange{method: "PUT", path: "/v1/admin/clinics/lakeside/smart-app", header: adminJSON(admin), body: app, status: 200, request: conforms})
		c.doAll(t, h, "PUT", "/v1/admin/clinics/lakeside/smart-app", []exchange{
			{body: app, status: 401, request: violates},
			{path: "/v1/admin/clinics/nobody/smart-app", header: adminJSON(admin), body: app, status: 404, request: conforms},
			{path: "/v1/admin/clinics/elsewhere/smart-app", header: adminJSON(admin), body: app, status: 409, request: conforms},
			{header: adminJSON(admin), body: []byte(`{"iss": "http://fhir.ehr.example/r4", "client_id": "x"}`), status: 422, request: inexpressible},
			{header: adminJSON(admin), body: []byte(`{"iss":`), status: 400, request: violates},
		})
		c.do(t, h, exchange{method: "GET", path: "/cds-services", status: 200, request: conforms})

		// The EHR's key, registered as the clinic's FHIR client, signs its
		// CDS Hooks JWTs.
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwks := mustJSON(t, map[string]any{"jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "cds-1"}}}})
		c.do(t, h, exchange{method: "PUT", path: "/v1/admin/clinics/lakeside/fhir-client", header: adminJSON(admin), body: jwks, status: 200, request: conforms})
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "cds-1"))
		if err != nil {
			t.Fatal(err)
		}
		service := "/cds-services/handoff-peer-support"
		n := 0
		bearer := func(aud string) http.Header {
			n++
			tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: "lakeside", Subject: "lakeside", ID: fmt.Sprintf("cds-%d", n),
				Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(h.Now()), Expiry: jwt.NewNumericDate(h.Now().Add(time.Minute))}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + tok}}
		}
		call := func(prefetch bool) []byte {
			req := map[string]any{"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
				"fhirServer": "https://fhir.ehr.example/r4", "context": map[string]any{"userId": "Practitioner/1", "patientId": "p1"}}
			if prefetch {
				req["prefetch"] = map[string]any{"conditions": map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{
					map[string]any{"resource": map[string]any{"resourceType": "Condition", "id": "c1", "subject": map[string]any{"reference": "Patient/p1"},
						"clinicalStatus": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}}},
						"code":           map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}}}}},
				}}}
			}
			return mustJSON(t, req)
		}
		aud := h.Server.URL + service
		_, b := c.do(t, h, exchange{method: "POST", path: service, header: bearer(aud), body: call(true), status: 200, request: conforms})
		if !strings.Contains(string(b), `"type":"smart"`) {
			t.Errorf("an active alcohol use disorder got no card: %s", b)
		}
		for _, x := range []exchange{
			{header: http.Header{"Content-Type": {"application/json"}}, body: call(true), status: 401, request: violates},
			{header: bearer(h.Server.URL + "/oauth/token"), body: call(true), status: 401, request: inexpressible},
			{header: bearer(aud), body: []byte(`{"hook": "patient-view"}`), status: 400, request: violates},
			{header: bearer(aud), body: call(false), status: 412, request: inexpressible},
			{header: func() http.Header { hd := bearer(aud); hd.Set("Content-Type", "text/plain"); return hd }(), body: call(true), status: 415, request: violates},
		} {
			x.method, x.path = "POST", service
			c.do(t, h, x)
		}
	})

	t.Run("not in the API", func(t *testing.T) {
		c.do(t, h, exchange{method: "GET", path: "/v1/nothing-here", status: 404, request: violates})
		hd, _ := c.do(t, h, exchange{method: "PATCH", path: referrals(clinic.ID), header: http.Header{"Content-Type": {"application/json"}}, body: body, status: 405, request: violates})
		if hd.Get("Allow") != "POST" {
			t.Errorf("405 with Allow %q, want POST", hd.Get("Allow"))
		}
		hd, _ = c.do(t, h, exchange{method: "POST", path: "/v1/admin/match?topic=alcohol", header: bearerHeader(admin), status: 405, request: violates})
		if hd.Get("Allow") != "GET" {
			t.Errorf("405 with Allow %q, want GET", hd.Get("Allow"))
		}
	})

	// Last: a dependency that fails answers 503 with Retry-After, which the
	// document promises on every route.
	t.Run("dependency down", func(t *testing.T) {
		// The table does not answer at all: nothing listens where it was.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		deadURL := "http://" + l.Addr().String()
		l.Close()
		live := h.App.Referrals.DB
		h.App.Referrals.DB = dynamotest.Client(deadURL)
		hd, _ := c.do(t, h, exchange{method: "GET", path: "/healthz", status: 503, request: conforms})
		h.App.Referrals.DB = live
		if hd.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		// The table answers 500 (after the SDK's retries).
		h.DB.Server.EmulateFailure(server.FailureConditionInternalServerError)
		t.Cleanup(func() { h.DB.Server.EmulateFailure(server.FailureConditionNone) })
		fresh := referralFor("later@patient.example")
		hd, _ = c.do(t, h, exchange{method: "POST", path: referrals(clinic.ID), header: signed(t, clinic.WebhookSecret, "msg_down", h.Now(), fresh, "application/json"),
			body: fresh, status: 503, request: conforms})
		if hd.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	})

	t.Run("every route answers", func(t *testing.T) {
		var missing []string
		for r := range c.routes {
			if !c.answered[r] {
				missing = append(missing, r)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("no test called these routes of docs/openapi.yaml: %s", strings.Join(missing, "; "))
		}
		// Documented answers no test saw (not a failure: many need a fault).
		for r := range c.routes {
			op := c.operation(r)
			if op == nil || op.Responses == nil {
				continue
			}
			var unseen []string
			for code := range op.Responses.Codes.KeysFromOldest() {
				n, _ := strconv.Atoi(code)
				if !c.statuses[r][n] {
					unseen = append(unseen, code)
				}
			}
			if len(unseen) > 0 {
				t.Logf("%s: documented answers not exercised here: %s", r, strings.Join(unseen, ", "))
			}
		}
	})
}

// operation returns the document's operation for "METHOD /template".
func (c *contract) operation(route string) *v3.Operation {
	method, p, _ := strings.Cut(route, " ")
	item := c.model.Paths.PathItems.GetOrZero(p)
	if item == nil {
		return nil
	}
	return item.GetOperations().GetOrZero(strings.ToLower(method))
}

// ---------------------------------------------------------------- calls per step

// meter measures DynamoDB capacity the way DynamoDB bills it: for each write
// the larger of the item's size before and after (a write unit per 1 KB,
// twice that inside a transaction, at least one), plus a write of the due or
// source index when an item enters, leaves or changes in it; for each read the
// size read (a read unit per 4 KB, half for an eventually consistent read). It
// reads items before and after each write through its own client, which
// nothing counts.
type meter struct {
	raw *dynamodb.Client

	mu       sync.Mutex
	rru, wru float64
	gsi      int // index writes
	approx   bool
}

// gsiKeys are the attributes of the tables' one index each (due-index,
// source-index), and what they project.
var gsiKeys = []string{"GSI1PK", "GSI1SK", "type"}

func (m *meter) option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("handoffMeter",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					writes := m.writesOf(in.Parameters)
					before := m.read(ctx, writes)
					out, md, err := next.HandleInitialize(ctx, in)
					after := m.read(ctx, writes)
					m.account(in.Parameters, out.Result, writes, before, after)
					return out, md, err
				}), middleware.After)
		})
	}
}

// write is one item a call may write.
type write struct {
	table string
	key   map[string]types.AttributeValue
	tx    bool
}

func keyOf(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": item["PK"], "SK": item["SK"]}
}

func (m *meter) writesOf(params any) []write {
	var ws []write
	switch p := params.(type) {
	case *dynamodb.PutItemInput:
		ws = append(ws, write{table: *p.TableName, key: keyOf(p.Item)})
	case *dynamodb.UpdateItemInput:
		ws = append(ws, write{table: *p.TableName, key: p.Key})
	case *dynamodb.DeleteItemInput:
		ws = append(ws, write{table: *p.TableName, key: p.Key})
	case *dynamodb.BatchWriteItemInput:
		for table, reqs := range p.RequestItems {
			for _, r := range reqs {
				if r.PutRequest != nil {
					ws = append(ws, write{table: table, key: keyOf(r.PutRequest.Item)})
				}
				if r.DeleteRequest != nil {
					ws = append(ws, write{table: table, key: r.DeleteRequest.Key})
				}
			}
		}
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range p.TransactItems {
			switch {
			case it.Put != nil:
				ws = append(ws, write{table: *it.Put.TableName, key: keyOf(it.Put.Item), tx: true})
			case it.Update != nil:
				ws = append(ws, write{table: *it.Update.TableName, key: it.Update.Key, tx: true})
			case it.Delete != nil:
				ws = append(ws, write{table: *it.Delete.TableName, key: it.Delete.Key, tx: true})
			case it.ConditionCheck != nil:
				ws = append(ws, write{table: *it.ConditionCheck.TableName, key: it.ConditionCheck.Key, tx: true})
			}
		}
	}
	return ws
}

func (m *meter) read(ctx context.Context, ws []write) []map[string]types.AttributeValue {
	out := make([]map[string]types.AttributeValue, len(ws))
	for i, w := range ws {
		got, err := m.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(w.table), Key: w.key, ConsistentRead: aws.Bool(true)})
		if err == nil {
			out[i] = got.Item
		}
	}
	return out
}

func (m *meter) account(params, result any, ws []write, before, after []map[string]types.AttributeValue) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, w := range ws {
		units := math.Max(1, math.Ceil(float64(max(itemSize(before[i]), itemSize(after[i])))/1024))
		if w.tx {
			units *= 2
		}
		m.wru += units
		m.gsi += gsiWrites(before[i], after[i])
	}
	consistent := func(c *bool) float64 {
		if c != nil && *c {
			return 1
		}
		return 0.5
	}
	switch p := params.(type) {
	case *dynamodb.GetItemInput:
		size := 0
		if o, ok := result.(*dynamodb.GetItemOutput); ok && o != nil {
			size = itemSize(o.Item)
		}
		m.rru += consistent(p.ConsistentRead) * math.Max(1, math.Ceil(float64(size)/4096))
	case *dynamodb.QueryInput:
		size := 0
		if o, ok := result.(*dynamodb.QueryOutput); ok && o != nil {
			for _, it := range o.Items {
				size += itemSize(it)
			}
			if p.ProjectionExpression != nil || p.FilterExpression != nil {
				m.approx = true // billed on whole items, which this does not see
			}
		}
		m.rru += consistent(p.ConsistentRead) * math.Max(1, math.Ceil(float64(size)/4096))
	case *dynamodb.BatchGetItemInput, *dynamodb.ScanInput, *dynamodb.TransactGetItemsInput:
		m.approx = true
	}
}

func (m *meter) snapshot() (rru, wru float64, gsi int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rru, m.wru, m.gsi
}

func (m *meter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rru, m.wru, m.gsi = 0, 0, 0
}

// gsiWrites counts the index writes a change of an item causes.
func gsiWrites(before, after map[string]types.AttributeValue) int {
	in := func(it map[string]types.AttributeValue) bool {
		return it != nil && it["GSI1PK"] != nil && it["GSI1SK"] != nil
	}
	switch {
	case !in(before) && !in(after):
		return 0
	case !in(before) || !in(after):
		return 1
	}
	same := func(a string) bool { return attrText(before[a]) == attrText(after[a]) }
	if !same("GSI1PK") || !same("GSI1SK") {
		return 2 // the old index entry is deleted and a new one written
	}
	for _, a := range gsiKeys {
		if !same(a) {
			return 1
		}
	}
	return 0
}

func attrText(v types.AttributeValue) string {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return x.Value
	case *types.AttributeValueMemberN:
		return x.Value
	case nil:
		return ""
	}
	return fmt.Sprintf("%T", v)
}

// itemSize is an item's size as DynamoDB counts it: attribute names plus
// values (numbers about one byte per two digits, plus one).
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return numberSize(x.Value)
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range x.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range x.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range x.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range x.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

func numberSize(s string) int {
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return (digits+1)/2 + 1
}

// sealCounter counts seals and opens: with KMS envelope sealing, what may
// cost a GenerateDataKey or a Decrypt call when the data key is not cached.
type sealCounter struct {
	seal.Sealer
	mu           sync.Mutex
	seals, opens int
}

func (s *sealCounter) Seal(ctx context.Context, p, aad []byte) ([]byte, error) {
	s.mu.Lock()
	s.seals++
	s.mu.Unlock()
	return s.Sealer.Seal(ctx, p, aad)
}

func (s *sealCounter) Open(ctx context.Context, b, aad []byte) ([]byte, error) {
	s.mu.Lock()
	s.opens++
	s.mu.Unlock()
	return s.Sealer.Open(ctx, b, aad)
}

func (s *sealCounter) take() (seals, opens int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seals, opens = s.seals, s.opens
	s.seals, s.opens = 0, 0
	return seals, opens
}

// stepCost is what one step of a referral's life used.
type stepCost struct {
	name         string
	requests     int // HTTP requests: API Gateway requests and Lambda invocations
	events       int // events run: dispatch invocations at most
	calls        map[string]int
	itemsRead    int
	rru, wru     float64
	gsi          int
	emails       int
	webhooks     int
	seals, opens int
	logBytes     int
	elapsed      time.Duration
}

// atVolume prices one referral's measured figures at volume as
// docs/COST.md does (list prices; warm functions, so KMS is the cached
// data keys' share and no cold start is billed): SES, DynamoDB units and
// index writes, API Gateway requests (with two stylesheet fetches), Lambda
// requests and modelled duration at 256 MB, log bytes with the platform's
// and API Gateway's lines, and storing stored bytes for 3.2 months.
func atVolume(c stepCost, stored int) float64 {
	single, transact := 0, 0
	for op, n := range c.calls {
		if strings.HasPrefix(op, "Transact") {
			transact += n
		} else {
			single += n
		}
	}
	requests := c.requests + 2
	invocations := c.requests + c.events
	ms := 5*single + 15*transact + 60*c.emails + 150*c.webhooks + 3*invocations
	logBytes := c.logBytes + 600*invocations + 400*requests
	return float64(c.emails)*0.0001 +
		(c.wru+float64(c.gsi))*0.625e-6 + c.rru*0.125e-6 +
		0.00001 + // KMS: the warm containers' data keys, shared by many referrals
		float64(requests)*1e-6 + float64(invocations+2)*0.2e-6 +
		float64(ms)/1000*0.25*0.0000133334 +
		float64(logBytes)*0.5e-9 +
		float64(stored)*3.2*0.45e-9
}

func (s stepCost) totalCalls() int {
	n := 0
	for _, v := range s.calls {
		n += v
	}
	return n
}

var hiddenField = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

// TestCallsPerStep runs one referral through the introduce flow to
// "connected" and measures each step: DynamoDB calls, items read, read and
// write units, emails, status webhooks, seals and opens, log bytes, requests
// and events. docs/COST.md prices these figures. The budgets below are about
// twice what the flow uses, so a change that multiplies a step's cost fails.
// Two clinics: one that takes status webhooks (and so, by default, no
// clinician emails) and one that takes clinician emails instead.
func TestCallsPerStep(t *testing.T) {
	t.Run("webhook clinic", func(t *testing.T) {
		callsPerStep(t, true, false, "", 3, 5)
	})
	t.Run("email clinic", func(t *testing.T) {
		callsPerStep(t, false, false, "", 5, 0)
	})
	t.Run("webhook clinic, patient reached by text", func(t *testing.T) {
		callsPerStep(t, true, true, "", 1, 5)
	})
	// With a first meeting: the plan, the reminder, the check-in and
	// attended, beside the same steps.
	t.Run("webhook clinic, first meeting", func(t *testing.T) {
		callsPerStep(t, true, false, "meeting", 6, 6)
	})
	t.Run("webhook clinic, patient reached by text, first meeting", func(t *testing.T) {
		callsPerStep(t, true, true, "meeting", 1, 6)
	})
	// A group that answers after the first-contact window: its reminder,
	// and its service office's notice.
	t.Run("webhook clinic, group silent past the window", func(t *testing.T) {
		callsPerStep(t, true, false, "late", 5, 5)
	})
}

// callsPerStep measures the flow for a clinic with or without a callback URL,
// for a patient with an email or (texted) with only a phone number, and
// checks the emails, texts and status webhooks it sends.
func callsPerStep(t *testing.T, webhooks, texted bool, variant string, wantEmails, wantWebhooks int) {
	meeting, late := variant == "meeting", variant == "late"
	h := apptest.New(t)
	// A Monday, 10:00 in San Francisco: the groups meet on Mondays and
	// Thursdays at 19:00; the first meeting is Thursday's.
	h.SetNow(time.Date(2026, 6, 1, 17, 0, 0, 0, time.UTC))
	hooks := &callbacks{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	m := &meter{raw: dynamotest.Client(h.DB.URL)}
	metered := dynamotest.Client(h.DB.URL, h.DB.Counter.Middleware(), m.option())
	h.App.Referrals.DB, h.App.Clinics.DB, h.App.Directory.DB = metered, metered, metered
	sc := &sealCounter{Sealer: h.App.Referrals.Sealer}
	h.App.Referrals.Sealer, h.App.Clinics.Sealer = sc, sc
	// Measured with one clinic cache for every function, as docs/COST.md
	// counts (the harness otherwise keeps one per function, as Lambdas do,
	// which adds a clinic read and its opens to each function's first use).
	h.App.CacheScope = nil

	callback := ""
	if webhooks {
		callback = hookSrv.URL
	}
	clinic := h.NewClinic("lakeside", callback)
	for i, id := range []string{"mission-a", "mission-b", "mission-c"} {
		g := apptest.SampleGroup(id, 37.7599+float64(i)*0.002, -122.4148)
		if late && i == 0 {
			g.Office = directory.Office{Name: "Intergroup", Email: "office@intergroup.example"}
		}
		h.PutGroup(g, id)
	}
	ctx := context.Background()

	var steps []stepCost
	mails := len(h.Mails())
	hooksSeen := 0
	begin := func() time.Time {
		h.DB.Counter.Reset()
		m.reset()
		sc.take()
		return time.Now()
	}
	logStart := h.Logs.Len()
	end := func(name string, start time.Time, requests, events int) {
		el := time.Since(start)
		s := stepCost{name: name, requests: requests, events: events, calls: map[string]int{}, elapsed: el}
		for _, n := range h.DB.Counter.Snapshot() {
			s.calls[n.Operation] = n.Calls
			s.itemsRead += n.Items
		}
		s.rru, s.wru, s.gsi = m.snapshot()
		s.seals, s.opens = sc.take()
		all := len(h.Mails())
		s.emails, mails = all-mails, all
		hooks.mu.Lock()
		s.webhooks, hooksSeen = len(hooks.bodies)-hooksSeen, len(hooks.bodies)
		hooks.mu.Unlock()
		s.logBytes = h.Logs.Len() - logStart
		logStart = h.Logs.Len()
		steps = append(steps, s)
	}
	// runEvents runs the due events one at a time, as the stream delivers
	// them, each measured as its own step named after its type.
	runEvents := func(label string) {
		t.Helper()
		for range 50 {
			refs, err := h.App.Referrals.Due(ctx, h.Now(), 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) == 0 {
				return
			}
			for _, ref := range refs {
				ev, pending, err := h.App.Referrals.Event(ctx, ref.Partition, ref.EventID)
				if err != nil || !pending {
					continue
				}
				name := label + ": " + string(ev.Type)
				if ev.Type == referral.StatusChanged {
					name += " (" + string(ev.Status) + ")"
				}
				start := begin()
				if err := h.App.RunEvent(ctx, ref.Partition, ref.EventID); err != nil {
					// An effect may ask to run later (a text that waits for
					// the text limits): the dispatcher moves the event.
					at, later := app.RetryAt(err)
					if !later {
						t.Fatalf("%s: %v", name, err)
					}
					if err := h.App.RetryAt(ctx, ref, at); err != nil {
						t.Fatal(err)
					}
					name += " (waits)"
				}
				end(name, start, 0, 1)
			}
		}
		t.Fatal("events still due after 50 rounds")
	}
	page := func(path string) (string, url.Values) {
		t.Helper()
		st, _, b := h.Do(http.MethodGet, path, nil, nil)
		if st != http.StatusOK {
			t.Fatalf("GET page: %d", st)
		}
		v := url.Values{}
		for _, f := range hiddenField.FindAllStringSubmatch(string(b), -1) {
			v.Set(f[1], strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#61;", "=").Replace(f[2]))
		}
		return string(b), v
	}
	post := func(path string, v url.Values) {
		t.Helper()
		st, hd, _ := h.Do(http.MethodPost, path, []byte(v.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {h.Server.URL},
		})
		if st != http.StatusSeeOther {
			t.Fatalf("POST form: %d", st)
		}
		// The browser follows the 303 to the page.
		if st, _, _ := h.Do(http.MethodGet, hd.Get("Location"), nil, nil); st != http.StatusOK {
			t.Fatalf("GET after the form: %d", st)
		}
	}

	email := "cost.patient@patient.example"
	body := referralFor(email)
	if texted {
		body = []byte(strings.Replace(string(body), `"email": "cost.patient@patient.example",`, "", 1))
	}
	start := begin()
	st, b := h.Refer(clinic, "application/json", body)
	if st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	end("intake: POST referral", start, 1, 0)
	var receipt struct{ ID string }
	_ = json.Unmarshal(b, &receipt)
	runEvents("after intake")

	var link string
	if texted {
		texts := h.TextsTo("+14155550100")
		if len(texts) != 1 {
			t.Fatalf("%d consent texts", len(texts))
		}
		link = h.TextLink(texts[0])
	} else {
		consent := h.MailsTo(email)
		if len(consent) != 1 {
			t.Fatalf("%d consent emails", len(consent))
		}
		link = h.Link(consent[0], "c")
	}
	start = begin()
	_, hidden := page(link)
	end("consent page: GET", start, 1, 0)

	start = begin()
	hidden.Set("action", "confirm")
	hidden.Set("mode", "introduce")
	hidden["groups"] = []string{"mission-a", "mission-b"}
	post(link, hidden)
	end("consent: POST confirm (+ GET after 303)", start, 2, 0)
	runEvents("after confirm")

	notice := h.MailsTo("contact+mission-a@groups.example")
	if len(notice) != 1 {
		t.Fatalf("%d group notices", len(notice))
	}
	glink := h.Link(notice[0], "g")
	if late {
		h.Advance(2 * time.Hour)
		runEvents("the window")
	}
	start = begin()
	_, ghidden := page(glink)
	end("group page: GET", start, 1, 0)

	start = begin()
	ghidden.Set("action", "accept")
	if meeting {
		ghidden.Set("first_meeting", "2026-06-04T19:00")
	}
	post(glink, ghidden)
	end("group: POST accept (+ GET after 303)", start, 2, 0)
	runEvents("after accept")

	start = begin()
	_, ghidden = page(glink)
	ghidden.Set("action", "connected")
	post(glink, ghidden)
	end("group: GET, POST connected (+ GET after 303)", start, 3, 0)
	runEvents("after connected")
	if meeting {
		// The plan's text waits for the day after the consent link's; the
		// reminder comes the day before, the check-in after; the patient
		// answers the check-in's link.
		for _, at := range []struct {
			label string
			at    time.Time
		}{
			{"next morning", time.Date(2026, 6, 2, 15, 0, 0, 0, time.UTC)},
			{"reminder", time.Date(2026, 6, 4, 2, 0, 0, 0, time.UTC)},
			{"check-in", time.Date(2026, 6, 5, 15, 0, 0, 0, time.UTC)},
			{"check-in by text", time.Date(2026, 6, 8, 15, 0, 0, 0, time.UTC)},
		} {
			h.Advance(at.at.Sub(h.Now()))
			runEvents(at.label)
		}
		start = begin()
		_, phidden := page(link)
		phidden.Set("action", "attended")
		post(link, phidden)
		end("patient: GET, POST attended (+ GET after 303)", start, 3, 0)
		runEvents("after attended")
	}

	start = begin()
	if v := h.Status(clinic, receipt.ID); v.Status != map[bool]referral.Status{false: referral.Connected, true: referral.Attended}[meeting] {
		t.Fatalf("the referral ended %s", v.Status)
	}
	end("clinic: GET status", start, 1, 0)

	// Deadlines set along the way (consent expiry, group response) come due
	// later and find nothing to do.
	h.Advance(8 * 24 * time.Hour)
	runEvents("deadlines")

	// The sweeper's Queries of an idle table, one per due-index shard: a fixed
	// cost per run, not per referral.
	start = begin()
	if _, err := h.Dispatcher.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	end("sweep of an idle table (per run)", start, 0, 0)
	idle := steps[len(steps)-1]
	steps = steps[:len(steps)-1]

	// What the referral leaves in ReferralsTable until TTL deletes it (the
	// table holds nothing else here).
	stored, items := 0, 0
	// By family: the referral's own items, the outcome counters, the
	// ledger, the groups' listing-check schedules.
	family := map[string][2]int{}
	pages := dynamodb.NewScanPaginator(m.raw, &dynamodb.ScanInput{TableName: aws.String(h.DB.Tables.Referrals)})
	for pages.HasMorePages() {
		pg, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range pg.Items {
			stored += itemSize(it)
			items++
			pk, _ := it["PK"].(*types.AttributeValueMemberS)
			f := "the referral's"
			switch {
			case pk == nil:
			case strings.HasPrefix(pk.Value, "OUT#"):
				f = "outcome counters"
			case strings.HasPrefix(pk.Value, "LEDGER#"):
				f = "ledger"
			case strings.HasPrefix(pk.Value, "REF#group-"):
				f = "listing schedules"
			}
			family[f] = [2]int{family[f][0] + 1, family[f][1] + itemSize(it)}
		}
	}

	var total stepCost
	total.calls = map[string]int{}
	var b2 strings.Builder
	fmt.Fprintf(&b2, "\n| step | req | ev | DynamoDB calls | items read | RRU | WRU | index writes | emails | webhooks | seals | opens | log bytes | ms here |\n")
	fmt.Fprintf(&b2, "| --- | --: | --: | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |\n")
	row := func(s stepCost) {
		var ops []string
		for op, n := range s.calls {
			ops = append(ops, fmt.Sprintf("%s %d", op, n))
		}
		sort.Strings(ops)
		fmt.Fprintf(&b2, "| %s | %d | %d | %s | %d | %.1f | %.0f | %d | %d | %d | %d | %d | %d | %.0f |\n",
			s.name, s.requests, s.events, strings.Join(ops, ", "), s.itemsRead, s.rru, s.wru, s.gsi, s.emails, s.webhooks,
			s.seals, s.opens, s.logBytes, float64(s.elapsed.Microseconds())/1000)
	}
	for _, s := range steps {
		row(s)
		total.requests += s.requests
		total.events += s.events
		for op, n := range s.calls {
			total.calls[op] += n
		}
		total.itemsRead += s.itemsRead
		total.rru += s.rru
		total.wru += s.wru
		total.gsi += s.gsi
		total.emails += s.emails
		total.webhooks += s.webhooks
		total.seals += s.seals
		total.opens += s.opens
		total.logBytes += s.logBytes
		total.elapsed += s.elapsed
	}
	total.name = "**one referral, introduce → connected**"
	switch variant {
	case "meeting":
		total.name = "**one referral, introduce → connected → attended a first meeting**"
	case "late":
		total.name = "**one referral, introduce → (the window: reminder, office) → connected**"
	}
	row(total)
	row(idle)
	fmt.Fprintf(&b2, "\nstored in ReferralsTable after the flow: %d items, %d bytes; texts: %d\n", items, stored, len(h.Texts()))
	for _, f := range slices.Sorted(maps.Keys(family)) {
		fmt.Fprintf(&b2, "  %s: %d items, %d bytes\n", f, family[f][0], family[f][1])
	}
	t.Log(b2.String())
	if m.approx {
		t.Log("some reads used a projection, filter, scan or batch: their read units are approximate")
	}

	// The referral's price at volume, by docs/COST.md's model, from what
	// this flow measured: its aim is at most $0.0005, and the webhook
	// clinic's plain referral is held to it.
	price := atVolume(total, family["the referral's"][1]+family["ledger"][1])
	t.Logf("at volume, by docs/COST.md's model: $%.6f per referral (texts not included: %d)", price, len(h.Texts()))
	if webhooks && !texted && variant == "" && price > 0.0005 {
		t.Errorf("the webhook clinic's referral costs $%.6f at volume, over the $0.0005 aim", price)
	}

	// The flow's own facts, then budgets (about twice the measured figures).
	// Emails: consent, receipt, group notice, and for an email clinic the
	// clinician's accepted and connected. Webhooks: awaiting-consent,
	// consented, routed, accepted, connected.
	if total.emails != wantEmails {
		t.Errorf("%d emails, want %d", total.emails, wantEmails)
	}
	// By text: the consent link; with a first meeting, the plan, the
	// reminder and the check-in too.
	if wantTexts := map[bool]int{true: 1}[texted] * map[bool]int{false: 1, true: 4}[meeting]; len(h.Texts()) != wantTexts {
		t.Errorf("%d texts, want %d", len(h.Texts()), wantTexts)
	}
	if total.webhooks != wantWebhooks {
		t.Errorf("%d status webhooks, want %d", total.webhooks, wantWebhooks)
	}
	for _, b := range []struct {
		what  string
		got   float64
		limit float64
	}{
		{"DynamoDB calls", float64(total.totalCalls()), map[bool]float64{false: 200, true: 280}[meeting || late]},
		{"write units", total.wru, map[bool]float64{false: 250, true: 330}[meeting || late]},
		{"read units", total.rru, map[bool]float64{false: 150, true: 200}[meeting || late]},
		{"seals and opens", float64(total.seals + total.opens), map[bool]float64{false: 60, true: 90}[meeting || late]},
		{"idle sweep calls", float64(idle.totalCalls()), dynamo.DefaultDueShards},
	} {
		if b.got > b.limit {
			t.Errorf("one referral used %.0f %s, over the budget of %.0f", b.got, b.what, b.limit)
		}
	}
}
