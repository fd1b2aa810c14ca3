// Package chart reads the little handoff needs from a patient's chart in an
// EHR — the Patient and its active Conditions, FHIR R4 JSON — and turns it
// into what the clinic's referral form is filled in with: a given name, a
// contact, a language, a postal code and a topic. Nothing else leaves this
// package: Condition codes are mapped to topics (shared/topics) here and
// dropped, and narrative, notes and every other element are never decoded.
//
// The reads go through Reader (a FHIR base URL and a bearer token: a SMART
// launch's or a CDS Hooks request's); a CDS Hooks prefetch is decoded with
// the same types (DecodePatient, DecodeConditions, DecodeCondition).
package chart

import (
	"slices"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"

	"github.com/handoff-health/handoff/shared/phone"
	"github.com/handoff-health/handoff/shared/topics"
)

// Prefill is what the referral form is filled in with, and all handoff keeps
// of a chart. Any field may be empty: the clinician completes the form.
type Prefill struct {
	GivenName  string
	Email      string
	Phone      string // E.164
	Language   string // the code the EHR gives, e.g. "es" or "en-US"
	PostalCode string
	Topic      string // one of shared/topics' codes
}

// PrefillFrom reads the form's fields from a Patient and the Conditions of
// the same chart (only active ones count, see Active).
func PrefillFrom(p Patient, conditions []Condition) Prefill {
	var f Prefill
	if n, ok := pickName(p.Name); ok && len(n.Given) > 0 {
		f.GivenName = plainCase(strings.TrimSpace(n.Given[0]))
	}
	country := "US"
	for _, a := range current(p.Address, func(a Address) (string, *Period) { return a.Use, a.Period }) {
		if a.PostalCode != "" {
			f.PostalCode = strings.TrimSpace(a.PostalCode)
			country = countryCode(a.Country)
			break
		}
	}
	telecoms := current(p.Telecom, func(c ContactPoint) (string, *Period) { return c.Use, c.Period })
	slices.SortStableFunc(telecoms, func(a, b ContactPoint) int { return rank(a) - rank(b) })
	// A number that takes texts (system sms, or phone with use mobile) first,
	// else the best-ranked number, as intake reads a FHIR Patient.
	var landline string
	for _, c := range telecoms {
		switch c.System {
		case "email":
			if f.Email == "" {
				f.Email = strings.TrimSpace(c.Value)
			}
		case "phone", "sms":
			e164, ok := phone.ToE164(c.Value, country)
			switch {
			case !ok:
			case (c.System == "sms" || c.Use == "mobile") && f.Phone == "":
				f.Phone = e164
			case landline == "":
				landline = e164
			}
		}
	}
	if f.Phone == "" {
		f.Phone = landline
	}
	comms := slices.Clone(p.Communication)
	slices.SortStableFunc(comms, func(a, b Communication) int {
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
			f.Language = c.Language.Coding[0].Code
			break
		}
	}
	if ts := Topics(conditions); len(ts) > 0 {
		f.Topic = ts[0]
	}
	return f
}

// Topics returns the topics the active Conditions' codes map to, each once,
// in the vocabulary's order; none when no active Condition maps to one.
func Topics(conditions []Condition) []string {
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
func Active(c Condition) bool {
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

// pickName chooses the name to use: official, then usual, then any current
// name that is not old, a maiden name, a nickname or anonymous.
func pickName(names []HumanName) (HumanName, bool) {
	for _, use := range []string{"official", "usual"} {
		for _, n := range names {
			if n.Use == use && (n.Period == nil || n.Period.End == "") {
				return n, true
			}
		}
	}
	for _, n := range current(names, func(n HumanName) (string, *Period) { return n.Use, n.Period }) {
		if n.Use != "maiden" && n.Use != "anonymous" && n.Use != "nickname" {
			return n, true
		}
	}
	return HumanName{}, false
}

// current orders items for use: those not marked old and without an end
// date first, then those with an end date; items marked old are dropped.
func current[T any](items []T, meta func(T) (use string, period *Period)) []T {
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
func rank(c ContactPoint) int {
	if c.Rank > 0 {
		return c.Rank
	}
	return 1 << 30
}

// countryCode reads Address.country, which FHIR leaves free.
func countryCode(s string) string {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA":
		return "US"
	}
	return strings.TrimSpace(s)
}

// plainCase writes a name an EHR keeps in capitals ("COLIN") as people write
// it ("Colin"); a name with any lower-case letter is left as it is.
func plainCase(name string) string {
	if name == "" || strings.ToUpper(name) != name || strings.ToLower(name) == name {
		return name
	}
	return cases.Title(language.Und).String(strings.ToLower(name))
}
