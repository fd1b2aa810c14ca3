package intake

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/topics"
)

// nativeRequest is the native referral, as published in the contract.
type nativeRequest struct {
	ExternalID  string            `json:"external_id" validate:"max=128,singleline"`
	Patient     nativePatient     `json:"patient"`
	Needs       []string          `json:"needs" validate:"max=16,dive,topic"`
	ReasonCodes []nativeCode      `json:"reason_codes" validate:"max=16,dive"`
	Preferences nativePreferences `json:"preferences"`
	Clinician   nativeClinician   `json:"clinician"`
}

type nativePatient struct {
	GivenName         string `json:"given_name" validate:"required,max=100,singleline"`
	FamilyName        string `json:"family_name" validate:"max=100,singleline"`
	Email             string `json:"email" validate:"required_without=Phone,omitempty,max=254,email"`
	Phone             string `json:"phone" validate:"required_without=Email,omitempty,max=20,e164"`
	PreferredLanguage string `json:"preferred_language" validate:"omitempty,max=35,bcp47"`
	PreferredChannel  string `json:"preferred_channel" validate:"omitempty,oneof=email sms"`
	// mobile is set by the FHIR mapping: the phone takes texts. A native
	// referral's phone is taken to be a mobile number.
	mobile     *bool
	PostalCode string          `json:"postal_code" validate:"required_without=Location,omitempty,max=10,singleline"`
	Country    string          `json:"country" validate:"omitempty,iso3166_1_alpha2"`
	Location   *nativeLocation `json:"location" validate:"required_without=PostalCode"`
}

type nativeLocation struct {
	Lat *float64 `json:"lat" validate:"required,min=-90,max=90"`
	Lon *float64 `json:"lon" validate:"required,min=-180,max=180"`
}

type nativeCode struct {
	System string `json:"system" validate:"required,max=256"`
	Code   string `json:"code" validate:"required,max=32"`
}

type nativePreferences struct {
	Formats       []string `json:"formats" validate:"max=3,dive,oneof=in-person online hybrid"`
	Spirituality  string   `json:"spirituality" validate:"omitempty,oneof=secular spiritual"`
	Languages     []string `json:"languages" validate:"max=16,dive,max=35,bcp47"`
	Days          []string `json:"days" validate:"max=7,dive,oneof=mon tue wed thu fri sat sun"`
	Times         []string `json:"times" validate:"max=3,dive,oneof=morning afternoon evening"`
	Accessibility []string `json:"accessibility" validate:"max=16,dive,accessibility"`
	Audience      []string `json:"audience" validate:"max=16,dive,audience"`
}

type nativeClinician struct {
	Name  string `json:"name" validate:"required,max=100,singleline"`
	Email string `json:"email" validate:"required,max=254,email"`
}

var nativeSchema = sync.OnceValue(func() *schema { return schemaOf(reflect.TypeFor[nativeRequest]()) })

// parseNative decodes, checks and minimizes a native referral.
func parseNative(body []byte) (referral.Intake, error) {
	shapeErrs, err := walk(body, nativeSchema())
	if err != nil {
		return referral.Intake{}, err
	}
	var req nativeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		fe, ok := typeError(err, "")
		if !ok {
			return referral.Intake{}, problem.Errorf(problem.Malformed, "The body could not be decoded as a referral.")
		}
		shapeErrs = append(shapeErrs, fe)
	}
	req.normalize()
	ruleErrs, err := fieldErrors(req)
	if err != nil {
		return referral.Intake{}, err
	}
	mapped, codeErrs := req.mapCodes()
	fields := mergeErrors(shapeErrs, ruleErrs, codeErrs)
	if len(fields) > 0 {
		return referral.Intake{}, invalid(fields)
	}
	return req.intake(mapped), nil
}

// normalize trims strings and puts codes in their canonical case, so the
// rules see what will be stored.
func (r *nativeRequest) normalize() {
	trim := func(s *string) { *s = strings.TrimSpace(*s) }
	p := &r.Patient
	for _, s := range []*string{&r.ExternalID, &p.GivenName, &p.FamilyName, &p.Email, &p.Phone, &p.PostalCode, &r.Clinician.Name, &r.Clinician.Email} {
		trim(s)
	}
	p.Country = strings.ToUpper(strings.TrimSpace(p.Country))
	p.PreferredLanguage = normalizeLanguage(strings.TrimSpace(p.PreferredLanguage))
	for i, l := range r.Preferences.Languages {
		r.Preferences.Languages[i] = normalizeLanguage(strings.TrimSpace(l))
	}
	for i, n := range r.Needs {
		r.Needs[i] = strings.TrimSpace(n)
	}
}

// mapCodes maps reason codes to topics. A code that maps to nothing is an
// error only when there are no needs; the error names the code's place,
// never the code.
func (r *nativeRequest) mapCodes() ([]string, []problem.FieldError) {
	var mapped []string
	var errs []problem.FieldError
	for i, c := range r.ReasonCodes {
		if c.System == "" || c.Code == "" {
			continue // reported by the validator
		}
		t, ok := topics.FromCode(c.System, c.Code)
		if ok {
			mapped = append(mapped, t...)
			continue
		}
		if len(r.Needs) > 0 {
			continue // dropped: the needs say what is wanted
		}
		at := "reason_codes[" + strconv.Itoa(i) + "]"
		if !knownSystem(c.System) {
			errs = append(errs, problem.FieldError{Field: at + ".system",
				Detail: "must be ICD-10-CM (" + topics.SystemICD10CM + ") or SNOMED CT (" + topics.SystemSNOMED + "), or give needs"})
			continue
		}
		errs = append(errs, problem.FieldError{Field: at + ".code",
			Detail: "maps to no topic; give needs with a topic code instead"})
	}
	return mapped, errs
}

// knownSystem reports whether FromCode understands a code system, using a
// code every mapping knows.
func knownSystem(system string) bool {
	_, icd := topics.FromCode(system, "F10.20")
	_, sct := topics.FromCode(system, "7200002")
	return icd || sct
}

// mergeErrors joins lists of field errors, keeping one error per field (the
// first) and none inside a field already reported (a "patient" that is not an
// object needs no "patient.given_name" too), at most maxFieldErrors in all.
func mergeErrors(lists ...[]problem.FieldError) []problem.FieldError {
	var out []problem.FieldError
	covered := func(field string) bool {
		for _, o := range out {
			if field == o.Field || strings.HasPrefix(field, o.Field+".") || strings.HasPrefix(field, o.Field+"[") {
				return true
			}
		}
		return false
	}
	for _, l := range lists {
		for _, fe := range l {
			if len(out) < maxFieldErrors && !covered(fe.Field) {
				out = append(out, fe)
			}
		}
	}
	return out
}

// intake builds the minimized Intake from a valid request. Reason codes are
// not copied: only the topics they map to are.
func (r *nativeRequest) intake(mapped []string) referral.Intake {
	p := r.Patient
	lang := p.PreferredLanguage
	if lang == "" {
		lang = "en"
	}
	return referral.Intake{
		ExternalID: r.ExternalID,
		Patient: referral.Patient{
			GivenName:        p.GivenName,
			FamilyName:       p.FamilyName,
			Email:            p.Email,
			Phone:            p.Phone,
			Mobile:           p.Phone != "" && (p.mobile == nil || *p.mobile),
			Language:         lang,
			PreferredChannel: p.PreferredChannel,
		},
		Location: coarseLocation(p),
		Topics:   dedupe(append(slices.Clone(r.Needs), mapped...)),
		Preferences: referral.Preferences{
			Formats:       dedupe(r.Preferences.Formats),
			Spirituality:  r.Preferences.Spirituality,
			Languages:     dedupe(r.Preferences.Languages),
			Days:          dedupe(r.Preferences.Days),
			Times:         dedupe(r.Preferences.Times),
			Accessibility: dedupe(r.Preferences.Accessibility),
			Audience:      dedupe(r.Preferences.Audience),
		},
		Clinician: referral.Clinician{Name: r.Clinician.Name, Email: r.Clinician.Email},
	}
}

// coarseLocation turns a valid patient's location into a geohash cell of
// precision 6 and its centre. The point sent, if any, is not kept; a US ZIP+4
// is cut to its 5-digit ZIP.
func coarseLocation(p nativePatient) referral.Location {
	loc := referral.Location{PostalCode: p.PostalCode, Country: p.Country}
	var lat, lon float64
	if p.Location != nil {
		lat, lon = *p.Location.Lat, *p.Location.Lon
	} else {
		lat, lon, _ = geo.PostalCentroid("US", p.PostalCode) // checked by validatePatient
	}
	if p.PostalCode != "" && isUS(p.Country) {
		loc.PostalCode, loc.Country = p.PostalCode[:5], "US"
	}
	loc.Geohash = geo.Encode(lat, lon, 6)
	loc.Lat, loc.Lon = geo.Center(loc.Geohash)
	return loc
}

// dedupe returns s without repeats, in first-seen order, or nil if empty.
func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
