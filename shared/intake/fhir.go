package intake

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/topics"
)

// The FHIR R4 elements intake reads. Everything else a resource carries (text,
// note, supportingInfo, extensions, identifiers of the patient, addresses'
// lines, other resources) is not even decoded.

type fhirResource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

type fhirBundle struct {
	Type  string `json:"type"`
	Entry []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type fhirServiceRequest struct {
	Identifier []struct {
		Value string `json:"value"`
	} `json:"identifier"`
	Contained  []json.RawMessage     `json:"contained"`
	Category   []fhirCodeableConcept `json:"category"`
	Code       *fhirCodeableConcept  `json:"code"`
	Subject    *fhirReference        `json:"subject"`
	Requester  *fhirReference        `json:"requester"`
	ReasonCode []fhirCodeableConcept `json:"reasonCode"`
}

type fhirReference struct {
	Reference string `json:"reference"`
	Display   string `json:"display"`
}

type fhirCodeableConcept struct {
	Coding []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"coding"`
}

type fhirPeriod struct {
	End string `json:"end"`
}

type fhirHumanName struct {
	Use    string      `json:"use"`
	Text   string      `json:"text"`
	Family string      `json:"family"`
	Given  []string    `json:"given"`
	Prefix []string    `json:"prefix"`
	Period *fhirPeriod `json:"period"`
}

type fhirContactPoint struct {
	System string      `json:"system"`
	Value  string      `json:"value"`
	Use    string      `json:"use"`
	Rank   int         `json:"rank"`
	Period *fhirPeriod `json:"period"`
}

type fhirPatient struct {
	Name          []fhirHumanName     `json:"name"`
	Telecom       []fhirContactPoint  `json:"telecom"`
	Communication []fhirCommunication `json:"communication"`
	Address       []fhirAddress       `json:"address"`
}

type fhirCommunication struct {
	Language  fhirCodeableConcept `json:"language"`
	Preferred bool                `json:"preferred"`
}

type fhirAddress struct {
	Use        string      `json:"use"`
	PostalCode string      `json:"postalCode"`
	Country    string      `json:"country"`
	Period     *fhirPeriod `json:"period"`
}

type fhirPractitioner struct {
	Name    []fhirHumanName    `json:"name"`
	Telecom []fhirContactPoint `json:"telecom"`
}

type fhirPractitionerRole struct {
	Practitioner *fhirReference     `json:"practitioner"`
	Telecom      []fhirContactPoint `json:"telecom"`
}

// fhirPaths names, for each native field, the FHIR element it came from, so
// that errors found by the native rules point at what the sender wrote.
var fhirPaths = map[string]string{
	"external_id":                "ServiceRequest.identifier",
	"patient.given_name":         "Patient.name",
	"patient.family_name":        "Patient.name",
	"patient.email":              "Patient.telecom",
	"patient.phone":              "Patient.telecom",
	"patient.preferred_language": "Patient.communication",
	"patient.postal_code":        "Patient.address",
	"patient.country":            "Patient.address",
	"patient.location":           "Patient.address",
	"needs":                      "ServiceRequest.reasonCode",
	"clinician.name":             "ServiceRequest.requester",
	"clinician.email":            "ServiceRequest.requester",
}

// fhirMessages replace native messages that would name native fields.
var fhirMessages = map[string]string{
	"Patient.telecom":          "needs an email, or a phone number valid in the patient's country",
	"Patient.address":          "needs a US postal code known to the ZIP table (use home, current)",
	"Patient.name":             "needs a name with a given name, of at most 100 characters on one line",
	"ServiceRequest.requester": "must reference a Practitioner or PractitionerRole in the Bundle (or contained) with a name and an email telecom",
}

// entry is a resource found in a Bundle or in ServiceRequest.contained.
type entry struct {
	fullURL string
	fhirResource
	raw json.RawMessage
}

// parseFHIR decodes a FHIR R4 ServiceRequest (Patient contained) or a Bundle
// holding one, and maps it to an Intake with the native rules.
func parseFHIR(body []byte) (referral.Intake, error) {
	if _, err := walk(body, nil); err != nil {
		return referral.Intake{}, err
	}
	var root fhirResource
	if err := json.Unmarshal(body, &root); err != nil {
		return referral.Intake{}, fhirDecodeError(err, "")
	}

	var (
		srRaw   json.RawMessage
		entries []entry
	)
	switch root.ResourceType {
	case "ServiceRequest":
		srRaw = body
	case "Bundle":
		var b fhirBundle
		if err := json.Unmarshal(body, &b); err != nil {
			return referral.Intake{}, fhirDecodeError(err, "Bundle")
		}
		if b.Type != "collection" && b.Type != "transaction" && b.Type != "message" {
			return referral.Intake{}, invalid([]problem.FieldError{{Field: "Bundle.type", Detail: "must be collection, transaction or message"}})
		}
		for _, e := range b.Entry {
			var r fhirResource
			if len(e.Resource) > 0 && json.Unmarshal(e.Resource, &r) == nil {
				entries = append(entries, entry{fullURL: e.FullURL, fhirResource: r, raw: e.Resource})
			}
		}
		var n int
		for _, e := range entries {
			if e.ResourceType == "ServiceRequest" {
				srRaw, n = e.raw, n+1
			}
		}
		switch {
		case n == 0:
			return referral.Intake{}, invalid([]problem.FieldError{{Field: "Bundle.entry", Detail: "must hold a ServiceRequest"}})
		case n > 1:
			return referral.Intake{}, invalid([]problem.FieldError{{Field: "Bundle.entry", Detail: "must hold one ServiceRequest: send one referral per request"}})
		}
	default:
		return referral.Intake{}, invalid([]problem.FieldError{{Field: "resourceType", Detail: "must be ServiceRequest or Bundle"}})
	}

	var sr fhirServiceRequest
	if err := json.Unmarshal(srRaw, &sr); err != nil {
		return referral.Intake{}, fhirDecodeError(err, "ServiceRequest")
	}
	for _, c := range sr.Contained {
		var r fhirResource
		if json.Unmarshal(c, &r) == nil && r.ID != "" {
			entries = append(entries, entry{fullURL: "#" + r.ID, fhirResource: r, raw: c})
		}
	}
	m := fhirMapper{entries: entries}
	return m.intake(sr)
}

// fhirDecodeError reports a type error in an element intake reads.
func fhirDecodeError(err error, resource string) error {
	if fe, ok := typeError(err, resource); ok {
		return invalid([]problem.FieldError{fe})
	}
	return problem.Errorf(problem.Malformed, "The body could not be decoded as a FHIR resource.")
}

// fhirMapper resolves references among the resources of one request.
type fhirMapper struct {
	entries []entry
}

// resolve finds the resource a reference points to: "#id" in contained,
// "Type/id" by type and id (or by a fullUrl ending in it), and an absolute
// URL or urn:uuid by fullUrl.
func (m fhirMapper) resolve(ref string) (entry, bool) {
	if ref == "" {
		return entry{}, false
	}
	typ, id, relative := strings.Cut(ref, "/")
	relative = relative && !strings.Contains(id, "/") && !strings.Contains(typ, ":")
	for _, e := range m.entries {
		switch {
		case e.fullURL == ref:
			return e, true
		case relative && e.ResourceType == typ && e.ID == id:
			return e, true
		case relative && strings.HasSuffix(e.fullURL, "/"+ref):
			return e, true
		}
	}
	return entry{}, false
}

func (m fhirMapper) intake(sr fhirServiceRequest) (referral.Intake, error) {
	var req nativeRequest
	var errs []problem.FieldError

	// Topics: every coding of reasonCode, code and category that maps.
	// Codings that map to nothing are ignored; the codes are not kept.
	var mapped []string
	concepts := slices.Concat(sr.ReasonCode, sr.Category)
	if sr.Code != nil {
		concepts = append(concepts, *sr.Code)
	}
	for _, cc := range concepts {
		for _, c := range cc.Coding {
			if t, ok := topics.FromCode(c.System, c.Code); ok {
				mapped = append(mapped, t...)
			}
		}
	}
	if len(mapped) == 0 {
		errs = append(errs, problem.FieldError{Field: "ServiceRequest.reasonCode",
			Detail: "no coding in reasonCode, code or category maps to a topic; use ICD-10-CM or SNOMED CT codes of a supported need"})
	}
	req.Needs = dedupe(mapped)

	if len(sr.Identifier) > 0 {
		req.ExternalID = sr.Identifier[0].Value
	}

	// The patient.
	var pt fhirPatient
	var havePatient bool
	subject, ok := entry{}, false
	if sr.Subject != nil {
		subject, ok = m.resolve(sr.Subject.Reference)
	}
	if !ok || subject.ResourceType != "Patient" {
		errs = append(errs, problem.FieldError{Field: "ServiceRequest.subject",
			Detail: "must reference a Patient contained in the ServiceRequest (\"#id\") or sent in the same Bundle"})
	} else if err := json.Unmarshal(subject.raw, &pt); err != nil {
		fe, _ := typeError(err, "Patient")
		errs = append(errs, fe)
	} else {
		var perrs []problem.FieldError
		req.Patient, perrs = m.patient(pt)
		errs = append(errs, perrs...)
		havePatient = true
	}

	// The clinician.
	if sr.Requester == nil {
		errs = append(errs, problem.FieldError{Field: "ServiceRequest.requester", Detail: fhirMessages["ServiceRequest.requester"]})
	} else {
		req.Clinician = m.clinician(*sr.Requester)
	}

	req.normalize()
	ruleErrs, err := fieldErrors(req)
	if err != nil {
		return referral.Intake{}, err
	}
	mappedErrs := ruleErrs[:0]
	for _, fe := range ruleErrs {
		path, ok := fhirPaths[fe.Field]
		if !ok {
			path = "ServiceRequest"
		}
		if !havePatient && strings.HasPrefix(path, "Patient.") {
			continue // the missing Patient is the error
		}
		fe.Field = path
		if msg, ok := fhirMessages[path]; ok {
			fe.Detail = msg
		}
		mappedErrs = append(mappedErrs, fe)
	}
	ruleErrs = mappedErrs
	if fields := mergeErrors(errs, ruleErrs); len(fields) > 0 {
		return referral.Intake{}, invalid(fields)
	}
	return req.intake(nil), nil
}

// patient maps the Patient elements intake keeps to the native form. It
// reports Patient.telecom when the only contacts are phone numbers and none is
// valid.
func (m fhirMapper) patient(pt fhirPatient) (nativePatient, []problem.FieldError) {
	var errs []problem.FieldError
	var p nativePatient
	if n, ok := pickName(pt.Name); ok {
		if len(n.Given) > 0 {
			p.GivenName = n.Given[0]
		}
		p.FamilyName = n.Family
	}
	// Address first: its country is the phone numbers' default region.
	for _, a := range current(pt.Address, func(a fhirAddress) (string, *fhirPeriod) { return a.Use, a.Period }) {
		if a.PostalCode != "" {
			p.PostalCode, p.Country = a.PostalCode, countryCode(a.Country)
			break
		}
	}
	telecoms := current(pt.Telecom, func(c fhirContactPoint) (string, *fhirPeriod) { return c.Use, c.Period })
	slices.SortStableFunc(telecoms, func(a, b fhirContactPoint) int { return rank(a) - rank(b) })
	// The best-ranked number that takes texts (system sms, or phone with use
	// mobile) is kept; else the best-ranked number, for groups to call. The
	// best-ranked of email and texts is the preferred channel when ranks are
	// given.
	var sawPhone, mobile bool
	var landline string
	for _, c := range telecoms {
		switch c.System {
		case "email":
			if p.Email == "" {
				p.Email = c.Value
				if p.PreferredChannel == "" && c.Rank > 0 {
					p.PreferredChannel = "email"
				}
			}
		case "phone", "sms":
			sawPhone = true
			e164, ok := toE164(c.Value, p.Country)
			if !ok {
				continue
			}
			if c.System == "sms" || c.Use == "mobile" {
				if !mobile {
					p.Phone, mobile = e164, true
					if p.PreferredChannel == "" && c.Rank > 0 {
						p.PreferredChannel = "sms"
					}
				}
			} else if landline == "" {
				landline = e164
			}
		}
	}
	if !mobile {
		p.Phone = landline
	}
	p.mobile = &mobile
	if sawPhone && p.Phone == "" && p.Email == "" {
		errs = append(errs, problem.FieldError{Field: "Patient.telecom",
			Detail: "has no email, and no phone number that is valid in the patient's country"})
	}
	// Preferred language first, then the first listed.
	comms := slices.Clone(pt.Communication)
	slices.SortStableFunc(comms, func(a, b fhirCommunication) int {
		switch {
		case a.Preferred && !b.Preferred:
			return -1
		case b.Preferred && !a.Preferred:
			return 1
		}
		return 0
	})
	for _, c := range comms {
		if len(c.Language.Coding) > 0 && c.Language.Coding[0].Code != "" {
			p.PreferredLanguage = c.Language.Coding[0].Code
			break
		}
	}
	return p, errs
}

// clinician maps the requester: a Practitioner, or a PractitionerRole and the
// Practitioner it names, or at least the reference's display.
func (m fhirMapper) clinician(ref fhirReference) nativeClinician {
	c := nativeClinician{Name: ref.Display}
	e, ok := m.resolve(ref.Reference)
	if !ok {
		return c
	}
	var pr fhirPractitioner
	switch e.ResourceType {
	case "PractitionerRole":
		var role fhirPractitionerRole
		if json.Unmarshal(e.raw, &role) != nil {
			return c
		}
		c.Email = firstEmail(role.Telecom)
		if role.Practitioner == nil {
			return c
		}
		if c.Name == "" {
			c.Name = role.Practitioner.Display
		}
		pe, ok := m.resolve(role.Practitioner.Reference)
		if !ok || pe.ResourceType != "Practitioner" || json.Unmarshal(pe.raw, &pr) != nil {
			return c
		}
	case "Practitioner":
		if json.Unmarshal(e.raw, &pr) != nil {
			return c
		}
	default:
		return c
	}
	if n, ok := pickName(pr.Name); ok {
		if full := fullName(n); full != "" {
			c.Name = full
		}
	}
	if c.Email == "" {
		c.Email = firstEmail(pr.Telecom)
	}
	return c
}

// pickName chooses the name to use: official, then usual, then any current
// name that is not old, a maiden name or anonymous.
func pickName(names []fhirHumanName) (fhirHumanName, bool) {
	for _, use := range []string{"official", "usual"} {
		for _, n := range names {
			if n.Use == use && (n.Period == nil || n.Period.End == "") {
				return n, true
			}
		}
	}
	cur := current(names, func(n fhirHumanName) (string, *fhirPeriod) { return n.Use, n.Period })
	for _, n := range cur {
		if n.Use != "maiden" && n.Use != "anonymous" && n.Use != "nickname" {
			return n, true
		}
	}
	return fhirHumanName{}, false
}

func fullName(n fhirHumanName) string {
	if n.Text != "" {
		return n.Text
	}
	return strings.Join(slices.Concat(n.Prefix, n.Given, []string{n.Family}), " ")
}

// current orders items for use: those not marked old and without an end
// date first, then those with an end date; items marked old are dropped.
func current[T any](items []T, meta func(T) (use string, period *fhirPeriod)) []T {
	var open, ended []T
	for _, it := range items {
		use, period := meta(it)
		switch {
		case use == "old":
		case period != nil && period.End != "":
			ended = append(ended, it)
		default:
			open = append(open, it)
		}
	}
	return append(open, ended...)
}

// rank orders contact points: by rank when given (1 is first), unranked last.
func rank(c fhirContactPoint) int {
	if c.Rank > 0 {
		return c.Rank
	}
	return 1 << 30
}

func firstEmail(cs []fhirContactPoint) string {
	for _, c := range current(cs, func(c fhirContactPoint) (string, *fhirPeriod) { return c.Use, c.Period }) {
		if c.System == "email" && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// countryCode reads Address.country, which FHIR leaves free: ISO 3166 codes
// and the common names of the United States.
func countryCode(s string) string {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA":
		return "US"
	}
	return strings.TrimSpace(s)
}
