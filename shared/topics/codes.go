package topics

import (
	"slices"
	"strings"
)

// Code systems, by their canonical FHIR URIs.
const (
	SystemICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
	SystemSNOMED  = "http://snomed.info/sct"
)

// system names a code system after its variants are folded.
type system int

const (
	unknownSystem system = iota
	icd10cm
	snomed
)

// systemOf folds the spellings of a code system seen in the wild: the FHIR URI,
// its https form, the HL7 OID as a URN or bare (CDA), and for SNOMED CT an
// edition URI such as http://snomed.info/sct/731000124108 (the US edition),
// which some senders put in the system instead of the version.
func systemOf(uri string) system {
	switch strings.TrimSuffix(strings.TrimSpace(uri), "/") {
	case SystemICD10CM, "https://hl7.org/fhir/sid/icd-10-cm",
		"urn:oid:2.16.840.1.113883.6.90", "2.16.840.1.113883.6.90":
		return icd10cm
	case SystemSNOMED, "https://snomed.info/sct",
		"urn:oid:2.16.840.1.113883.6.96", "2.16.840.1.113883.6.96":
		return snomed
	}
	for _, p := range []string{"http://snomed.info/sct/", "https://snomed.info/sct/"} {
		if rest, ok := strings.CutPrefix(uri, p); ok && isDigits(rest) {
			return snomed
		}
	}
	return unknownSystem
}

// FromCode maps a clinical code to the topics it implies. system is an
// ICD-10-CM or SNOMED CT system URI (or a variant, see above); an ICD-10-CM
// code may be written with or without its dot, in any case, and is compared by
// its place in the classification (so F10.20 falls under F10, and C4A.9 under
// C00–D49).
//
// ok is false when the system is not one of these, the code is malformed, or
// the code maps to no topic: a code is never guessed at. The topics slice is
// the caller's own. Neither the code nor the system is kept or logged.
func FromCode(system, code string) (topics []string, ok bool) {
	switch systemOf(system) {
	case icd10cm:
		key, valid := normalizeICD(code)
		if !valid {
			return nil, false
		}
		for _, r := range icdRules {
			if r.matches(key) {
				return slices.Clone(r.topics), true
			}
		}
	case snomed:
		if t, found := snomedTopics[strings.TrimSpace(code)]; found {
			return slices.Clone(t), true
		}
	}
	return nil, false
}

// normalizeICD returns an ICD-10-CM code in upper case without its dot, and
// whether it has the shape of one: a letter, a digit, a digit or letter (the
// category), then up to four more digits or letters.
func normalizeICD(code string) (string, bool) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) > 3 && code[3] == '.' {
		code = code[:3] + code[4:]
	}
	if len(code) < 3 || len(code) > 7 {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		switch {
		case i == 0 && !letter, i == 1 && !digit, i > 1 && !letter && !digit:
			return "", false
		}
	}
	return code, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// icdRule maps the codes from lo to hi (both the same length, without dots,
// compared against the code's first len(lo) characters) to topics.
// Lexicographic order is the classification's order here, including
// categories with a letter in third place such as C4A or D3A.
type icdRule struct {
	lo, hi string
	topics []string
}

func (r icdRule) matches(code string) bool {
	if len(code) < len(r.lo) {
		return false
	}
	k := code[:len(r.lo)]
	return r.lo <= k && k <= r.hi
}

// icdRules is the ICD-10-CM mapping. Only codes that fit a self-help topic are
// mapped; a code whose rule is missing gets no topic, never a near one.
var icdRules = []icdRule{
	// F10 Alcohol related disorders.
	{"F10", "F10", []string{Alcohol}},
	// F11–F16, F18, F19: opioid, cannabis, sedative, cocaine, other stimulant,
	// hallucinogen, inhalant and other psychoactive substance related
	// disorders. F17 (nicotine dependence) has no topic here.
	{"F11", "F16", []string{Drugs}},
	{"F18", "F19", []string{Drugs}},
	// F63.0 Pathological gambling.
	{"F630", "F630", []string{Gambling}},
	// Z63.72 Alcoholism and drug addiction in family. The code does not say
	// which, so both family topics are offered: Al-Anon-type and
	// Nar-Anon-type groups both fit, and the patient chooses.
	{"Z6372", "Z6372", []string{FamilyAlcohol, FamilyDrugs}},
	// Z63.4 Disappearance and death of family member.
	{"Z634", "Z634", []string{Grief}},
	// Z63.6 Dependent relative needing care at home.
	{"Z636", "Z636", []string{Caregivers}},
	// C00–D49 Neoplasms (the whole chapter, as published for referrals).
	{"C00", "D49", []string{Cancer}},
	// E08–E13 Diabetes mellitus (due to an underlying condition, drug- or
	// chemical-induced, type 1, type 2, other specified).
	{"E08", "E13", []string{Diabetes}},
	// F31 Bipolar disorder.
	{"F31", "F31", []string{Bipolar}},
	// F32 Major depressive disorder, single episode; F33 recurrent.
	{"F32", "F33", []string{Depression}},
	// F40 Phobic anxiety disorders; F41 Other anxiety disorders.
	{"F40", "F41", []string{Anxiety}},
	// F43.1 Post-traumatic stress disorder.
	{"F431", "F431", []string{Trauma}},
	// F50 Eating disorders.
	{"F50", "F50", []string{EatingDisorders}},
	// G89 Pain, not elsewhere classified: G89.0 central pain syndrome, G89.2
	// chronic pain, G89.3 neoplasm related pain, G89.4 chronic pain syndrome.
	// G89.1 (acute pain) is left out: chronic-pain groups do not fit it.
	{"G890", "G890", []string{ChronicPain}},
	{"G892", "G894", []string{ChronicPain}},
}

// snomedTopics maps SNOMED CT concept ids to topics. Each id is listed with its
// fully specified name; descendants are not expanded (that needs a
// terminology server), so only these concepts map.
var snomedTopics = map[string][]string{
	"7200002":   {Alcohol},         // Alcoholism (disorder)
	"66590003":  {Alcohol},         // Alcohol dependence (disorder)
	"15167005":  {Alcohol},         // Alcohol abuse (disorder)
	"26416006":  {Drugs},           // Drug abuse (disorder); "drug addiction"
	"191816009": {Drugs},           // Drug dependence (disorder)
	"18085000":  {Gambling},        // Pathological gambling (disorder)
	"35489007":  {Depression},      // Depressive disorder (disorder)
	"197480006": {Anxiety},         // Anxiety disorder (disorder)
	"13746004":  {Bipolar},         // Bipolar disorder (disorder)
	"72366004":  {EatingDisorders}, // Eating disorder (disorder)
	"47505003":  {Trauma},          // Posttraumatic stress disorder (disorder)
	"73211009":  {Diabetes},        // Diabetes mellitus (disorder)
	"46635009":  {Diabetes},        // Diabetes mellitus type 1 (disorder)
	"44054006":  {Diabetes},        // Diabetes mellitus type 2 (disorder)
	"363346000": {Cancer},          // Malignant neoplastic disease (disorder)
	"82423001":  {ChronicPain},     // Chronic pain (finding)
}
