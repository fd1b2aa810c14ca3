package room

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/topics"
	"github.com/handoff-health/handoff/shared/ulids"
)

// PageSize is how many referrals the clinic's list shows at once.
const PageSize = 50

var errReferralNotFound = problem.Errorf(problem.NotFound, "referral not found")

// Refer makes a referral from the page's form through the one intake path
// (the same validation, minimization, events and emails as a signed
// webhook), the staff member as its clinician (for an EHR user, see
// ehr.go), and issues its first QR link. A form of a session an EHR launch
// opened carries the launch's patient key into the referral, and the
// launch's prefill is then forgotten; an embedded session (Staff.Embedded)
// makes that one referral only, and answers its id to a form sent again.
// formKey, the form's own one-time key, makes a form sent twice one
// referral. It returns the referral's id. Errors: problem.Invalid listing
// the fields by their native path (intake.FromForm).
func (r *Room) Refer(ctx context.Context, s Staff, f intake.Form, formKey string) (string, error) {
	if s.Embedded && s.Launch == nil {
		// An embedded session makes one referral, its launch's: the form
		// sent again leads to it.
		if s.Referral == "" {
			return "", problem.Errorf(problem.Forbidden, "this session makes no referral: launch again from the EHR")
		}
		return s.Referral, nil
	}
	clinic, err := r.App.Clinic(ctx, s.Member.ClinicID)
	if err != nil {
		return "", err
	}
	f.Clinician = clinicianOf(s, clinic)
	in, err := intake.FromForm(f)
	if err != nil {
		return "", err
	}
	if !app.ValidToken(formKey) {
		return "", problem.Errorf(problem.Malformed, "The form has expired: open a new one.")
	}
	b, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	how := app.Arrival{
		Source: referral.SourceClinicPages, Media: intake.MediaNative,
		Delivery: &dynamo.Idempotency{ClinicID: clinic.ID, WebhookID: "page-" + formKey, BodyHash: hex.EncodeToString(sum[:])},
	}
	if s.Launch != nil {
		how.PatientKey = s.Launch.PatientKey
	}
	receipt, rec, err := r.App.CreateReferral(ctx, clinic, in, how)
	if err != nil {
		return "", err
	}
	if s.Launch != nil {
		// The launch's prefill is used: the next form of the session is
		// empty. (A failure leaves it; the session ends within hours.)
		if err := r.Sessions.ForgetLaunch(ctx, s.SessionHash, receipt.ID); err != nil {
			r.App.Log.WarnContext(ctx, "launch not forgotten", "error", err.Error())
		}
	}
	if rec != nil {
		r.App.Log.InfoContext(ctx, "referral made on the clinic's page", "clinic", clinic.ID, "referral", receipt.ID, "staff", s.Member.ID)
		if err := r.issueQR(ctx, rec.Referral, 0); err != nil {
			// The page offers a new QR code: the referral stands.
			r.App.Log.WarnContext(ctx, "first QR link not issued", "referral", receipt.ID, "error", err.Error())
		}
	}
	return receipt.ID, nil
}

// record loads one of the staff member's clinic's referrals; another
// clinic's is not found, nor, for an embedded session, any but the one
// made from its launch.
func (r *Room) record(ctx context.Context, s Staff, id string) (*dynamo.Record, error) {
	if !ulids.Valid(id) || s.Embedded && id != s.Referral {
		return nil, errReferralNotFound
	}
	rec, err := r.App.Referrals.Load(ctx, id)
	if problem.Is(err, problem.NotFound) || err == nil && rec.Referral.ClinicID != s.Member.ClinicID {
		return nil, errReferralNotFound
	}
	return rec, err
}

// List is one page of the clinic's referrals, however they came (a
// webhook, a FHIR Task, its pages), newest first (before: the page's key,
// "" for the newest; a key that is not one shows the newest).
func (r *Room) List(ctx context.Context, s Staff, before, lang string) (pages.ClinicListView, error) {
	if s.Embedded {
		return pages.ClinicListView{}, problem.Errorf(problem.Forbidden, "an embedded session shows its own referral only")
	}
	page, err := r.App.Referrals.ClinicReferrals(ctx, s.Member.ClinicID, before, PageSize)
	if problem.Is(err, problem.Invalid) {
		page, err = r.App.Referrals.ClinicReferrals(ctx, s.Member.ClinicID, "", PageSize)
	}
	if err != nil {
		return pages.ClinicListView{}, err
	}
	v := pages.ClinicListView{ClinicPage: pages.ClinicPage{Lang: lang}, Before: page.Before}
	for _, ref := range page.Referrals {
		v.Rows = append(v.Rows, pages.ClinicRow{
			ID: ref.ID, GivenName: ref.Patient.GivenName, Topics: topicNames(ref.Topics, lang),
			Status: string(ref.Status), Changed: ref.UpdatedAt,
		})
	}
	return v, nil
}

func topicNames(codes []string, lang string) []string {
	var out []string
	for _, c := range codes {
		t, ok := topics.Lookup(c)
		switch {
		case !ok:
			out = append(out, c)
		case pages.Lang(lang) == pages.Spanish:
			out = append(out, t.LabelES)
		default:
			out = append(out, t.LabelEN)
		}
	}
	return out
}

// Referral is what one referral's page shows: its status and timeline, and
// while it awaits consent the QR code of its /q/ link.
func (r *Room) Referral(ctx context.Context, s Staff, id, lang string) (pages.ClinicReferralView, error) {
	rec, err := r.record(ctx, s, id)
	if err != nil {
		return pages.ClinicReferralView{}, err
	}
	ref := rec.Referral
	st := app.StatusViewOf(rec)
	v := pages.ClinicReferralView{
		ClinicPage: pages.ClinicPage{Lang: lang}, ID: ref.ID, GivenName: ref.Patient.GivenName, Topics: topicNames(ref.Topics, lang),
		Status: string(ref.Status), Created: ref.CreatedAt, ViewedAt: ref.ViewedAt,
	}
	for _, e := range st.Timeline {
		v.Timeline = append(v.Timeline, pages.ClinicEvent{At: e.At, Status: string(e.Status), Detail: e.Detail})
	}
	for _, rt := range st.Routes {
		v.Groups = append(v.Groups, pages.ClinicRoute{Name: rt.Group.Name, Status: string(rt.Status)})
	}
	l, t, err := r.App.Referrals.QRLink(ctx, ref.ID)
	switch {
	case problem.Is(err, problem.NotFound):
	case err != nil:
		return v, err
	default:
		v.QROpenedAt = t.OpenedAt
	}
	if ref.Status != referral.AwaitingConsent {
		return v, nil
	}
	clinic, err := r.App.Clinic(ctx, ref.ClinicID)
	if err != nil {
		return v, err
	}
	v.CanEmail = ref.Patient.Email != ""
	v.CanText = ref.Patient.Phone != "" && ref.Patient.Mobile && r.App.Config.Texts() && clinic.TextsPatients()
	if t.Hash == "" || !t.OpenedAt.IsZero() || !r.now().Before(t.ExpiresAt) || r.DrawQR == nil {
		v.QRExpired = t.Hash != "" && t.OpenedAt.IsZero()
		return v, nil
	}
	tok, _, err := r.App.LinkToken(ctx, "qr", ref.ID, l.Seq)
	if err != nil {
		return v, err
	}
	v.QRLink = r.App.Config.PublicURL + "/q/" + tok
	v.QRExpires = t.ExpiresAt
	label, err := pages.QRLabel(lang)
	if err != nil {
		return v, err
	}
	if v.QRSVG, err = r.DrawQR(v.QRLink, label); err != nil {
		return v, err
	}
	return v, nil
}

// NewQR issues a new QR link of a referral that awaits consent (the last
// one was opened, or ran out). Errors: problem.NotFound, problem.Conflict
// (the referral no longer awaits consent).
func (r *Room) NewQR(ctx context.Context, s Staff, id string) error {
	rec, err := r.record(ctx, s, id)
	if err != nil {
		return err
	}
	if rec.Referral.Status != referral.AwaitingConsent {
		return problem.Errorf(problem.Conflict, "the referral no longer awaits the patient's consent")
	}
	l, _, err := r.App.Referrals.QRLink(ctx, id)
	if err != nil && !problem.Is(err, problem.NotFound) {
		return err
	}
	return r.issueQR(ctx, rec.Referral, l.Seq)
}

func (r *Room) issueQR(ctx context.Context, ref *referral.Referral, prev int) error {
	seq := prev + 1
	_, hash, err := r.App.LinkToken(ctx, "qr", ref.ID, seq)
	if err != nil {
		return err
	}
	exp := r.now().Add(QRTTL)
	// Kept a day past its expiry, so that a late opening is told the link
	// ran out (410) rather than that it never was (404).
	t := dynamo.Token{Hash: hash, Kind: "qr", ReferralID: ref.ID, ClinicID: ref.ClinicID, ExpiresAt: exp, TTL: exp.Add(staffEventLife).Unix()}
	return r.App.Referrals.IssueQR(ctx, t, seq, prev)
}

// OpenQR opens a referral's QR link, once and within QRTTL, and returns the
// path of the patient's consent page. Errors: problem.NotFound (unknown),
// problem.Gone (opened before, or expired).
func (r *Room) OpenQR(ctx context.Context, token string) (string, error) {
	if !app.ValidToken(token) {
		return "", errLinkNotFound
	}
	hash := app.HashToken(token)
	t, err := r.App.Referrals.Token(ctx, hash)
	if problem.Is(err, problem.NotFound) || err == nil && t.Kind != "qr" {
		return "", errLinkNotFound
	}
	if err != nil {
		return "", err
	}
	if !t.OpenedAt.IsZero() || !r.now().Before(t.ExpiresAt) {
		return "", errLinkGone
	}
	now := r.now()
	ev := referral.Event{ID: app.NewID(now), Partition: t.ReferralID, ClinicID: t.ClinicID, Type: EventQROpened, At: now, Due: now}
	if err := r.App.Referrals.OpenOnce(ctx, hash, now, ev); err != nil {
		return "", err
	}
	consent, _, err := r.App.LinkToken(ctx, "consent", t.ReferralID, 0)
	if err != nil {
		return "", err
	}
	r.App.Log.InfoContext(ctx, "QR link opened", "clinic", t.ClinicID, "referral", t.ReferralID)
	return "/c/" + consent, nil
}

// SendLink sends the patient the consent link by email or text (channel
// "email" or "sms") instead of the QR code, through the dispatcher, and
// returns the notice to show. Errors: problem.NotFound; problem.Invalid
// for a channel the patient or the clinic does not have.
func (r *Room) SendLink(ctx context.Context, s Staff, id, channel string) (string, error) {
	v, err := r.Referral(ctx, s, id, "")
	if err != nil {
		return "", err
	}
	if v.Status != string(referral.AwaitingConsent) {
		return pages.NoticeClinicNotAwaiting, nil
	}
	if channel == app.ChannelEmail && !v.CanEmail || channel == app.ChannelSMS && !v.CanText || channel != app.ChannelEmail && channel != app.ChannelSMS {
		return "", problem.Invalidf([]problem.FieldError{{Field: "channel", Detail: "is not a way to reach this patient"}}, "The link cannot go that way.")
	}
	now := r.now()
	// The consent link's own event, by the channel chosen: the patient was
	// reached already (a patient with a contact has had the link since
	// intake), so it counts the message, not the patient contacted.
	ev := referral.Event{
		ID: app.NewID(now), Partition: id, ClinicID: s.Member.ClinicID, Type: referral.ConsentRequested,
		At: now, Due: now, Data: map[string]string{"channel": channel, "contacted": "1", "staff": s.Member.ID},
	}
	if err := r.App.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: id, Events: []referral.Event{ev}}); err != nil {
		return "", err
	}
	r.App.Log.InfoContext(ctx, "consent link asked for instead of the QR code", "referral", id, "channel", channel)
	return pages.NoticeClinicLinkSent, nil
}

// onQROpened counts the patient contacted when they first open a QR code
// of their referral: for a patient who gave no contact, the only way they
// are reached; for one who did, counted once with the link sent.
func (r *Room) onQROpened(ctx context.Context, ev referral.Event) error {
	rec, err := r.App.Referrals.Load(ctx, ev.Partition)
	if problem.Is(err, problem.NotFound) {
		return r.App.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	if err := r.App.CountContacted(ctx, rec.Referral, ev.At); err != nil {
		return err
	}
	return r.App.Referrals.Finish(ctx, ev)
}
