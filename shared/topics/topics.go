// Package topics is handoff's closed vocabulary of needs: the topics a referral
// asks for and a group offers, with plain-language labels, and the mapping from
// clinical codes (ICD-10-CM, SNOMED CT) to topics.
//
// A clinical code is mapped at intake and then dropped: only the topic is kept.
// The labels are for operators and clinicians (admin pages, the directory); they
// are never put in an email to a patient or a group, which say nothing about a
// patient's needs.
package topics

import "slices"

// Topic is one need in the vocabulary.
type Topic struct {
	Code    string `json:"code"`     // stable identifier, e.g. "family-alcohol"
	LabelEN string `json:"label_en"` // plain English
	LabelES string `json:"label_es"` // plain Spanish
}

// The topic codes.
const (
	Alcohol         = "alcohol"
	Drugs           = "drugs"
	Gambling        = "gambling"
	FamilyAlcohol   = "family-alcohol"
	FamilyDrugs     = "family-drugs"
	Grief           = "grief"
	Cancer          = "cancer"
	Diabetes        = "diabetes"
	Depression      = "depression"
	Anxiety         = "anxiety"
	Bipolar         = "bipolar"
	EatingDisorders = "eating-disorders"
	Trauma          = "trauma"
	ChronicPain     = "chronic-pain"
	Caregivers      = "caregivers"
	Parenting       = "parenting"
)

// vocabulary is the published list, in display order. All returns a copy.
var vocabulary = [...]Topic{
	{Alcohol, "Alcohol", "Alcohol"},
	{Drugs, "Drug use", "Consumo de drogas"},
	{Gambling, "Gambling", "Juego y apuestas"},
	{FamilyAlcohol, "Family and friends of someone who drinks", "Familiares y amigos de alguien que bebe"},
	{FamilyDrugs, "Family and friends of someone who uses drugs", "Familiares y amigos de alguien que consume drogas"},
	{Grief, "Grief and loss", "Duelo y pérdida"},
	{Cancer, "Cancer", "Cáncer"},
	{Diabetes, "Diabetes", "Diabetes"},
	{Depression, "Depression", "Depresión"},
	{Anxiety, "Anxiety", "Ansiedad"},
	{Bipolar, "Bipolar disorder", "Trastorno bipolar"},
	{EatingDisorders, "Eating disorders", "Trastornos de la conducta alimentaria"},
	{Trauma, "Trauma and PTSD", "Trauma y estrés postraumático"},
	{ChronicPain, "Chronic pain", "Dolor crónico"},
	{Caregivers, "Caregivers", "Personas cuidadoras"},
	{Parenting, "Parenting", "Crianza"},
}

// All returns the vocabulary in display order. The slice is the caller's own.
func All() []Topic { return slices.Clone(vocabulary[:]) }

// Valid reports whether code is a topic in the vocabulary (exact, lower case).
func Valid(code string) bool {
	for _, t := range vocabulary {
		if t.Code == code {
			return true
		}
	}
	return false
}

// Lookup returns the topic with the given code, and false if there is none.
func Lookup(code string) (Topic, bool) {
	for _, t := range vocabulary {
		if t.Code == code {
			return t, true
		}
	}
	return Topic{}, false
}
