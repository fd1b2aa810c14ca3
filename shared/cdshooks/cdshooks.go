// Package cdshooks is handoff's CDS Hooks 2.0 service, as an adapter with no
// HTTP handlers of its own: the discovery document, a request decoded and
// checked against the specification's shape, the EHR's JWT verified, and
// the card decision — one card that offers handoff's referral (a SMART link
// to {HANDOFF_PUBLIC_URL}/launch) when an active Condition of the open
// patient maps to a topic and the clinic has no open referral for that
// patient; otherwise no card, so the service stays quiet.
//
// The EHR's JWT (Authorization: Bearer) must be signed RS384 or ES384 by a
// key the clinic registered (Keys), with iss = sub = the clinic's client id,
// aud = the service's URL, exp at most 5 minutes ahead, iat, and a jti never
// seen before (JTIs: a conditional write in DynamoDB, not memory).
//
// The Conditions come from the request's prefetch when the EHR sent them,
// else from the EHR's FHIR server with the request's fhirAuthorization
// (shared/chart reads and maps them; the codes are dropped there). Whether
// the clinic has an open referral for the patient is asked of OpenReferrals
// with PatientKey: a keyed hash of the EHR's patient id, the only thing
// handoff keeps about it.
package cdshooks

import (
	"encoding/json"
	"strings"
)

// ServiceID is handoff's one CDS service.
const ServiceID = "handoff-peer-support"

// The hooks the service answers.
const (
	HookPatientView = "patient-view"
	HookOrderSelect = "order-select"
)

// The prefetch keys handoff asks for.
const (
	PrefetchPatient    = "patient"
	PrefetchConditions = "conditions"
)

// ServicesPath is the discovery endpoint's path; a service is at
// ServicesPath + "/" + ServiceID.
const ServicesPath = "/cds-services"

// DiscoveryResponse is the answer to GET /cds-services.
type DiscoveryResponse struct {
	Services []Service `json:"services"`
}

// Service is one entry of the discovery document.
type Service struct {
	Hook        string            `json:"hook"`
	Title       string            `json:"title,omitempty"`
	Description string            `json:"description"`
	ID          string            `json:"id"`
	Prefetch    map[string]string `json:"prefetch,omitempty"`
}

// Discovery is handoff's discovery document: the service for patient-view
// and for order-select (one id for both, as the specification allows), each
// with prefetch templates for the Patient and its active Conditions.
func Discovery() DiscoveryResponse {
	prefetch := map[string]string{
		PrefetchPatient:    "Patient/{{context.patientId}}",
		PrefetchConditions: "Condition?patient={{context.patientId}}&clinical-status=active",
	}
	const desc = "Offers a referral to a peer support group (self-help, mutual aid) when the patient's active " +
		"Conditions point to one and the clinic has no open referral for the patient. The card's SMART link " +
		"opens handoff's referral form filled in from the chart; the patient consents on their own phone."
	var out DiscoveryResponse
	for _, hook := range []string{HookPatientView, HookOrderSelect} {
		out.Services = append(out.Services, Service{Hook: hook, Title: "handoff: peer support referral",
			Description: desc, ID: ServiceID, Prefetch: prefetch})
	}
	return out
}

// ServiceURL is the URL of handoff's service under a public base URL: the
// aud its JWTs must carry.
func ServiceURL(publicURL string) string {
	return strings.TrimSuffix(publicURL, "/") + ServicesPath + "/" + ServiceID
}

// Response is a service's answer: cards, possibly none.
type Response struct {
	Cards []Card `json:"cards"`
}

// Card is a CDS Hooks card (the elements handoff uses).
type Card struct {
	UUID      string `json:"uuid,omitempty"`
	Summary   string `json:"summary"`
	Detail    string `json:"detail,omitempty"`
	Indicator string `json:"indicator"`
	Source    Source `json:"source"`
	Links     []Link `json:"links,omitempty"`
}

// Source names who speaks on a card.
type Source struct {
	Label string `json:"label"`
	URL   string `json:"url,omitempty"`
}

// Link is a card's link; type smart is a SMART app launch URL.
type Link struct {
	Label string `json:"label"`
	URL   string `json:"url"`
	Type  string `json:"type"`
}

// NoCards is the answer with nothing to say.
func NoCards() Response { return Response{Cards: []Card{}} }

// MarshalJSON keeps cards an array (never null) when there are none.
func (r Response) MarshalJSON() ([]byte, error) {
	type plain Response
	if r.Cards == nil {
		r.Cards = []Card{}
	}
	return json.Marshal(plain(r))
}
