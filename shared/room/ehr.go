package room

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/chart"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// The clinician an EHR launch signs in.
//
// A SMART launch from a clinic's EHR signs its user in to that clinic's
// pages without a passkey: the EHR vouched for them (its id_token, checked
// against the EHR's keys), and the clinic registered that EHR. Such a
// session is the EHR user's, not a registered staff member's: it names the
// user by their fhirUser, is bound to the clinic's SMART app registration
// (changing or removing the registration ends it, as removing a staff
// member ends theirs), lasts at most session.TTL like any, and holds what
// the launch brought — the form's prefill and the patient's key — sealed at
// rest, until a referral is made from it.
//
// Intake needs a clinician with a name and an email. An EHR user has no
// address handoff knows, so a referral they make names them by their
// fhirUser's reference (Practitioner/123) and gives the clinic's contact
// address: the clinician's status emails go to the clinic.

// Launch is what an EHR launch leaves with the session it opens.
type Launch struct {
	Prefill chart.Prefill `json:"prefill"`
	// PatientKey is the keyed hash of the EHR's patient id
	// (cdshooks.PatientKey), carried into the referral made from the form.
	PatientKey string `json:"patient_key"`
}

// EHRBind is what an EHR user's session of clinic c is bound to: a digest
// of its SMART app registration ("" for none, which binds nothing).
func EHRBind(c dynamo.Clinic) string {
	if c.SMARTISS == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("handoff/smart-app/v1|" + strings.TrimRight(c.SMARTISS, "/") + "|" + c.SMARTClientID))
	return hex.EncodeToString(sum[:])
}

// ehrBind is the session manager's EHRBind: the clinic's registration
// now, read through the core's clinic cache.
func (r *Room) ehrBind(ctx context.Context, clinicID string) (string, error) {
	c, err := r.App.Clinic(ctx, clinicID)
	if problem.Is(err, problem.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return EHRBind(c), nil
}

// SignInFromEHR opens the session of the clinician a launch from the EHR
// at iss signed in to a clinic's pages (ehrUser: the id_token's fhirUser),
// holding the launch, and returns the session cookie's value and expiry.
// An embedded launch's session (embedded: inside a frame of the EHR's
// page) is short and narrow: see Staff.Embedded. Errors:
// problem.NotFound (no such clinic), problem.Forbidden (the clinic's SMART
// app is not that EHR now).
func (r *Room) SignInFromEHR(ctx context.Context, clinicID, iss, ehrUser string, l Launch, embedded bool) (string, time.Time, error) {
	c, err := r.App.Clinic(ctx, clinicID)
	if err != nil {
		return "", time.Time{}, err
	}
	bind := EHRBind(c)
	if bind == "" || strings.TrimRight(c.SMARTISS, "/") != strings.TrimRight(iss, "/") {
		return "", time.Time{}, problem.Errorf(problem.Forbidden, "the clinic's SMART app is not this EHR")
	}
	b, err := json.Marshal(l)
	if err != nil {
		return "", time.Time{}, err
	}
	value, exp, err := r.Sessions.StartEHR(ctx, clinicID, ehrUser, bind, b, embedded)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign in from the EHR: %w", err)
	}
	r.App.Log.InfoContext(ctx, "clinician signed in from the EHR", "clinic", clinicID, "embedded", embedded)
	return value, exp, nil
}

// ehrStaff is the signed-in EHR user of a session.
func ehrStaff(cur dynamo.Session, hash string) (Staff, error) {
	st := Staff{Member: dynamo.Member{ClinicID: cur.Clinic, Name: ehrUserName(cur.EHRUser)}, SessionHash: hash, EHRUser: cur.EHRUser,
		Embedded: cur.Embedded, Referral: cur.Referral}
	if len(cur.Launch) > 0 {
		st.Launch = new(Launch)
		if err := json.Unmarshal(cur.Launch, st.Launch); err != nil {
			return Staff{}, fmt.Errorf("read the session's launch: %w", err)
		}
	}
	return st, nil
}

// ehrUserName names an EHR user by their fhirUser's reference
// ("Practitioner/123"), at most 100 characters, on one line.
func ehrUserName(fhirUser string) string {
	name := fhirUser
	if u, err := url.Parse(fhirUser); err == nil {
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) >= 2 {
			name = parts[len(parts)-2] + "/" + parts[len(parts)-1]
		}
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "" {
		name = "EHR user"
	}
	if len(name) > 100 {
		name = name[:100]
	}
	return name
}

// clinicianOf is who a referral made on the pages names as its clinician:
// the staff member, or for an EHR user their name and the clinic's
// address.
func clinicianOf(s Staff, c dynamo.Clinic) referral.Clinician {
	if s.EHRUser != "" {
		return referral.Clinician{Name: s.Member.Name, Email: c.ContactEmail}
	}
	return referral.Clinician{Name: s.Member.Name, Email: s.Member.Email}
}

// LaunchForm is the referral form filled in from the EHR launch that
// opened the session, if it has one left: the chart's given name, contact,
// postal code and topic, and its language when the form offers it.
func LaunchForm(s Staff) (pages.ClinicForm, bool) {
	if s.Launch == nil {
		return pages.ClinicForm{}, false
	}
	p := s.Launch.Prefill
	f := pages.ClinicForm{GivenName: p.GivenName, Email: p.Email, Phone: p.Phone, PostalCode: p.PostalCode, Topic: p.Topic}
	if lang, _, _ := strings.Cut(strings.ToLower(p.Language), "-"); lang == pages.English || lang == pages.Spanish {
		f.Language = lang
	}
	return f, true
}
