package fhir

import (
	"encoding/json"
)

// Condition is what handoff reads of a Condition: whether it holds (its
// clinical and verification status), its code, and whose it is. Its notes,
// onset, evidence and extensions are never decoded; its code is mapped to
// a topic and dropped by whoever reads it (shared/chart).
type Condition struct {
	ClinicalStatus     *CodeableConcept `json:"clinicalStatus,omitempty"`
	VerificationStatus *CodeableConcept `json:"verificationStatus,omitempty"`
	Code               *CodeableConcept `json:"code,omitempty"`
	Subject            *Reference       `json:"subject,omitempty"`
}

// ReadResource reads one resource handoff fetched from an EHR (a Patient,
// a Condition): its type and id, and its elements when it is of a type
// handoff reads. Errors: Malformed (not a JSON object with a
// resourceType), Invalid (an element of the wrong type, named).
func ReadResource(body []byte) (Resource, error) {
	r, ok := decodeResource(body, "")
	switch {
	case !ok:
		return Resource{}, decodeError(errNotResource, "")
	case r.Err != nil:
		return Resource{}, r.Err
	}
	return r, nil
}

// SearchResult is a searchset Bundle as read: its entries' resources, each
// decoded once by its type, and the URL of its next page ("" on the last).
type SearchResult struct {
	Resources Resources
	Next      string
}

type searchsetIn struct {
	ResourceType string        `json:"resourceType"`
	Link         []BundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry"`
}

// ReadSearchset reads a Bundle a FHIR search answered. Entries that are not
// resources are skipped; one whose elements have the wrong type is kept
// with its Err. Errors: Malformed (not a JSON object), Invalid
// (resourceType not Bundle, or an element of the wrong type).
func ReadSearchset(body []byte) (SearchResult, error) {
	var b searchsetIn
	if err := json.Unmarshal(body, &b); err != nil {
		return SearchResult{}, decodeError(err, "Bundle")
	}
	if b.ResourceType != "Bundle" {
		return SearchResult{}, Invalid("resourceType", "must be Bundle")
	}
	var s SearchResult
	for _, e := range b.Entry {
		if r, ok := decodeResource(e.Resource, e.FullURL); ok {
			s.Resources = append(s.Resources, r)
		}
	}
	for _, l := range b.Link {
		if l.Relation == "next" {
			s.Next = l.URL
		}
	}
	return s, nil
}
