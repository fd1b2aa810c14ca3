// Package ehr holds what a clinic's EHR does with handoff the FHIR way,
// beside the core use cases of shared/app and through its seam: register
// its keys for SMART Backend Services, create, read, search and cancel
// Tasks, and subscribe to their changes. Subscription handshakes,
// heartbeats and notifications are effects of events, added to the one
// dispatcher and ledger with App.Handle and App.OnStatus (see Register).
//
// The use cases take parsed values (a Task decoded once by shared/fhir, a
// checked access grant) and answer FHIR resources; the HTTP surface is
// shared/ehrapi.
package ehr

import (
	"context"
	"encoding/json"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/problem"
)

// Service is the EHR's use cases over the core.
type Service struct {
	App *app.App
	// CheckKeys checks a key set an operator registers for a clinic's EHR
	// (smart.ParseJWKS); its error says what is wrong, fit for a field
	// error.
	CheckKeys func(jwks []byte) error
}

// FHIRClient is what PUT /v1/admin/clinics/{id}/fhir-client takes: a JSON
// Web Key Set, or the URL the EHR publishes one at.
type FHIRClient struct {
	JWKSURL string          `json:"jwks_url,omitempty"`
	JWKS    json.RawMessage `json:"jwks,omitempty"`
}

// RegisterClient registers a clinic's public keys, inline or by URL, and
// returns its client_id (the clinic's id). Errors: problem.Invalid (with
// the field), problem.NotFound (no such clinic).
func (s *Service) RegisterClient(ctx context.Context, clinicID string, in FHIRClient) (string, error) {
	field := func(name, detail string) error {
		return problem.Invalidf([]problem.FieldError{{Field: name, Detail: detail}}, "The FHIR client is not valid.")
	}
	var jwks string
	switch {
	case (in.JWKSURL == "") == (len(in.JWKS) == 0):
		return "", field("jwks", "give either jwks (a JSON Web Key Set) or jwks_url")
	case in.JWKSURL != "":
		if err := s.App.CheckEndpoint(in.JWKSURL); err != nil {
			return "", field("jwks_url", err.Error())
		}
	default:
		if err := s.CheckKeys(in.JWKS); err != nil {
			return "", field("jwks", err.Error())
		}
		jwks = string(in.JWKS)
	}
	// The conditional update answers NotFound for an unknown clinic: no read
	// first (it would open the clinic's sealed secrets for nothing).
	if err := s.App.Clinics.SetFHIRClient(ctx, clinicID, jwks, in.JWKSURL); err != nil {
		return "", err
	}
	s.App.ForgetClinic(clinicID)
	s.App.Log.InfoContext(ctx, "FHIR client registered", "clinic", clinicID, "by_url", in.JWKSURL != "")
	return clinicID, nil
}
