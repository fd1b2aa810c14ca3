package ehr

import (
	"context"
	"strings"
	"unicode"

	"github.com/handoff-health/handoff/shared/chart"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
)

// SMARTApp is what PUT /v1/admin/clinics/{id}/smart-app takes: the EHR's
// FHIR base URL (the iss of its launches) and the client id the EHR gave
// handoff.
type SMARTApp struct {
	ISS      string `json:"iss"`
	ClientID string `json:"client_id"`
}

// RegisterSMARTApp registers the EHR that launches handoff for a clinic,
// replacing its earlier one (whose launches, and the sessions they opened,
// then stop working). The iss must be https (plain http to a loopback host
// on a local stack) and no other clinic's. Errors: problem.Invalid (with
// the field), problem.NotFound (no such clinic), problem.Conflict (another
// clinic registered this iss).
func (s *Service) RegisterSMARTApp(ctx context.Context, clinicID string, in SMARTApp) error {
	field := func(name, detail string) error {
		return problem.Invalidf([]problem.FieldError{{Field: name, Detail: detail}}, "The SMART app is not valid.")
	}
	if err := chart.CheckURL(in.ISS, s.App.Config.LoopbackPublicURL()); err != nil {
		return field("iss", "must be the EHR's FHIR base URL: "+err.(*chart.Error).Reason)
	}
	if in.ClientID == "" || len(in.ClientID) > 255 || strings.IndexFunc(in.ClientID, func(r rune) bool {
		return !unicode.IsPrint(r) || unicode.IsSpace(r)
	}) >= 0 {
		return field("client_id", "must be the client id the EHR gave handoff: 1 to 255 printable characters, no spaces")
	}
	err := s.App.Clinics.SetSMARTApp(ctx, dynamo.SMARTApp{ClinicID: clinicID, ISS: in.ISS, ClientID: in.ClientID})
	if err != nil {
		return err
	}
	s.App.ForgetClinic(clinicID)
	s.App.Log.InfoContext(ctx, "SMART app registered", "clinic", clinicID)
	return nil
}
