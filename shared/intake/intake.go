// Package intake decodes, validates and minimizes a referral as a clinic sends
// it, in handoff's native JSON or as FHIR R4, into a referral.Intake.
//
// Parse is the one entry point. It keeps only what the contract allows: the
// patient's given (and family) name, one or two contact channels, a preferred
// language, a coarse location (a postal code and a geohash cell, never the point
// sent), needs as topics from the closed vocabulary of package topics, and
// preferences. Clinical codes are mapped to topics and dropped; they appear
// neither in the Intake nor in any error. Free text is refused in native JSON
// (an unknown field is an error) and ignored in FHIR, where the resources are
// open by design.
//
// Every error is a *problem.Error: Malformed (400), TooLarge (413),
// UnsupportedMedia (415) or Invalid (422). An Invalid error lists every failing
// field by its JSON path (native) or FHIR element (FHIR), with a message an
// integrator can act on; no message repeats a value the caller sent.
package intake

import (
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// MaxBody is the largest body Parse accepts, in bytes.
const MaxBody = 64 << 10

// Media types Parse accepts.
const (
	MediaNative = "application/json"
	MediaFHIR   = "application/fhir+json"
)

// Parse decodes a referral body sent with the given Content-Type.
//
// It returns a *problem.Error: UnsupportedMedia unless the media type is
// application/json or application/fhir+json (charset utf-8 or none; for FHIR a
// fhirVersion parameter, if any, must be 4.0); TooLarge for a body over
// MaxBody; Malformed for a body that is not one UTF-8 JSON object (the message
// gives the line and column, never the content); Invalid listing every field
// that fails validation.
func Parse(contentType string, body []byte) (referral.Intake, error) {
	media, err := mediaType(contentType)
	if err != nil {
		return referral.Intake{}, err
	}
	if len(body) > MaxBody {
		return referral.Intake{}, problem.Errorf(problem.TooLarge, "The body is larger than %d bytes.", MaxBody)
	}
	if !utf8.Valid(body) {
		return referral.Intake{}, problem.Errorf(problem.Malformed, "The body is not valid UTF-8.")
	}
	if media == MediaFHIR {
		return parseFHIR(body)
	}
	return parseNative(body)
}

// Unreachable is the 422 for a referral whose patient no channel the clinic
// allows can reach. It names patient.email (Patient.telecom in a FHIR
// referral): an email address is what every deployment can use.
func Unreachable(contentType, detail string) error {
	field := "patient.email"
	if media, _ := mediaType(contentType); media == MediaFHIR {
		field = fhirPaths[field]
	}
	return problem.Invalidf([]problem.FieldError{{Field: field, Detail: detail}},
		"The patient cannot be reached by any channel the clinic allows.")
}

// mediaType checks a Content-Type header and returns MediaNative or MediaFHIR.
func mediaType(contentType string) (string, error) {
	unsupported := problem.Errorf(problem.UnsupportedMedia,
		"Send Content-Type %s (native referral) or %s (FHIR R4), with charset utf-8 or none.", MediaNative, MediaFHIR)
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", unsupported
	}
	if media != MediaNative && media != MediaFHIR {
		return "", unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return "", unsupported
	}
	if v, ok := params["fhirversion"]; ok && media == MediaFHIR && v != "4.0" && v != "4.0.1" {
		return "", problem.Errorf(problem.UnsupportedMedia, "Only FHIR R4 is accepted (fhirVersion=4.0).")
	}
	return media, nil
}

// invalid is the Invalid error for a list of failing fields.
func invalid(fields []problem.FieldError) *problem.Error {
	if len(fields) == 1 {
		return problem.Invalidf(fields, "The referral has an invalid field.")
	}
	return problem.Invalidf(fields, "The referral has %d invalid fields.", len(fields))
}
