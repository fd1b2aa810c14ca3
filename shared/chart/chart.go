// Package chart reads the little handoff needs from a patient's chart in an
// EHR — the Patient and its active Conditions, FHIR R4 JSON read through the
// same typed decoding as intake's (shared/fhir) — and turns it into what the
// clinic's referral form is filled in with: a given name, a contact, a
// language, a postal code (read as intake reads a referral's Patient:
// intake.FormOf) and a topic. Nothing else leaves this package: Condition
// codes are mapped to topics (shared/topics) here and dropped, and
// narrative, notes and every other element are never decoded.
//
// The reads go through Reader (a FHIR base URL and a bearer token: a SMART
// launch's or a CDS Hooks request's); a CDS Hooks prefetch is read with
// shared/fhir and sorted here (Conditions, Active, About).
package chart

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"

	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/topics"
)

// Prefill is what the referral form is filled in with, and all handoff keeps
// of a chart. Any field may be empty: the clinician completes the form.
type Prefill struct {
	GivenName  string `json:"given_name,omitempty"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`    // E.164
	Language   string `json:"language,omitempty"` // the code the EHR gives, e.g. "es" or "en-US"
	PostalCode string `json:"postal_code,omitempty"`
	Topic      string `json:"topic,omitempty"` // one of shared/topics' codes
}

// PrefillFrom reads the form's fields from a Patient, as intake reads a
// FHIR referral's Patient (intake.FormOf), and the topic from the
// Conditions of the same chart (only active ones count, see Active). A
// given name an EHR keeps in capitals is written as people write it.
func PrefillFrom(p fhir.Patient, conditions []fhir.Condition) Prefill {
	f := intake.FormOf(p)
	out := Prefill{GivenName: plainCase(f.GivenName), Email: f.Email, Phone: f.Phone, Language: f.Language, PostalCode: f.PostalCode}
	if ts := Topics(conditions); len(ts) > 0 {
		out.Topic = ts[0]
	}
	return out
}

// Topics returns the topics the active Conditions' codes map to, each once,
// in the vocabulary's order; none when no active Condition maps to one.
func Topics(conditions []fhir.Condition) []string {
	found := map[string]bool{}
	for _, c := range conditions {
		if !Active(c) || c.Code == nil {
			continue
		}
		for _, cd := range c.Code.Coding {
			if ts, ok := topics.FromCode(cd.System, cd.Code); ok {
				for _, t := range ts {
					found[t] = true
				}
			}
		}
	}
	var out []string
	for _, t := range topics.All() {
		if found[t.Code] {
			out = append(out, t.Code)
		}
	}
	return out
}

// Active reports whether a Condition is one to act on: its clinical status
// is active (or recurrence or relapse, kinds of active), and it is not
// refuted or entered in error. A Condition without a clinical status is not.
func Active(c fhir.Condition) bool {
	if c.VerificationStatus != nil {
		for _, cd := range c.VerificationStatus.Coding {
			if cd.Code == "refuted" || cd.Code == "entered-in-error" {
				return false
			}
		}
	}
	if c.ClinicalStatus == nil {
		return false
	}
	for _, cd := range c.ClinicalStatus.Coding {
		switch cd.Code {
		case "active", "recurrence", "relapse":
			return true
		}
	}
	return false
}

// About reports whether a Condition's subject is the patient (a relative
// reference Patient/{id}, or an absolute one ending so).
func About(c fhir.Condition, patientID string) bool {
	if c.Subject == nil {
		return false
	}
	ref := c.Subject.Reference
	return ref == "Patient/"+patientID || strings.HasSuffix(ref, "/Patient/"+patientID)
}

// ActiveFor returns the Conditions among rs that are active and about the
// patient; other resources (an OperationOutcome a server adds) are skipped.
func ActiveFor(rs fhir.Resources, patientID string) []fhir.Condition {
	var out []fhir.Condition
	for _, r := range rs {
		if r.Condition != nil && Active(*r.Condition) && About(*r.Condition, patientID) {
			out = append(out, *r.Condition)
		}
	}
	return out
}

// plainCase writes a name an EHR keeps in capitals ("COLIN") as people write
// it ("Colin"); a name with any lower-case letter is left as it is.
func plainCase(name string) string {
	if name == "" || strings.ToUpper(name) != name || strings.ToLower(name) == name {
		return name
	}
	return cases.Title(language.Und).String(strings.ToLower(name))
}
