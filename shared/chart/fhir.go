package chart

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// The FHIR R4 elements handoff reads from a chart, and nothing else: every
// other element a Patient or a Condition carries (narrative, notes, onset,
// evidence, extensions, identifiers, addresses' lines) is not even decoded.
// These types are kept minimal and in this one file, so that a shared typed
// FHIR package can replace them without touching the rest.

// Patient is the part of a FHIR R4 Patient handoff reads.
type Patient struct {
	ResourceType  string          `json:"resourceType"`
	ID            string          `json:"id"`
	Name          []HumanName     `json:"name"`
	Telecom       []ContactPoint  `json:"telecom"`
	Communication []Communication `json:"communication"`
	Address       []Address       `json:"address"`
}

// Condition is the part of a FHIR R4 Condition handoff reads.
type Condition struct {
	ResourceType       string           `json:"resourceType"`
	ClinicalStatus     *CodeableConcept `json:"clinicalStatus"`
	VerificationStatus *CodeableConcept `json:"verificationStatus"`
	Code               *CodeableConcept `json:"code"`
	Subject            *Reference       `json:"subject"`
}

// HumanName is a FHIR HumanName.
type HumanName struct {
	Use    string   `json:"use"`
	Given  []string `json:"given"`
	Period *Period  `json:"period"`
}

// ContactPoint is a FHIR ContactPoint.
type ContactPoint struct {
	System string  `json:"system"`
	Value  string  `json:"value"`
	Use    string  `json:"use"`
	Rank   int     `json:"rank"`
	Period *Period `json:"period"`
}

// Communication is a Patient's language.
type Communication struct {
	Language  CodeableConcept `json:"language"`
	Preferred bool            `json:"preferred"`
}

// Address is a FHIR Address, without its lines.
type Address struct {
	Use        string  `json:"use"`
	PostalCode string  `json:"postalCode"`
	Country    string  `json:"country"`
	Period     *Period `json:"period"`
}

// Period is a FHIR Period; only its end matters here.
type Period struct {
	End string `json:"end"`
}

// CodeableConcept is a FHIR CodeableConcept without its text.
type CodeableConcept struct {
	Coding []Coding `json:"coding"`
}

// Coding is a FHIR Coding without its display.
type Coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference string `json:"reference"`
}

// bundle is a searchset Bundle of Conditions.
type bundle struct {
	ResourceType string `json:"resourceType"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

// idPattern is FHIR's id: 1 to 64 letters, digits, '-' and '.'.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// ValidID reports whether id has the shape of a FHIR resource id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// DecodePatient reads a Patient resource. Errors say what is wrong with the
// resource, never what it holds.
func DecodePatient(raw []byte) (Patient, error) {
	var p Patient
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, errors.New("the Patient is not FHIR JSON")
	}
	if p.ResourceType != "Patient" {
		return p, fmt.Errorf("a %.40q where a Patient was expected", p.ResourceType)
	}
	return p, nil
}

// DecodeConditions reads a searchset Bundle: the Conditions in it (other
// resources, such as an OperationOutcome a server adds, are skipped) and
// the URL of its next page ("" for the last).
func DecodeConditions(raw []byte) ([]Condition, string, error) {
	var b bundle
	if err := json.Unmarshal(raw, &b); err != nil || b.ResourceType != "Bundle" {
		return nil, "", errors.New("the Condition search did not answer with a FHIR Bundle")
	}
	var out []Condition
	for _, e := range b.Entry {
		var c Condition
		if json.Unmarshal(e.Resource, &c) != nil {
			return nil, "", errors.New("a Bundle entry is not FHIR JSON")
		}
		if c.ResourceType == "Condition" {
			out = append(out, c)
		}
	}
	var next string
	for _, l := range b.Link {
		if l.Relation == "next" {
			next = l.URL
		}
	}
	return out, next, nil
}

// DecodeCondition reads one Condition resource (a prefetch may hold either a
// Bundle or a resource).
func DecodeCondition(raw []byte) (Condition, error) {
	var c Condition
	if err := json.Unmarshal(raw, &c); err != nil || c.ResourceType != "Condition" {
		return c, errors.New("not a FHIR Condition")
	}
	return c, nil
}
