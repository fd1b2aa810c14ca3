package intake

import (
	"strings"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Form is a referral as a clinic's own page fills it in, typed: the native
// referral's fields that the page asks for, and the staff member who refers.
// It never passes through JSON.
type Form struct {
	GivenName     string
	Email         string
	Phone         string // as people write it; read as a US number without a country code
	Language      string // BCP 47
	PostalCode    string // a US ZIP code
	Topic         string // a topic code
	Formats       []string
	Spirituality  string
	Accessibility []string
	Clinician     referral.Clinician
}

// FromForm validates and minimizes a form's referral with the native
// referral's rules (Parse), except that the patient may give no contact at
// all: a clinic's page then shows the patient a QR code instead. Errors: a
// *problem.Error, Invalid, listing every failing field by its native JSON
// path (patient.given_name, patient.email, patient.phone,
// patient.preferred_language, patient.postal_code, needs,
// preferences.formats[0], preferences.spirituality,
// preferences.accessibility[0], clinician.name, clinician.email); no message
// repeats a value.
func FromForm(f Form) (referral.Intake, error) {
	req := nativeRequest{
		Patient: nativePatient{
			GivenName: f.GivenName, Email: f.Email, Phone: f.Phone, PreferredLanguage: f.Language,
			PostalCode: f.PostalCode,
		},
		Preferences: nativePreferences{Formats: f.Formats, Spirituality: f.Spirituality, Accessibility: f.Accessibility},
		Clinician:   nativeClinician{Name: f.Clinician.Name, Email: f.Clinician.Email},
	}
	if t := strings.TrimSpace(f.Topic); t != "" {
		req.Needs = []string{t}
	}
	req.normalize()
	var phoneErr []problem.FieldError
	if p := req.Patient.Phone; p != "" {
		if n, ok := toE164(p, "US"); ok {
			req.Patient.Phone = n
		} else {
			phoneErr = []problem.FieldError{{Field: "patient.phone", Detail: "must be a valid phone number"}}
			req.Patient.Phone = ""
		}
	}
	noContact := req.Patient.Email == "" && req.Patient.Phone == "" && phoneErr == nil
	ruleErrs, err := fieldErrors(req)
	if err != nil {
		return referral.Intake{}, err
	}
	if noContact {
		// No contact is allowed here: the rule asking for one is dropped.
		kept := ruleErrs[:0]
		for _, fe := range ruleErrs {
			if fe.Field != "patient.email" && fe.Field != "patient.phone" {
				kept = append(kept, fe)
			}
		}
		ruleErrs = kept
	}
	if fields := mergeErrors(phoneErr, ruleErrs); len(fields) > 0 {
		return referral.Intake{}, invalid(fields)
	}
	return req.intake(nil), nil
}
