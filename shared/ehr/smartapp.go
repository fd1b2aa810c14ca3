package ehr

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
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
	// FrameOrigins are the origins of the EHR's pages that open the launch
	// inside a frame (an embedded launch), e.g. https://ehr.example.org; the
	// launch's pages may be framed by these and no other. None: the launch
	// opens top-level only.
	FrameOrigins []string `json:"frame_origins,omitempty"`
}

// MaxFrameOrigins is how many origins may frame a clinic's launch.
const MaxFrameOrigins = 5

// RegisterSMARTApp registers the EHR that launches handoff for a clinic,
// replacing its earlier one (whose launches, and the sessions they opened,
// then stop working). The iss must be https (plain http to a loopback host
// on a local stack) and no other clinic's. Errors: problem.Invalid (with
// the field), problem.NotFound (no such clinic), problem.Conflict (another
// clinic registered this iss). Each frame origin must be an origin
// (scheme, host and port only), https (plain http to a loopback host on a
// local stack); it is kept lower-cased. It returns the registration as
// kept.
func (s *Service) RegisterSMARTApp(ctx context.Context, clinicID string, in SMARTApp) (SMARTApp, error) {
	field := func(name, detail string) error {
		return problem.Invalidf([]problem.FieldError{{Field: name, Detail: detail}}, "The SMART app is not valid.")
	}
	if err := chart.CheckURL(in.ISS, s.App.Config.LoopbackPublicURL()); err != nil {
		why := err.Error()
		if ce := (*chart.Error)(nil); errors.As(err, &ce) {
			why = ce.Reason
		}
		return SMARTApp{}, field("iss", "must be the EHR's FHIR base URL: "+why)
	}
	if in.ClientID == "" || len(in.ClientID) > 255 || strings.IndexFunc(in.ClientID, func(r rune) bool {
		return !unicode.IsPrint(r) || unicode.IsSpace(r)
	}) >= 0 {
		return SMARTApp{}, field("client_id", "must be the client id the EHR gave handoff: 1 to 255 printable characters, no spaces")
	}
	if len(in.FrameOrigins) > MaxFrameOrigins {
		return SMARTApp{}, field("frame_origins", fmt.Sprintf("at most %d origins", MaxFrameOrigins))
	}
	var frames []string
	for _, raw := range in.FrameOrigins {
		o, ok := frameOrigin(raw, s.App.Config.LoopbackPublicURL())
		if !ok {
			return SMARTApp{}, field("frame_origins", "each must be the origin of the EHR's pages, as https://ehr.example.org: https, a host, a port at most, nothing else")
		}
		if !slices.Contains(frames, o) {
			frames = append(frames, o)
		}
	}
	in.FrameOrigins = frames
	err := s.App.Clinics.SetSMARTApp(ctx, dynamo.SMARTApp{ClinicID: clinicID, ISS: in.ISS, ClientID: in.ClientID, FrameOrigins: frames})
	if err != nil {
		return SMARTApp{}, err
	}
	s.App.ForgetClinic(clinicID)
	s.App.Log.InfoContext(ctx, "SMART app registered", "clinic", clinicID)
	return in, nil
}

// frameOrigin is raw as the origin a frame-ancestors directive names
// (scheme://host[:port], lower-cased), or false when raw is not exactly an
// origin: a path, query, fragment, credentials, a wildcard or a character
// a header could be split by is refused.
func frameOrigin(raw string, allowLoopbackHTTP bool) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 255 || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") || u.Opaque != "" {
		return "", false
	}
	if chart.CheckURL(raw, allowLoopbackHTTP) != nil {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if strings.IndexFunc(host, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == ':' || r == '[' || r == ']')
	}) >= 0 {
		return "", false
	}
	return strings.ToLower(u.Scheme) + "://" + host, true
}
