package cdshooks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/handoff-health/handoff/shared/chart"
	"github.com/handoff-health/handoff/shared/fhir"
)

// OpenReferrals tells whether a clinic has an open referral for an EHR
// patient, by the patient's key (PatientKey).
type OpenReferrals interface {
	HasOpenReferral(ctx context.Context, clinicID, patientKey string) (bool, error)
}

// OpenReferralsFunc is OpenReferrals as a function (a store's method
// value: a store behind the interface would keep all its methods in the
// binary).
type OpenReferralsFunc func(ctx context.Context, clinicID, patientKey string) (bool, error)

// HasOpenReferral calls f.
func (f OpenReferralsFunc) HasOpenReferral(ctx context.Context, clinicID, patientKey string) (bool, error) {
	return f(ctx, clinicID, patientKey)
}

// PatientKey is the keyed hash by which handoff knows an EHR's patient
// without keeping the EHR's id: HMAC-SHA-256 under key of the clinic id and
// the patient id, hex. The SMART launch and the CDS service compute the same
// key for the same clinic and patient.
func PatientKey(key []byte, clinicID, patientID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("handoff/ehr-patient/v1|" + clinicID + "|" + patientID))
	return hex.EncodeToString(m.Sum(nil))
}

// PreconditionError is a call the service cannot decide: no Conditions were
// prefetched and there is no fhirAuthorization to fetch them, or the EHR's
// FHIR server refused or did not answer. The specification answers 412.
type PreconditionError struct{ Reason string }

func (e *PreconditionError) Error() string { return "CDS Hooks: " + e.Reason }

// Decider makes the card decision.
type Decider struct {
	// LaunchURL is {HANDOFF_PUBLIC_URL}/launch, the card's SMART link.
	LaunchURL string
	// Key is the key of PatientKey.
	Key func(context.Context) ([]byte, error)
	// Referrals answers whether the clinic has an open referral for the patient.
	Referrals OpenReferrals
	// Reader fetches the Conditions when the request did not prefetch them.
	Reader chart.Reader
}

// Answer decides a verified call: one card when an active Condition of the
// patient maps to a topic and the caller's clinic has no open referral for
// the patient (by PatientKey), else no card. The Conditions are the
// request's prefetch "conditions" when present (a searchset Bundle, one
// Condition, or null for none), else read from fhirServer with
// fhirAuthorization. Errors: *PreconditionError (412), or the referral
// store's or key's own.
func (d *Decider) Answer(ctx context.Context, caller Caller, req Request) (Response, error) {
	conds, err := d.conditions(ctx, req)
	if err != nil {
		return Response{}, err
	}
	if len(chart.Topics(conds)) == 0 {
		return NoCards(), nil
	}
	key, err := d.Key(ctx)
	if err != nil {
		return Response{}, fmt.Errorf("the patient key: %w", err)
	}
	open, err := d.Referrals.HasOpenReferral(ctx, caller.ClientID, PatientKey(key, caller.ClientID, req.Context.PatientID))
	if err != nil {
		return Response{}, fmt.Errorf("look for an open referral: %w", err)
	}
	if open {
		return NoCards(), nil
	}
	return Response{Cards: []Card{CardFor(d.LaunchURL)}}, nil
}

// Card texts. The card is shown in the chart, where it stays: it names no
// topic, condition or code (handoff adds nothing clinical to the chart),
// only peer support in general.
const (
	cardSummary = "Peer support may help: refer to a self-help group, the form filled in from the chart"
	cardDetail  = "The patient consents on their own phone, before leaving the room. Groups learn only what the patient agrees to share."
	cardLink    = "Open the referral form"
)

// CardFor is the one card: info, from handoff, offering peer support in
// general words (never a topic, a code or a Condition's text), with the
// SMART link that opens the referral form.
func CardFor(launchURL string) Card {
	return Card{
		UUID: newUUID(), Summary: cardSummary, Detail: cardDetail, Indicator: "info",
		Source: Source{Label: "handoff"},
		Links:  []Link{{Label: cardLink, URL: launchURL, Type: "smart"}},
	}
}

// conditions returns the patient's active Conditions: prefetched, or read.
func (d *Decider) conditions(ctx context.Context, req Request) ([]fhir.Condition, error) {
	patient := req.Context.PatientID
	if raw, ok := req.Prefetch[PrefetchConditions]; ok {
		if cs, done := fromPrefetch(raw, patient); done {
			return cs, nil
		}
	}
	a := req.FHIRAuthorization
	if a == nil || req.FHIRServer == "" {
		return nil, &PreconditionError{Reason: "no Conditions were prefetched and there is no fhirAuthorization to read them"}
	}
	if a.Patient != "" && a.Patient != patient {
		return nil, &PreconditionError{Reason: "the fhirAuthorization is for another patient"}
	}
	cs, err := d.Reader.ActiveConditions(ctx, req.FHIRServer, a.AccessToken, patient)
	var ce *chart.Error
	if errors.As(err, &ce) {
		return nil, &PreconditionError{Reason: ce.Error()}
	}
	return cs, err
}

// fromPrefetch reads a prefetched value with shared/fhir: null (the EHR
// has no data: no Conditions), a searchset Bundle, or one Condition. done
// is false for anything else (an OperationOutcome for a failed prefetch, a
// paginated Bundle), which the service then reads itself.
func fromPrefetch(raw json.RawMessage, patient string) ([]fhir.Condition, bool) {
	if string(raw) == "null" {
		return nil, true
	}
	if b, err := fhir.ReadSearchset(raw); err == nil {
		if b.Next != "" {
			return nil, false
		}
		return chart.ActiveFor(b.Resources, patient), true
	}
	r, err := fhir.ReadResource(raw)
	if err != nil || r.Condition == nil {
		return nil, false
	}
	return chart.ActiveFor(fhir.Resources{r}, patient), true
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
