package app

import (
	"context"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/referral"
)

// offerLimit is how many groups the consent page offers (the admin match
// endpoint's default, so that it shows the same list).
const offerLimit = 3

// onConsentRequested fixes the groups to offer (or marks the referral
// unmatched) and brings the patient the consent link, by the best channel
// left (see reachable).
func (a *App) onConsentRequested(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	if r.Status == referral.AwaitingConsent && !r.Matched {
		offers, err := a.offers(ctx, r)
		if err != nil {
			return err
		}
		r.Offers, r.Matched = offers, true
		ch := dynamo.Change{Referral: r}
		if len(offers) == 0 {
			r.Status, r.UpdatedAt = referral.Unmatched, a.now()
			ch.Events = append(ch.Events, a.StatusEvent(r, "no group in reach"))
		}
		if err := a.Apply(ctx, ch); err != nil {
			return err
		}
	}
	if r.Status != referral.AwaitingConsent && r.Status != referral.Unmatched {
		return a.Referrals.Finish(ctx, ev) // cancelled before the email went out
	}
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	chs := a.reachable(r.Patient, r.Flags, clinic)
	if len(chs) == 0 {
		// The clinic stopped allowing texts after the referral came, or
		// every channel failed meanwhile. A referral of the clinic's own
		// pages may have none: its QR code is the way in.
		if !referral.CanMove(r.Status, referral.Unreachable) || r.Source == referral.SourceClinicPages {
			return a.Referrals.Finish(ctx, ev)
		}
		r.Status, r.UpdatedAt = referral.Unreachable, a.now()
		return a.Apply(ctx, dynamo.Change{Referral: r, Done: &ev,
			Events: []referral.Event{a.StatusEvent(r, "no channel the clinic allows can reach the patient")}})
	}
	return a.sendConsentLink(ctx, ev, rec, clinic, chs, false)
}

// offers matches the referral against the directory.
func (a *App) offers(ctx context.Context, r *referral.Referral) ([]referral.Offer, error) {
	q := directory.Query{
		Topics: r.Topics, Lat: r.Location.Lat, Lon: r.Location.Lon, HasLocation: r.Location.Geohash != "",
		Prefs: r.Preferences, Limit: offerLimit, Now: a.now(), Language: r.Patient.Language,
		Zone: geo.ZoneOfPostal(r.Location.Country, r.Location.PostalCode),
	}
	matches, err := a.Directory.Match(ctx, q)
	if err != nil {
		return nil, err
	}
	offers := make([]referral.Offer, 0, len(matches))
	for _, m := range matches {
		g, err := a.Directory.GetGroup(ctx, m.Group.ID)
		if err != nil {
			return nil, err
		}
		offers = append(offers, directory.OfferOf(g, m, r.Preferences))
	}
	return offers, nil
}

// onConsentDeadline expires a referral whose patient did not answer in time.
func (a *App) onConsentDeadline(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	if r.Status != referral.AwaitingConsent {
		return a.Referrals.Finish(ctx, ev)
	}
	r.Status, r.UpdatedAt = referral.Expired, a.now()
	return a.Apply(ctx, dynamo.Change{
		Referral: r, Done: &ev,
		Events: []referral.Event{a.StatusEvent(r, "no answer from the patient before the link expired")},
	})
}

// onReceipt emails the patient a receipt of their consent with the revoke link.
func (a *App) onReceipt(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	if r.Patient.Email == "" || r.Consent == nil {
		return a.Referrals.Finish(ctx, ev)
	}
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	err = a.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
		tok, _, err := a.LinkToken(ctx, "consent", r.ID, 0)
		if err != nil {
			return mail.Message{}, err
		}
		lang := pages.Lang(r.Consent.Language)
		channel, err := ChannelWords(lang, r)
		if err != nil {
			return mail.Message{}, err
		}
		var names []string
		for _, o := range r.Offers {
			for _, id := range r.Consent.Groups {
				if o.GroupID == id {
					names = append(names, o.Name)
				}
			}
		}
		tz := occurrence.PatientZone(r)
		m, err := pages.ConsentReceiptEmail(lang, r.Patient.GivenName, clinic.Name, a.Config.PublicURL+"/c/"+tok, pages.Receipt{
			Mode: r.Consent.Mode, Channel: channel, Groups: names, SignedAt: occurrence.Zoned(r.Consent.SignedAt, tz), ExpiresAt: occurrence.Zoned(r.Consent.ExpiresAt, tz),
		})
		return m.To(r.Patient.Email), err
	})
	if err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}
