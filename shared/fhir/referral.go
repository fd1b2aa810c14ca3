package fhir

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/handoff-health/handoff/shared/problem"
)

// The resources of a referral, with the elements handoff's intake reads.

// ServiceRequest is what handoff reads of a ServiceRequest.
type ServiceRequest struct {
	Identifier []Identifier      `json:"identifier,omitempty"`
	Category   []CodeableConcept `json:"category,omitempty"`
	Code       *CodeableConcept  `json:"code,omitempty"`
	Subject    *Reference        `json:"subject,omitempty"`
	Requester  *Reference        `json:"requester,omitempty"`
	ReasonCode []CodeableConcept `json:"reasonCode,omitempty"`
}

// serviceRequestIn is a ServiceRequest as read, with its contained
// resources still to decode.
type serviceRequestIn struct {
	ServiceRequest
	Contained []json.RawMessage `json:"contained"`
}

// Patient is what handoff reads of a Patient.
type Patient struct {
	Name          []HumanName            `json:"name,omitempty"`
	Telecom       []ContactPoint         `json:"telecom,omitempty"`
	Communication []PatientCommunication `json:"communication,omitempty"`
	Address       []Address              `json:"address,omitempty"`
}

// PatientCommunication is a language the patient speaks.
type PatientCommunication struct {
	Language  CodeableConcept `json:"language"`
	Preferred bool            `json:"preferred,omitempty"`
}

// Practitioner is what handoff reads of a Practitioner.
type Practitioner struct {
	Name    []HumanName    `json:"name,omitempty"`
	Telecom []ContactPoint `json:"telecom,omitempty"`
}

// PractitionerRole is what handoff reads of a PractitionerRole.
type PractitionerRole struct {
	Practitioner *Reference     `json:"practitioner,omitempty"`
	Telecom      []ContactPoint `json:"telecom,omitempty"`
}

// A Resource is a resource a referral's references may point to (a Bundle
// entry or a contained resource), or one read from an EHR (ReadResource,
// ReadSearchset). The types handoff reads are decoded (once) into the
// field of their type; any other is kept as its type and id only.
type Resource struct {
	Type    string // resourceType
	ID      string
	FullURL string // a Bundle entry's fullUrl; "#id" for a contained one

	Patient          *Patient
	Practitioner     *Practitioner
	PractitionerRole *PractitionerRole
	ServiceRequest   *ServiceRequest
	Condition        *Condition

	// Err is why the resource's elements could not be decoded (an
	// element of the wrong type): an Invalid error naming it. The
	// resource is then kept without its typed value.
	Err error

	contained []json.RawMessage // a ServiceRequest's contained resources
}

// head is a resource's type and id.
type head struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

// decodeResource decodes a resource by its resourceType. A resource that
// is not even an object with a resourceType gives ok false.
func decodeResource(raw json.RawMessage, fullURL string) (Resource, bool) {
	var h head
	if len(raw) == 0 || json.Unmarshal(raw, &h) != nil || h.ResourceType == "" {
		return Resource{}, false
	}
	r := Resource{Type: h.ResourceType, ID: h.ID, FullURL: fullURL}
	var v any
	switch h.ResourceType {
	case "Patient":
		r.Patient = &Patient{}
		v = r.Patient
	case "Practitioner":
		r.Practitioner = &Practitioner{}
		v = r.Practitioner
	case "PractitionerRole":
		r.PractitionerRole = &PractitionerRole{}
		v = r.PractitionerRole
	case "Condition":
		r.Condition = &Condition{}
		v = r.Condition
	case "ServiceRequest":
		var sr serviceRequestIn
		if err := json.Unmarshal(raw, &sr); err != nil {
			r.Err = decodeError(err, h.ResourceType)
			return r, true
		}
		r.ServiceRequest, r.contained = &sr.ServiceRequest, sr.Contained
		return r, true
	default:
		return r, true
	}
	if err := json.Unmarshal(raw, v); err != nil {
		r.Patient, r.Practitioner, r.PractitionerRole, r.Condition = nil, nil, nil, nil
		r.Err = decodeError(err, h.ResourceType)
	}
	return r, true
}

// Resources are the resources of one request, for resolving references.
type Resources []Resource

// Resolve finds the resource a reference points to: "#id" among the
// contained ones, "Type/id" by type and id (or by a fullUrl ending in it),
// and an absolute URL or a urn:uuid by fullUrl.
func (rs Resources) Resolve(ref string) (Resource, bool) {
	if ref == "" {
		return Resource{}, false
	}
	typ, id, relative := strings.Cut(ref, "/")
	relative = relative && !strings.Contains(id, "/") && !strings.Contains(typ, ":")
	for _, r := range rs {
		switch {
		case r.FullURL == ref:
			return r, true
		case relative && r.Type == typ && r.ID == id:
			return r, true
		case relative && strings.HasSuffix(r.FullURL, "/"+ref):
			return r, true
		}
	}
	return Resource{}, false
}

// A Referral is a referral as FHIR carries it: its ServiceRequest and the
// resources its references may point to (the Patient, the requester).
// shared/intake maps it to handoff's intake value.
type Referral struct {
	ServiceRequest ServiceRequest
	Resources      Resources
}

// bundle is a Bundle as read: its entries' resources decoded once each.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Entry        []bundleEntry `json:"entry"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  *struct {
		Method      string `json:"method"`
		IfNoneExist string `json:"ifNoneExist"`
	} `json:"request"`
}

// ReadReferral reads a referral a clinic sends as FHIR R4: a ServiceRequest
// (its Patient and requester contained), or a Bundle (collection,
// transaction or message) holding exactly one ServiceRequest and the
// resources it references. Errors: Malformed, Invalid (resourceType,
// Bundle.type, Bundle.entry, or an element of the wrong type).
func ReadReferral(body []byte) (Referral, error) {
	var root head
	if err := json.Unmarshal(body, &root); err != nil {
		return Referral{}, decodeError(err, "")
	}
	switch root.ResourceType {
	case "ServiceRequest":
		var sr serviceRequestIn
		if err := json.Unmarshal(body, &sr); err != nil {
			return Referral{}, decodeError(err, "ServiceRequest")
		}
		return referralOf(sr.ServiceRequest, sr.Contained, nil), nil
	case "Bundle":
		var b bundle
		if err := json.Unmarshal(body, &b); err != nil {
			return Referral{}, decodeError(err, "Bundle")
		}
		if b.Type != "collection" && b.Type != "transaction" && b.Type != "message" {
			return Referral{}, Invalid("Bundle.type", "must be collection, transaction or message")
		}
		return referralIn(b.Entry)
	}
	return Referral{}, Invalid("resourceType", "must be ServiceRequest or Bundle")
}

// referralIn finds the one ServiceRequest among a Bundle's entries.
func referralIn(entries []bundleEntry) (Referral, error) {
	var rs Resources
	var sr *Resource
	n := 0
	for _, e := range entries {
		r, ok := decodeResource(e.Resource, e.FullURL)
		if !ok {
			continue
		}
		rs = append(rs, r)
		if r.Type == "ServiceRequest" {
			n++
			sr = &rs[len(rs)-1]
		}
	}
	switch {
	case n == 0:
		return Referral{}, Invalid("Bundle.entry", "must hold a ServiceRequest")
	case n > 1:
		return Referral{}, Invalid("Bundle.entry", "must hold one ServiceRequest: send one referral per request")
	case sr.Err != nil:
		return Referral{}, sr.Err
	}
	return referralOf(*sr.ServiceRequest, sr.contained, rs), nil
}

// referralOf is a ServiceRequest with the resources of its request and its
// own contained ones.
func referralOf(sr ServiceRequest, contained []json.RawMessage, rs Resources) Referral {
	for _, c := range contained {
		if r, ok := decodeResource(c, ""); ok && r.ID != "" {
			r.FullURL = "#" + r.ID
			rs = append(rs, r)
		}
	}
	return Referral{ServiceRequest: sr, Resources: rs}
}

// errNotResource is a body that is not a resource at all.
var errNotResource = errors.New("not a FHIR resource")

// Invalid is the error of one element handoff cannot take: its FHIR path
// and what it must be.
func Invalid(field, detail string) error {
	return problem.Invalidf([]problem.FieldError{{Field: field, Detail: detail}}, "The referral has an invalid field.")
}

// decodeError turns a decoding error into a field error naming the
// element (resource.path) of the wrong type, or Malformed.
func decodeError(err error, resource string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if resource != "" {
			field = strings.Trim(resource+"."+field, ".")
		}
		return Invalid(field, "must be "+describe(te.Type))
	}
	return problem.Errorf(problem.Malformed, "The body could not be decoded as a FHIR resource.")
}

func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64, reflect.Uint32, reflect.Uint64:
		return "a number"
	}
	return "a value"
}
