package fhir

// The R4 data types handoff reads and writes, with the elements it uses.

// Reference is a Reference.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Identifier is an Identifier.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Coding is a Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Period is a Period: handoff reads only whether it has ended.
type Period struct {
	End string `json:"end,omitempty"`
}

// HumanName is a HumanName.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Period *Period  `json:"period,omitempty"`
}

// ContactPoint is a ContactPoint.
type ContactPoint struct {
	System string  `json:"system,omitempty"`
	Value  string  `json:"value,omitempty"`
	Use    string  `json:"use,omitempty"`
	Rank   int     `json:"rank,omitempty"`
	Period *Period `json:"period,omitempty"`
}

// Address is an Address: handoff reads its postal code and country.
type Address struct {
	Use        string  `json:"use,omitempty"`
	PostalCode string  `json:"postalCode,omitempty"`
	Country    string  `json:"country,omitempty"`
	Period     *Period `json:"period,omitempty"`
}

// Meta is a resource's Meta.
type Meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
}

// Extension is an Extension with the value types handoff reads or writes.
type Extension struct {
	URL              string      `json:"url"`
	ValueCode        string      `json:"valueCode,omitempty"`
	ValueString      string      `json:"valueString,omitempty"`
	ValueURI         string      `json:"valueUri,omitempty"`
	ValueUnsignedInt *int64      `json:"valueUnsignedInt,omitempty"`
	Extension        []Extension `json:"extension,omitempty"`
}

// Element is a primitive's element: its extensions (as in _payload).
type Element struct {
	Extension []Extension `json:"extension,omitempty"`
}
