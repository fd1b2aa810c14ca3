package fhir

// CapabilityStatement is what GET /fhir/metadata answers.
type CapabilityStatement struct {
	ResourceType   string            `json:"resourceType"`
	Status         string            `json:"status"`
	Date           string            `json:"date"`
	Kind           string            `json:"kind"`
	Instantiates   []string          `json:"instantiates"`
	SoftwareName   map[string]string `json:"software"`
	Implementation map[string]string `json:"implementation"`
	FHIRVersion    string            `json:"fhirVersion"`
	Format         []string          `json:"format"`
	Rest           []CapabilityRest  `json:"rest"`
}

// CapabilityRest is the server's REST capabilities.
type CapabilityRest struct {
	Mode        string               `json:"mode"`
	Security    CapabilitySecurity   `json:"security"`
	Resource    []CapabilityResource `json:"resource"`
	Interaction []Interaction        `json:"interaction"`
	Operation   []Operation          `json:"operation"`
}

// CapabilitySecurity names SMART on FHIR and its token endpoint.
type CapabilitySecurity struct {
	Service   []CodeableConcept `json:"service"`
	Extension []Extension       `json:"extension"`
}

// CapabilityResource is one resource type served.
type CapabilityResource struct {
	Type              string        `json:"type"`
	SupportedProfile  []string      `json:"supportedProfile"`
	Interaction       []Interaction `json:"interaction"`
	ConditionalCreate bool          `json:"conditionalCreate,omitempty"`
	SearchParam       []SearchParam `json:"searchParam,omitempty"`
}

// Interaction is a supported interaction.
type Interaction struct {
	Code string `json:"code"`
}

// SearchParam is a supported search parameter.
type SearchParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

// Operation is a supported operation.
type Operation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

func interactions(codes ...string) []Interaction {
	out := make([]Interaction, len(codes))
	for i, c := range codes {
		out[i] = Interaction{Code: c}
	}
	return out
}

// Capabilities is handoff's CapabilityStatement: the SDOH Clinical Care
// coordination platform's Task API and the Subscriptions backport, secured
// by SMART on FHIR with the token endpoint at tokenURL. base is the FHIR
// base URL.
func Capabilities(base, tokenURL string) CapabilityStatement {
	return CapabilityStatement{
		ResourceType: "CapabilityStatement", Status: "active", Date: "2026-12-04", Kind: "instance",
		Instantiates:   []string{"http://hl7.org/fhir/us/sdoh-clinicalcare/CapabilityStatement/SDOHCC-CoordinationPlatform"},
		SoftwareName:   map[string]string{"name": "handoff"},
		Implementation: map[string]string{"description": "handoff: referrals from clinicians to self-help groups", "url": base},
		FHIRVersion:    "4.0.1", Format: []string{"application/fhir+json"},
		Rest: []CapabilityRest{{
			Mode: "server",
			Security: CapabilitySecurity{
				Service: []CodeableConcept{{Coding: []Coding{{System: "http://terminology.hl7.org/CodeSystem/restful-security-service", Code: "SMART-on-FHIR"}}}},
				Extension: []Extension{{URL: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
					Extension: []Extension{{URL: "token", ValueURI: tokenURL}}}},
			},
			Resource: []CapabilityResource{{
				Type: "Task", SupportedProfile: []string{"http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"},
				Interaction: interactions("create", "read", "update", "search-type"), ConditionalCreate: true,
				SearchParam: []SearchParam{
					{Name: "_lastUpdated", Type: "date", Documentation: "gt, ge, lt, le or eq (no prefix: eq at the value's precision); repeat it for a range"},
					{Name: "status", Type: "token", Documentation: "a comma list is OR; a repeated status is AND"},
					{Name: "_id", Type: "token"}, {Name: "_count", Type: "number", Documentation: "1 to 100 (20 by default); 0 is taken as 1"},
				},
			}, {
				Type: "Subscription", Interaction: interactions("create", "read", "update"),
				SupportedProfile: []string{"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"},
			}},
			Interaction: interactions("transaction"),
			Operation:   []Operation{{Name: "status", Definition: "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"}},
		}},
	}
}
