package cdshooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/handoff-health/handoff/shared/chart"
)

// MaxRequestBytes bounds a request body (a prefetch of Conditions included).
const MaxRequestBytes = 2 << 20

// Request is a CDS Hooks 2.0 service call, decoded. The prefetch is kept raw
// until the decision reads what it needs (only the Conditions).
type Request struct {
	Hook              string                     `json:"hook"`
	HookInstance      string                     `json:"hookInstance"`
	FHIRServer        string                     `json:"fhirServer,omitempty"`
	FHIRAuthorization *FHIRAuthorization         `json:"fhirAuthorization,omitempty"`
	Context           Context                    `json:"context"`
	Prefetch          map[string]json.RawMessage `json:"prefetch,omitempty"`
}

// FHIRAuthorization is the bearer token an EHR may hand the service.
type FHIRAuthorization struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   *int   `json:"expires_in"`
	Scope       string `json:"scope"`
	Subject     string `json:"subject"`
	Patient     string `json:"patient,omitempty"`
}

// Context is the hook context of patient-view and order-select.
type Context struct {
	UserID      string          `json:"userId"`
	PatientID   string          `json:"patientId"`
	EncounterID string          `json:"encounterId,omitempty"`
	Selections  []string        `json:"selections,omitempty"`
	DraftOrders json.RawMessage `json:"draftOrders,omitempty"`
}

// RequestError is a request that is not a CDS Hooks 2.0 call handoff
// serves; Field names the element. It answers 400.
type RequestError struct {
	Field  string
	Detail string
}

func (e *RequestError) Error() string { return "CDS Hooks request: " + e.Field + ": " + e.Detail }

var (
	uuidPattern = regexp.MustCompile(`^(urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	userPattern = regexp.MustCompile(`^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$`)
)

// DecodeRequest reads a service call and checks it against the
// specification's shape (CDS Hooks 2.0.1, and the patient-view and
// order-select context tables of the Hook Library 1.0.1): hook,
// hookInstance (a UUID) and context required; fhirServer required with
// fhirAuthorization, and a URL; fhirAuthorization complete, of type Bearer;
// the context's userId and patientId, and for order-select its selections
// and draftOrders Bundle. Errors: *RequestError.
func DecodeRequest(body []byte) (Request, error) {
	var r Request
	bad := func(field, format string, args ...any) (Request, error) {
		return Request{}, &RequestError{Field: field, Detail: fmt.Sprintf(format, args...)}
	}
	if len(body) > MaxRequestBytes {
		return bad("body", "is over 2 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		return bad("body", "is not a JSON object of the CDS Hooks request's shape")
	}
	if dec.More() {
		return bad("body", "holds more than one JSON value")
	}
	switch r.Hook {
	case "":
		return bad("hook", "is required")
	case HookPatientView, HookOrderSelect:
	default:
		return bad("hook", "this service answers patient-view and order-select")
	}
	if !uuidPattern.MatchString(r.HookInstance) {
		return bad("hookInstance", "must be a UUID")
	}
	if r.FHIRServer != "" {
		if u, err := url.Parse(r.FHIRServer); err != nil || !u.IsAbs() || u.Host == "" {
			return bad("fhirServer", "must be an absolute URL")
		}
	}
	if a := r.FHIRAuthorization; a != nil {
		switch {
		case r.FHIRServer == "":
			return bad("fhirServer", "is required with fhirAuthorization")
		case a.AccessToken == "":
			return bad("fhirAuthorization.access_token", "is required")
		case a.TokenType != "Bearer":
			return bad("fhirAuthorization.token_type", "must be Bearer")
		case a.ExpiresIn == nil:
			return bad("fhirAuthorization.expires_in", "is required")
		case a.Scope == "":
			return bad("fhirAuthorization.scope", "is required")
		case a.Subject == "":
			return bad("fhirAuthorization.subject", "is required")
		}
	}
	c := r.Context
	switch {
	case c.UserID == "":
		return bad("context.userId", "is required")
	case !userPattern.MatchString(c.UserID):
		return bad("context.userId", "must be [ResourceType]/[id]")
	case r.Hook == HookOrderSelect && (strings.HasPrefix(c.UserID, "Patient/") || strings.HasPrefix(c.UserID, "RelatedPerson/")):
		return bad("context.userId", "must be a Practitioner or PractitionerRole for order-select")
	case c.PatientID == "":
		return bad("context.patientId", "is required")
	case !chart.ValidID(c.PatientID):
		return bad("context.patientId", "must be a FHIR id")
	}
	if r.Hook == HookOrderSelect {
		if len(c.Selections) == 0 {
			return bad("context.selections", "is required for order-select")
		}
		var b struct {
			ResourceType string `json:"resourceType"`
		}
		if len(c.DraftOrders) == 0 || json.Unmarshal(c.DraftOrders, &b) != nil || b.ResourceType != "Bundle" {
			return bad("context.draftOrders", "must be a FHIR Bundle for order-select")
		}
	}
	return r, nil
}
