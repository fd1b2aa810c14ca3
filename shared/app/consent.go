package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// What the consent record says, in the words of 42 CFR Part 2 §2.31.
const (
	consentPurpose      = "To connect you with a self-help group you chose, so you can get peer support."
	consentRevokeHow    = "Open the link in your consent email at any time and press Stop sharing. This stops any further sharing."
	consentRedisclosure = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
)

var errLinkNotFound = problem.Errorf(problem.NotFound, "this link does not work")
var errLinkGone = problem.Errorf(problem.Gone, "this link has expired")

// linkRecord resolves a page token to its record. Errors: problem.NotFound for
// an unknown token (or one of another kind), problem.Gone for an expired one.
func (a *App) linkRecord(ctx context.Context, token string, kinds ...string) (dynamo.Token, *dynamo.Record, error) {
	if !ValidToken(token) {
		return dynamo.Token{}, nil, errLinkNotFound
	}
	t, err := a.Referrals.Token(ctx, HashToken(token))
	if err != nil {
		return t, nil, err
	}
	if !slices.Contains(kinds, t.Kind) {
		return t, nil, errLinkNotFound
	}
	rec, err := a.Referrals.Load(ctx, t.ReferralID)
	if problem.Is(err, problem.NotFound) {
		return t, nil, errLinkNotFound
	}
	if err != nil {
		return t, nil, err
	}
	return t, rec, nil
}

// ConsentPage returns what the consent page shows. Errors: problem.NotFound,
// problem.Gone (expired link, or an expired or cancelled referral).
func (a *App) ConsentPage(ctx context.Context, token, lang, notice string) (pages.ConsentView, error) {
	t, rec, err := a.linkRecord(ctx, token, "consent")
	if err != nil {
		return pages.ConsentView{}, err
	}
	a.markViewed(ctx, rec.Referral)
	return a.consentView(ctx, token, t, rec, lang, notice)
}

// markViewed records the patient's first opening of the consent page while
// the referral awaits their answer: the time on the referral, and the
// funnel's count of it in the same write. Nothing the patient sees changes;
// a failure is logged and the page is served anyway.
func (a *App) markViewed(ctx context.Context, r *referral.Referral) {
	if r.Status != referral.AwaitingConsent || !r.ViewedAt.IsZero() {
		return
	}
	v := *r
	v.ViewedAt = a.now()
	t := a.newTally()
	t.referral(&v, map[string]int64{"viewed": 1})
	err := a.apply(ctx, dynamo.Change{Referral: &v}, t)
	if err != nil && !problem.Is(err, problem.Conflict) {
		a.Log.WarnContext(ctx, "consent page view not recorded", "referral", r.ID, "error", err.Error())
	}
}

func (a *App) consentView(ctx context.Context, token string, t dynamo.Token, rec *dynamo.Record, lang, notice string) (pages.ConsentView, error) {
	r := rec.Referral
	state, ok := pages.ConsentStateFor(r.Status)
	if !ok || (r.Status == referral.AwaitingConsent && !a.now().Before(t.ExpiresAt)) {
		return pages.ConsentView{}, errLinkGone
	}
	if r.Status == referral.AwaitingConsent && !r.Matched {
		// The offers are fixed by the dispatcher before the email goes out; a
		// page opened before that (a fast click) shows nothing to confirm yet.
		return pages.ConsentView{}, problem.Errorf(problem.Unavailable, "the page is being prepared")
	}
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return pages.ConsentView{}, err
	}
	key, err := a.LinkKey(ctx)
	if err != nil {
		return pages.ConsentView{}, err
	}
	if lang == "" {
		lang = r.Patient.Language
		if r.Consent != nil && r.Consent.Language != "" {
			lang = r.Consent.Language
		}
	}
	lang = pages.Lang(lang)
	v := pages.ConsentView{
		Lang: lang, ClinicName: clinic.Name, GivenName: r.Patient.GivenName,
		ExpiresAt: occurrence.Zoned(consentExpiry(r), occurrence.PatientZone(r)), State: state, Notice: notice,
		CSRFToken: pages.CSRF{Key: key}.Token(token), ActionURL: "/c/" + token + "?lang=" + lang,
	}
	if v.NoContact = r.Patient.Email == "" && r.Patient.Phone == ""; !v.NoContact {
		if v.Channel, err = ChannelWords(lang, r); err != nil {
			return v, err
		}
	}
	for _, o := range r.Offers {
		v.Groups = append(v.Groups, pages.GroupOffer{
			ID: o.GroupID, Name: o.Name, Format: o.Format, When: pages.MeetingWhen(lang, o.Meetings),
			DistanceKm: o.DistanceKm, Where: o.City, OnlineHow: o.OnlineURL,
		})
	}
	if c := r.Consent; c != nil {
		tz := occurrence.PatientZone(r)
		v.Mode, v.Chosen, v.ConfirmedAt, v.ExpiresAt = c.Mode, c.Groups, occurrence.Zoned(c.SignedAt, tz), occurrence.Zoned(c.ExpiresAt, tz)
	}
	return v, a.consentPlanView(ctx, token, rec, &v)
}

// ChannelWords names, in lang, the patient's contact channel a group gets
// (or would get, before the patient answers), masked.
func ChannelWords(lang string, r *referral.Referral) (string, error) {
	if r.Consent != nil && r.Consent.Channel == "phone" || r.Patient.Email == "" && r.Patient.Phone != "" {
		return pages.ContactChannel(lang, "phone", pages.MaskPhone(r.Patient.Phone))
	}
	return pages.ContactChannel(lang, "email", pages.MaskEmail(r.Patient.Email))
}

// consentLifetime is how long a patient's agreement lasts.
const consentLifetime = 365 * 24 * time.Hour

// consentExpiry is the date the patient's agreement ends: fixed when the
// referral arrived, so the page shows the same date the record keeps.
func consentExpiry(r *referral.Referral) time.Time {
	return r.CreatedAt.Add(consentLifetime).Truncate(24 * time.Hour)
}

// ConsentAction carries out the patient's answer and returns the notice the
// page shows next. A repeated answer changes nothing and emits nothing.
// Errors: those of ConsentPage.
func (a *App) ConsentAction(ctx context.Context, token, lang string, f pages.ConsentForm) (string, error) {
	for attempt := 0; ; attempt++ {
		notice, err := a.consentAction(ctx, token, lang, f)
		if problem.Is(err, problem.Conflict) && attempt < 3 {
			continue
		}
		return notice, err
	}
}

func (a *App) consentAction(ctx context.Context, token, lang string, f pages.ConsentForm) (string, error) {
	t, rec, err := a.linkRecord(ctx, token, "consent")
	if err != nil {
		return "", err
	}
	v, err := a.consentView(ctx, token, t, rec, lang, "")
	if err != nil {
		return "", err
	}
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	if !(pages.CSRF{Key: key}).Check(token, f.CSRF) {
		return pages.NoticeTryAgain, nil
	}
	r := rec.Referral
	now := a.now()
	switch f.Action {
	case pages.ActionConfirm:
		if r.Status != referral.AwaitingConsent {
			return noticeFor(r.Status), nil
		}
		var chosen []string
		for _, o := range r.Offers {
			if slices.Contains(f.Groups, o.GroupID) {
				chosen = append(chosen, o.GroupID)
			}
		}
		if len(chosen) == 0 {
			return pages.NoticeChooseGroup, nil
		}
		mode := f.Mode
		if mode != pages.ModeSelf {
			mode = pages.ModeIntroduce
		}
		if mode == pages.ModeIntroduce && v.NoContact {
			// Not offered: the groups would have no way to reach the patient.
			return pages.NoticeTryAgain, nil
		}
		// The exact text the patient saw and agreed to, hashed into the record.
		v.Chosen, v.Mode = chosen, mode
		text, err := pages.ConsentText(v)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256([]byte(text))
		clinic, err := a.Clinic(ctx, r.ClinicID)
		if err != nil {
			return "", err
		}
		var names []string
		for _, o := range r.Offers {
			if slices.Contains(chosen, o.GroupID) {
				names = append(names, o.Name)
			}
		}
		channel := "email"
		switch {
		case v.NoContact:
			channel = "" // none to share
		case r.Patient.Email == "":
			channel = "phone"
		}
		disclosed := "first name and " + channel
		if mode == pages.ModeSelf {
			disclosed = "nothing: the patient receives the groups' details"
			names = nil
		}
		r.Consent = &referral.Consent{
			Mode: mode, Groups: chosen, Channel: channel,
			PatientName: r.Patient.GivenName + " " + r.Patient.FamilyName, Discloser: clinic.Name,
			Disclosed: disclosed, Recipients: names, Purpose: consentPurpose, RevokeHow: consentRevokeHow,
			ExpiresAt: consentExpiry(r), Signature: "pressed Confirm on the consent page", SignedAt: now,
			Redisclosure: consentRedisclosure, TextSHA256: hex.EncodeToString(sum[:]), Language: v.Lang,
		}
		r.Status, r.UpdatedAt = referral.Consented, now
		err = a.Apply(ctx, dynamo.Change{Referral: r, Events: []referral.Event{
			a.StatusEvent(r, "the patient agreed"),
			a.NewEvent(r, referral.ConsentGiven, now, func(e *referral.Event) { e.Data = map[string]string{"mode": mode} }),
			a.NewEvent(r, referral.ReceiptRequested, now, nil),
		}})
		if err != nil {
			return "", err
		}
		a.Log.InfoContext(ctx, "consent given", "referral", r.ID, "mode", mode, "groups", len(chosen))
		return pages.NoticeConfirmed, nil
	case pages.ActionDecline:
		if r.Status != referral.AwaitingConsent {
			return noticeFor(r.Status), nil
		}
		r.Status, r.UpdatedAt = referral.Declined, now
		r.Consent = &referral.Consent{DeclinedAt: now, Language: v.Lang, Discloser: v.ClinicName}
		err = a.Apply(ctx, dynamo.Change{Referral: r, Events: []referral.Event{
			a.StatusEvent(r, "the patient said no"),
			a.NewEvent(r, referral.ConsentDeclined, now, nil),
		}})
		if err != nil {
			return "", err
		}
		a.Log.InfoContext(ctx, "consent declined", "referral", r.ID)
		return pages.NoticeDeclined, nil
	case pages.ActionAttended, pages.ActionMissed:
		if ok, err := a.answerAttendance(ctx, rec, f.Action, "the patient"); !ok || err != nil {
			return "", err
		}
		a.Log.InfoContext(ctx, "first meeting answered", "referral", r.ID, "answer", f.Action)
		return f.Action, nil // NoticeAttended, NoticeMissed
	case pages.ActionRevoke:
		if r.Consent == nil || !r.CanMove(referral.Revoked) {
			return revokeRefused(r), nil
		}
		ch := a.close(rec, referral.Revoked, "the patient withdrew consent")
		r.Consent.RevokedAt = now
		// Revoking stops disclosure: the contact fields are deleted at once.
		r.Patient.Email, r.Patient.Phone = "", ""
		ch.Events = append(ch.Events, a.NewEvent(r, referral.ConsentRevoked, now, nil))
		if err := a.Apply(ctx, ch); err != nil {
			return "", err
		}
		a.Log.InfoContext(ctx, "consent revoked", "referral", r.ID)
		return pages.NoticeRevoked, nil
	}
	return "", problem.Errorf(problem.Invalid, "unknown action")
}

// revokeRefused is what a revoke that cannot stop anything says, changing
// nothing: sharing stopped already, nothing was ever agreed to share (the
// patient has not answered, or said no), or the referral closed.
func revokeRefused(r *referral.Referral) string {
	switch {
	case r.Status == referral.Revoked:
		return pages.NoticeRevoked
	case r.Consent == nil || !r.Consent.DeclinedAt.IsZero():
		return pages.NoticeNothingToStop
	}
	return pages.NoticeSharingOver
}

// noticeFor is the notice for a repeated answer: the state as it stands.
func noticeFor(s referral.Status) string {
	switch s {
	case referral.Declined:
		return pages.NoticeDeclined
	case referral.Revoked:
		return pages.NoticeRevoked
	case referral.Unmatched:
		return ""
	}
	return pages.NoticeConfirmed
}
