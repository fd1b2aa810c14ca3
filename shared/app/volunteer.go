package app

import (
	"context"
	"errors"

	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
)

// onVolunteerNamed tells the patient who from the accepting group will reach
// out: by email when the patient has one that works, else by text (which
// names the volunteer and the clinic, never the group).
func (a *App) onVolunteerNamed(ctx context.Context, ev referral.Event) error {
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
	chs := a.reachable(r.Patient, r.Flags, clinic)
	if len(chs) == 0 {
		return a.Referrals.Finish(ctx, ev)
	}
	if chs[0] == ChannelEmail {
		err := a.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
			group := ""
			for _, rt := range rec.Routes {
				if rt.GroupID == vol.GroupID {
					group = rt.GroupName
				}
			}
			channel, err := channelWords(lang, r)
			if err != nil {
				return mail.Message{}, err
			}
			m, err := pages.VolunteerEmail(lang, r.Patient.GivenName, clinic.Name, group, vol.Name, channel, vol.Note)
			return message(r.Patient.Email, m), err
		})
		if err != nil {
			return err
		}
		return a.Referrals.Finish(ctx, ev)
	}
	_, err = a.TextPatient(ctx, ev, r.Patient.Phone, PatientText{Effect: "sms", Zone: patientZone(r), Build: func() (sms.Text, error) {
		body, err := pages.VolunteerSMS(lang, clinic.Name, vol.Name)
		return sms.Text{To: r.Patient.Phone, Body: body}, err
	}})
	var un *sms.Unreachable
	if errors.As(err, &un) {
		return a.channelFailed(ctx, ev, ChannelSMS, "the patient's number does not take texts ("+un.Reason+")", false, false, &ev)
	}
	if err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}
