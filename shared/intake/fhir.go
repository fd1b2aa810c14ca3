package intake

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/topics"
)

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

// parseFHIR decodes a FHIR R4 ServiceRequest (Patient contained) or a Bundle
// holding one, and maps it to an Intake with the native rules.
func parseFHIR(body []byte) (referral.Intake, error) {
	if _, err := walk(body, nil); err != nil {
		return referral.Intake{}, err
	}
	ref, err := fhir.ReadReferral(body)
	if err != nil {
		return referral.Intake{}, err
	}
	return FromFHIR(ref)
}

// ReadTask reads a Task create posted to the FHIR API, once: a Task with
// its ServiceRequest, Patient and requester contained, or a transaction
// Bundle holding them (transaction), checked as a webhook's body is (one
// UTF-8 JSON object, not nested too deep) and then by fhir.ReadTaskCreate.
// Its referral is mapped by FromFHIR. Errors: TooLarge, Malformed, Invalid.
func ReadTask(body []byte, ifNoneExist string, transaction bool) (fhir.TaskCreate, error) {
	if len(body) > MaxBody {
		return fhir.TaskCreate{}, problem.Errorf(problem.TooLarge, "The body is larger than %d bytes.", MaxBody)
	}
	if !utf8.Valid(body) {
		return fhir.TaskCreate{}, problem.Errorf(problem.Malformed, "The body is not valid UTF-8.")
	}
	if _, err := walk(body, nil); err != nil {
		return fhir.TaskCreate{}, err
	}
	return fhir.ReadTaskCreate(body, ifNoneExist, transaction)
}

// FromFHIR maps a referral read from FHIR (a webhook's ServiceRequest or
// Bundle, or a Task posted to the FHIR API) to an Intake with the native
// rules: the codes of reasonCode, code and category become topics and are
// dropped; the Patient's name, telecom, communication and postal code, and
// the requester's name and email, become the patient and the clinician.
// Errors: Invalid, naming FHIR elements (ServiceRequest.subject,
// Patient.telecom), never a value.
func FromFHIR(ref fhir.Referral) (referral.Intake, error) {
	return fhirMapper{resources: ref.Resources}.intake(ref.ServiceRequest)
}

// fhirMapper resolves references among the resources of one request.
type fhirMapper struct {
	resources fhir.Resources
}

func (m fhirMapper) intake(sr fhir.ServiceRequest) (referral.Intake, error) {
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
	var havePatient bool
	subject, ok := fhir.Resource{}, false
	if sr.Subject != nil {
		subject, ok = m.resources.Resolve(sr.Subject.Reference)
	}
	switch {
	case !ok || subject.Type != "Patient":
		errs = append(errs, problem.FieldError{Field: "ServiceRequest.subject",
			Detail: "must reference a Patient contained in the ServiceRequest (\"#id\") or sent in the same Bundle"})
	case subject.Err != nil:
		errs = append(errs, problem.BodyOf(subject.Err).Errors...)
	default:
		var perrs []problem.FieldError
		req.Patient, perrs = patientOf(*subject.Patient)
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

// FormOf fills a clinic page's referral form in from a Patient an EHR holds
// (a SMART launch's), read exactly as intake reads a FHIR referral's
// Patient: the given name of the official (else usual, else a current)
// name, the best-ranked email, the best-ranked number that takes texts
// (else the best-ranked number) in E.164, the preferred (else the first)
// language, and the postal code of a current address. A field intake would
// not take stays empty, for the clinician to fill in.
func FormOf(pt fhir.Patient) Form {
	p, _ := patientOf(pt)
	return Form{GivenName: strings.TrimSpace(p.GivenName), Email: strings.TrimSpace(p.Email), Phone: p.Phone,
		Language: p.PreferredLanguage, PostalCode: strings.TrimSpace(p.PostalCode)}
}

// patientOf maps the Patient elements intake keeps to the native form. It
// reports Patient.telecom when the only contacts are phone numbers and none is
// valid.
func patientOf(pt fhir.Patient) (nativePatient, []problem.FieldError) {
	var errs []problem.FieldError
	var p nativePatient
	if n, ok := pickName(pt.Name); ok {
		if len(n.Given) > 0 {
			p.GivenName = n.Given[0]
		}
		p.FamilyName = n.Family
	}
	// Address first: its country is the phone numbers' default region.
	for _, a := range current(pt.Address, func(a fhir.Address) (string, *fhir.Period) { return a.Use, a.Period }) {
		if a.PostalCode != "" {
			p.PostalCode, p.Country = a.PostalCode, countryCode(a.Country)
			break
		}
	}
	telecoms := current(pt.Telecom, func(c fhir.ContactPoint) (string, *fhir.Period) { return c.Use, c.Period })
	slices.SortStableFunc(telecoms, func(a, b fhir.ContactPoint) int { return rank(a) - rank(b) })
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
	slices.SortStableFunc(comms, func(a, b fhir.PatientCommunication) int {
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
func (m fhirMapper) clinician(ref fhir.Reference) nativeClinician {
	c := nativeClinician{Name: ref.Display}
	e, ok := m.resources.Resolve(ref.Reference)
	if !ok {
		return c
	}
	var pr *fhir.Practitioner
	switch {
	case e.PractitionerRole != nil:
		role := e.PractitionerRole
		c.Email = firstEmail(role.Telecom)
		if role.Practitioner == nil {
			return c
		}
		if c.Name == "" {
			c.Name = role.Practitioner.Display
		}
		pe, ok := m.resources.Resolve(role.Practitioner.Reference)
		if !ok || pe.Practitioner == nil {
			return c
		}
		pr = pe.Practitioner
	case e.Practitioner != nil:
		pr = e.Practitioner
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
func pickName(names []fhir.HumanName) (fhir.HumanName, bool) {
	for _, use := range []string{"official", "usual"} {
		for _, n := range names {
			if n.Use == use && (n.Period == nil || n.Period.End == "") {
				return n, true
			}
		}
	}
	cur := current(names, func(n fhir.HumanName) (string, *fhir.Period) { return n.Use, n.Period })
	for _, n := range cur {
		if n.Use != "maiden" && n.Use != "anonymous" && n.Use != "nickname" {
			return n, true
		}
	}
	return fhir.HumanName{}, false
}

func fullName(n fhir.HumanName) string {
	if n.Text != "" {
		return n.Text
	}
	return strings.Join(slices.Concat(n.Prefix, n.Given, []string{n.Family}), " ")
}

// current orders items for use: those not marked old and without an end
// date first, then those with an end date; items marked old are dropped.
func current[T any](items []T, meta func(T) (use string, period *fhir.Period)) []T {
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
func rank(c fhir.ContactPoint) int {
	if c.Rank > 0 {
		return c.Rank
	}
	return 1 << 30
}

func firstEmail(cs []fhir.ContactPoint) string {
	for _, c := range current(cs, func(c fhir.ContactPoint) (string, *fhir.Period) { return c.Use, c.Period }) {
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
