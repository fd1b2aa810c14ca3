package intake

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"

	"github.com/go-playground/validator/v10"
	"golang.org/x/text/language"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/phone"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/topics"
)

// validate is built once, on first use, and never changed after.
var validate = sync.OnceValues(newValidator)

func newValidator() (*validator.Validate, error) {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string { return jsonName(f) })
	err := errors.Join(
		v.RegisterValidation("topic", func(fl validator.FieldLevel) bool { return topics.Valid(fl.Field().String()) }),
		v.RegisterValidation("bcp47", func(fl validator.FieldLevel) bool { return validLanguage(fl.Field().String()) }),
		// Replaces the library's own e164 (a pattern) with a check that the
		// number exists in its country's numbering plan.
		v.RegisterValidation("e164", func(fl validator.FieldLevel) bool { return validE164(fl.Field().String()) }),
		v.RegisterValidation("singleline", func(fl validator.FieldLevel) bool { return singleLine(fl.Field().String()) }),
		// Audience and accessibility share the directory's vocabulary, so a
		// patient can ask only for what a group listing can offer.
		v.RegisterValidation("audience", func(fl validator.FieldLevel) bool { return directory.ValidAudience(fl.Field().String()) }),
		v.RegisterValidation("accessibility", func(fl validator.FieldLevel) bool {
			return directory.ValidAccessibility(fl.Field().String())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("intake: register validations: %w", err)
	}
	v.RegisterStructValidation(validateRequest, nativeRequest{})
	v.RegisterStructValidation(validatePatient, nativePatient{})
	return v, nil
}

// validLanguage reports whether s is a well-formed, known BCP 47 tag other
// than "und". Callers normalize first (see normalizeLanguage).
func validLanguage(s string) bool {
	t, err := language.Parse(s)
	return err == nil && t != language.Und
}

// normalizeLanguage returns the canonical form of a tag ("ES" → "es",
// "es-mx" → "es-MX"), or s unchanged when it does not parse.
func normalizeLanguage(s string) string {
	if t, err := language.Parse(s); err == nil {
		return t.String()
	}
	return s
}

// validE164 reports whether s is a valid phone number written in E.164 form.
func validE164(s string) bool {
	if len(s) < 2 || s[0] != '+' {
		return false
	}
	return phone.ValidE164(s)
}

// toE164 converts a phone number as people write it to E.164, reading it in
// the given country when it has no country code. ok is false when it is not a
// valid number.
func toE164(s, country string) (string, bool) {
	if country == "" {
		country = "US"
	}
	return phone.ToE164(s, country)
}

// singleLine reports whether s holds no control characters (so no line
// breaks), which have no place in a name or an identifier.
func singleLine(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// validateRequest holds the rules that span fields of a native request.
func validateRequest(sl validator.StructLevel) {
	r := sl.Current().Interface().(nativeRequest)
	if len(r.Needs) == 0 && len(r.ReasonCodes) == 0 {
		sl.ReportError(r.Needs, "needs", "Needs", "needs_or_codes", "")
	}
}

// validatePatient checks the postal code against the ZIP table for the US,
// and asks for a location elsewhere (only US codes can be looked up).
func validatePatient(sl validator.StructLevel) {
	p := sl.Current().Interface().(nativePatient)
	if p.PostalCode == "" {
		return
	}
	if isUS(p.Country) {
		if _, _, ok := geo.PostalCentroid("US", p.PostalCode); !ok {
			sl.ReportError(p.PostalCode, "postal_code", "PostalCode", "us_zip", "")
		}
		return
	}
	if p.Location == nil {
		sl.ReportError(p.Location, "location", "Location", "location_abroad", "")
	}
}

func isUS(country string) bool { return country == "" || country == "US" }

// fieldErrors runs the validator on v and turns its findings into field
// errors named by JSON path.
func fieldErrors(v any) ([]problem.FieldError, error) {
	val, err := validate()
	if err != nil {
		return nil, err
	}
	err = val.Struct(v)
	var verrs validator.ValidationErrors
	if err == nil {
		return nil, nil
	}
	if !errors.As(err, &verrs) {
		return nil, fmt.Errorf("intake: validate: %w", err)
	}
	out := make([]problem.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		// The namespace starts with the Go type's name: drop it.
		_, path, _ := strings.Cut(fe.Namespace(), ".")
		out = append(out, problem.FieldError{Field: path, Detail: message(path, fe)})
	}
	return out, nil
}

// message says how to fix a failed rule. It never includes the value.
func message(path string, fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "required_without":
		switch path {
		case "patient.email", "patient.phone":
			return "is required when there is no other contact: give patient.email or patient.phone"
		case "patient.postal_code", "patient.location":
			return "is required when there is no other location: give patient.postal_code or patient.location"
		}
		return "is required"
	case "needs_or_codes":
		return "give needs (topic codes) or reason_codes (ICD-10-CM or SNOMED CT)"
	case "us_zip":
		return "is not a known US ZIP code; give a 5-digit ZIP code or patient.location"
	case "location_abroad":
		return "is required outside the US: postal codes are looked up for the US only"
	case "max":
		if fe.Kind() == reflect.Slice {
			return "must have at most " + fe.Param() + " items"
		}
		if fe.Kind() == reflect.String {
			return "must be at most " + fe.Param() + " characters"
		}
		return "must be at most " + fe.Param()
	case "min":
		return "must be at least " + fe.Param()
	case "email":
		return "must be an email address"
	case "e164":
		return "must be a valid phone number in E.164 form, such as +12025550123"
	case "bcp47":
		return "must be a BCP 47 language tag, such as en or es-MX"
	case "topic":
		return "must be a topic code from the published vocabulary, such as alcohol or grief"
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "iso3166_1_alpha2":
		return "must be an ISO 3166-1 alpha-2 country code, such as US"
	case "audience":
		return "must be one of: " + strings.Join(directory.Audiences(), ", ")
	case "accessibility":
		return "must be one of: " + strings.Join(directory.AccessibilityFeatures(), ", ")
	case "singleline":
		return "must not contain line breaks or control characters"
	}
	return "is not valid"
}
