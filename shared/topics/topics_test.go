package topics

import (
	"slices"
	"testing"
)

func TestVocabulary(t *testing.T) {
	want := []string{
		"alcohol", "drugs", "gambling", "family-alcohol", "family-drugs", "grief",
		"cancer", "diabetes", "depression", "anxiety", "bipolar", "eating-disorders",
		"trauma", "chronic-pain", "caregivers", "parenting",
	}
	all := All()
	var got []string
	for _, tp := range all {
		got = append(got, tp.Code)
		if tp.LabelEN == "" || tp.LabelES == "" {
			t.Errorf("topic %q lacks a label", tp.Code)
		}
		if !Valid(tp.Code) {
			t.Errorf("Valid(%q) = false", tp.Code)
		}
		if l, ok := Lookup(tp.Code); !ok || l != tp {
			t.Errorf("Lookup(%q) = %v, %v", tp.Code, l, ok)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("All() codes = %q, want %q", got, want)
	}
	all[0].Code = "changed"
	if All()[0].Code != "alcohol" {
		t.Error("All returns a slice that aliases the vocabulary")
	}
}

func TestValid(t *testing.T) {
	for _, code := range []string{"", "Alcohol", "ALCOHOL", " alcohol", "smoking", "family", "F10.20"} {
		if Valid(code) {
			t.Errorf("Valid(%q) = true", code)
		}
	}
}

func TestFromCodeICD10CM(t *testing.T) {
	tests := []struct {
		name string
		code string
		want []string
	}{
		{"F10.20 alcohol dependence, uncomplicated", "F10.20", []string{Alcohol}},
		{"F10.10 alcohol abuse, no dot", "F1010", []string{Alcohol}},
		{"F10.239 lower case", "f10.239", []string{Alcohol}},
		{"F11.20 opioid dependence", "F11.20", []string{Drugs}},
		{"F12.10 cannabis abuse", "F12.10", []string{Drugs}},
		{"F13.20 sedative dependence", "F13.20", []string{Drugs}},
		{"F14.20 cocaine dependence", "F14.20", []string{Drugs}},
		{"F15.20 other stimulant dependence", "F15.20", []string{Drugs}},
		{"F16.20 hallucinogen dependence", "F16.20", []string{Drugs}},
		{"F18.20 inhalant dependence", "F18.20", []string{Drugs}},
		{"F19.20 other psychoactive substance dependence", "F19.20", []string{Drugs}},
		{"F17.210 nicotine is not a topic", "F17.210", nil},
		{"F63.0 pathological gambling", "F63.0", []string{Gambling}},
		{"F63.1 pyromania is not gambling", "F63.1", nil},
		{"F63 category alone is not specific", "F63", nil},
		{"Z63.4 death of family member", "Z63.4", []string{Grief}},
		{"Z63.72 addiction in family", "Z63.72", []string{FamilyAlcohol, FamilyDrugs}},
		{"Z63.71 military deployment is not", "Z63.71", nil},
		{"Z63.6 dependent relative needing care", "Z63.6", []string{Caregivers}},
		{"C00.0 first neoplasm code", "C00.0", []string{Cancer}},
		{"C50.911 breast", "C50.911", []string{Cancer}},
		{"C4A.9 Merkel cell, letter in category", "C4A.9", []string{Cancer}},
		{"D3A.00 benign carcinoid, letter in category", "D3A.00", []string{Cancer}},
		{"D49.9 last neoplasm code", "D49.9", []string{Cancer}},
		{"D50.0 anaemia is past the range", "D50.0", nil},
		{"E08.9 diabetes due to underlying condition", "E08.9", []string{Diabetes}},
		{"E11.9 type 2 diabetes", "E11.9", []string{Diabetes}},
		{"E13.9 other specified diabetes", "E13.9", []string{Diabetes}},
		{"E14 is not in ICD-10-CM's range", "E14.9", nil},
		{"E07.9 thyroid is before", "E07.9", nil},
		{"F32.A depression unspecified", "F32.A", []string{Depression}},
		{"F32.9", "F32.9", []string{Depression}},
		{"F33.1 recurrent", "F33.1", []string{Depression}},
		{"F34.1 dysthymia is not mapped", "F34.1", nil},
		{"F40.10 social phobia", "F40.10", []string{Anxiety}},
		{"F41.1 generalized anxiety", "F41.1", []string{Anxiety}},
		{"F31.9 bipolar", "F31.9", []string{Bipolar}},
		{"F50.00 anorexia", "F50.00", []string{EatingDisorders}},
		{"F50.81 binge eating", "F50.81", []string{EatingDisorders}},
		{"F43.10 PTSD", "F43.10", []string{Trauma}},
		{"F43.12 chronic PTSD", "F4312", []string{Trauma}},
		{"F43.2 adjustment disorder is not trauma", "F43.21", nil},
		{"G89.0 central pain syndrome", "G89.0", []string{ChronicPain}},
		{"G89.29 other chronic pain", "G89.29", []string{ChronicPain}},
		{"G89.3 neoplasm related pain", "G89.3", []string{ChronicPain}},
		{"G89.4 chronic pain syndrome", "G89.4", []string{ChronicPain}},
		{"G89.11 acute pain is not chronic", "G89.11", nil},
		{"surrounding spaces", " F10.20 ", []string{Alcohol}},
		{"malformed: digit first", "110.20", nil},
		{"malformed: two dots", "F10..20", nil},
		{"malformed: dot in the wrong place", "F1.020", nil},
		{"malformed: too long", "F10.20000", nil},
		{"malformed: empty", "", nil},
		{"malformed: symbols", "F10-20", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sys := range []string{SystemICD10CM, "urn:oid:2.16.840.1.113883.6.90"} {
				got, ok := FromCode(sys, tt.code)
				if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
					t.Errorf("FromCode(%s, %q) = %q, %v; want %q", sys, tt.code, got, ok, tt.want)
				}
			}
		})
	}
}

func TestFromCodeSNOMED(t *testing.T) {
	tests := []struct {
		id   string
		want []string
	}{
		{"7200002", []string{Alcohol}},
		{"66590003", []string{Alcohol}},
		{"15167005", []string{Alcohol}},
		{"26416006", []string{Drugs}},
		{"191816009", []string{Drugs}},
		{"18085000", []string{Gambling}},
		{"35489007", []string{Depression}},
		{"197480006", []string{Anxiety}},
		{"13746004", []string{Bipolar}},
		{"72366004", []string{EatingDisorders}},
		{"47505003", []string{Trauma}},
		{"73211009", []string{Diabetes}},
		{"46635009", []string{Diabetes}},
		{"44054006", []string{Diabetes}},
		{"363346000", []string{Cancer}},
		{"82423001", []string{ChronicPain}},
		{"38341003", nil}, // Hypertensive disorder: no self-help topic
		{"", nil},
		{"F10.20", nil}, // an ICD-10-CM code under the SNOMED system
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, ok := FromCode(SystemSNOMED, tt.id)
			if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
				t.Errorf("FromCode(snomed, %q) = %q, %v; want %q", tt.id, got, ok, tt.want)
			}
		})
	}
}

func TestFromCodeSystems(t *testing.T) {
	tests := []struct {
		name, system, code string
		want               []string
	}{
		{"icd canonical", "http://hl7.org/fhir/sid/icd-10-cm", "F10.20", []string{Alcohol}},
		{"icd https", "https://hl7.org/fhir/sid/icd-10-cm", "F10.20", []string{Alcohol}},
		{"icd trailing slash", "http://hl7.org/fhir/sid/icd-10-cm/", "F10.20", []string{Alcohol}},
		{"icd urn oid", "urn:oid:2.16.840.1.113883.6.90", "F10.20", []string{Alcohol}},
		{"icd bare oid", "2.16.840.1.113883.6.90", "F10.20", []string{Alcohol}},
		{"snomed canonical", "http://snomed.info/sct", "7200002", []string{Alcohol}},
		{"snomed https", "https://snomed.info/sct", "7200002", []string{Alcohol}},
		{"snomed urn oid", "urn:oid:2.16.840.1.113883.6.96", "7200002", []string{Alcohol}},
		{"snomed US edition uri", "http://snomed.info/sct/731000124108", "7200002", []string{Alcohol}},
		{"icd-10 (WHO) is another system", "http://hl7.org/fhir/sid/icd-10", "F10.2", nil},
		{"icd-9-cm", "http://hl7.org/fhir/sid/icd-9-cm", "303.90", nil},
		{"empty system", "", "F10.20", nil},
		{"snomed edition uri with letters", "http://snomed.info/sct/abc", "7200002", nil},
		{"snomed code under icd system", SystemICD10CM, "7200002", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromCode(tt.system, tt.code)
			if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
				t.Errorf("FromCode(%q, %q) = %q, %v; want %q", tt.system, tt.code, got, ok, tt.want)
			}
		})
	}
}

// Every topic a code maps to is in the vocabulary, and a caller can't change
// the mapping through the returned slice.
func TestMappingsAreValidTopics(t *testing.T) {
	for _, r := range icdRules {
		if len(r.lo) != len(r.hi) || r.lo > r.hi {
			t.Errorf("rule %s–%s: bounds differ in length or are reversed", r.lo, r.hi)
		}
		for _, tp := range r.topics {
			if !Valid(tp) {
				t.Errorf("rule %s–%s: %q is not a topic", r.lo, r.hi, tp)
			}
		}
	}
	for id, tps := range snomedTopics {
		for _, tp := range tps {
			if !Valid(tp) {
				t.Errorf("snomed %s: %q is not a topic", id, tp)
			}
		}
	}
	got, _ := FromCode(SystemICD10CM, "Z63.72")
	got[0] = "changed"
	if again, _ := FromCode(SystemICD10CM, "Z63.72"); again[0] != FamilyAlcohol {
		t.Error("FromCode returns a slice that aliases the mapping")
	}
}
