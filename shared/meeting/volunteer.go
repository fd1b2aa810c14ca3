package meeting

import (
	"context"
	"errors"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
)

// onVolunteerNamed tells the patient who from the accepting group will reach
// out: by email when the patient has one that works, else by text (which
// names the volunteer and the clinic, never the group).
func (m *Meetings) onVolunteerNamed(ctx context.Context, ev referral.Event) error {
	a := m.App
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	vol := r.Volunteer
	if vol == nil || r.Consent == nil || !r.Status.Open() {
		return a.Referrals.Finish(ctx, ev) // revoked or cancelled meanwhile
	}
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	lang := pages.Lang(r.Consent.Language)
	// The patient's channel, as for the consent link: the one they prefer,
	// else email, else a text; none left (both failed), nothing to send.
	chs := a.PatientChannels(r, clinic)
	if len(chs) == 0 {
		return a.Referrals.Finish(ctx, ev)
	}
	if chs[0] == app.ChannelEmail {
		err := a.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
			group := ""
			for _, rt := range rec.Routes {
				if rt.GroupID == vol.GroupID {
					group = rt.GroupName
				}
			}
			channel, err := app.ChannelWords(lang, r)
			if err != nil {
				return mail.Message{}, err
			}
			e, err := pages.VolunteerEmail(lang, r.Patient.GivenName, clinic.Name, group, vol.Name, channel, vol.Note)
			return e.To(r.Patient.Email), err
		})
		if err != nil {
			return err
		}
		return a.Referrals.Finish(ctx, ev)
	}
	_, err = a.TextPatient(ctx, ev, r.Patient.Phone, app.PatientText{Effect: "sms", Zone: occurrence.PatientZone(r), Build: func() (sms.Text, error) {
		body, err := pages.VolunteerSMS(lang, clinic.Name, vol.Name)
		return sms.Text{To: r.Patient.Phone, Body: body}, err
	}})
	var un *sms.Unreachable
	if errors.As(err, &un) {
		return a.TextFailed(ctx, ev, un, true)
	}
	if err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}
