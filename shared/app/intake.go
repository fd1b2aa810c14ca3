package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/textproto"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/webhook"
)

// idempotencyWindow is how long a webhook id is remembered.
const idempotencyWindow = 8 * 24 * time.Hour

// Delivery is one signed referral webhook as it arrived.
type Delivery struct {
	ClinicID    string
	Header      map[string][]string // as net/http's Header holds it
	ContentType string
	Body        []byte
}

// Receipt is the 202 answer to an accepted referral.
type Receipt struct {
	ID        string            `json:"id"`
	Status    referral.Status   `json:"status"`
	CreatedAt time.Time         `json:"created_at"`
	Links     map[string]string `json:"links"`
}

var errBadSignature = problem.Errorf(problem.Unauthorized,
	"the request is not signed with this clinic's webhook secret within the allowed time (Standard Webhooks v1)")

// SubmitReferral authenticates, decodes, validates and minimizes a referral and
// stores it with its first events in one transaction. It returns the 202 body;
// a repeated delivery (same webhook id and body) returns the first answer and
// writes nothing.
//
// Errors: problem.Unauthorized for any signature or clinic failure (one message,
// no hint which), problem.Malformed, UnsupportedMedia, TooLarge, Invalid from
// decoding, problem.Conflict for a reused webhook id with another body.
func (a *App) SubmitReferral(ctx context.Context, d Delivery) ([]byte, error) {
	answer, err := a.submitReferral(ctx, d)
	switch code := problem.CodeOf(err); {
	case err == nil:
		a.Metrics.Emit("ReferralsReceived", 1, metrics.Count)
	case code != problem.Internal && code != problem.Unavailable:
		a.Metrics.Emit("ReferralsRefused", 1, metrics.Count, "Reason", string(code))
	}
	return answer, err
}

func (a *App) submitReferral(ctx context.Context, d Delivery) ([]byte, error) {
	c, err := a.Clinic(ctx, d.ClinicID)
	if problem.Is(err, problem.NotFound) {
		return nil, errBadSignature
	}
	if err != nil {
		return nil, err
	}
	secret, err := webhook.ParseSecret(c.WebhookSecret)
	if err != nil {
		return nil, err
	}
	v := webhook.Verifier{Tolerance: a.Config.WebhookTolerance, Now: a.now}
	if err := v.Verify(d.Body, d.Header, secret); err != nil {
		return nil, errBadSignature
	}
	header := textproto.MIMEHeader(d.Header)
	webhookID := header.Get("webhook-id")
	if webhookID == "" {
		webhookID = header.Get("svix-id")
	}
	if len(webhookID) > 256 {
		return nil, problem.Errorf(problem.Malformed, "webhook-id is longer than 256 characters")
	}
	in, err := intake.Parse(d.ContentType, d.Body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(d.Body)
	answer, _, err := a.createReferral(ctx, c, in, Arrival{Media: d.ContentType}, &dynamo.Idempotency{
		ClinicID: c.ID, WebhookID: webhookID, BodyHash: hex.EncodeToString(sum[:]),
	})
	return answer, err
}

// Arrival says how a referral came, besides its intake value.
type Arrival struct {
	// Source is "fhir" for a Task an EHR created through the FHIR API (its
	// clinic can then search it), referral.SourceClinicPages for one made on
	// the clinic's own pages, "" for a webhook.
	Source string
	// Media is the media type it came as: in a FHIR one, errors name FHIR
	// elements.
	Media string
	// Identifiers index a Task's identifiers in the same transaction.
	Identifiers dynamo.TaskIdentifiers
	// PatientKey, from a SMART launch, is the keyed hash under which the
	// clinic's EHR knows the patient: kept while the referral is open.
	PatientKey string
	// Delivery, when set, stores the referral once per delivery key (a
	// form's one-time key): the same key again with the same BodyHash
	// answers as the first time and writes nothing.
	Delivery *dynamo.Idempotency
}

// CreateReferral is the intake of a referral decoded elsewhere (a FHIR
// Task by shared/ehr, a clinic's page by shared/room): as for a webhook, it
// checks that the patient can be reached — except for a referral of the
// clinic's own pages, whose patient may have given no contact (the page's
// QR code then brings them to the consent page) — and stores the referral
// with its first events in one transaction. It keeps a delivery record only
// when how.Delivery is set (a FHIR create is never a replay of another). It
// returns the receipt, and the referral as written (what a read would load
// now, without the read), or nil for a repeated delivery. Errors:
// problem.Invalid (no channel reaches the patient), problem.Conflict (a
// repeated delivery key with another body), dynamo.ErrTaskMatched (a
// conditional create another create beat).
func (a *App) CreateReferral(ctx context.Context, c dynamo.Clinic, in referral.Intake, how Arrival) (Receipt, *dynamo.Record, error) {
	answer, rec, err := a.createReferral(ctx, c, in, how, how.Delivery)
	if err != nil {
		return Receipt{}, nil, err
	}
	if rec != nil {
		r := rec.Referral
		return receiptOf(r), rec, nil
	}
	var receipt Receipt
	err = json.Unmarshal(answer, &receipt)
	return receipt, nil, err
}

// receiptOf is the 202 answer to an accepted referral.
func receiptOf(r *referral.Referral) Receipt {
	return Receipt{
		ID: r.ID, Status: r.Status, CreatedAt: r.CreatedAt,
		Links: map[string]string{"self": "/v1/clinics/" + r.ClinicID + "/referrals/" + r.ID},
	}
}

// createReferral is every referral's one intake path, whatever brought it (a
// signed webhook, a FHIR Task), once its body is decoded and minimized:
// check the patient can be reached, and store the referral with its first
// events. A webhook delivery (idem not nil) is stored once per webhook id
// with its receipt (a repeated id with the same body answers as the first
// time, and rec is nil). It returns the receipt (webhooks only) and the
// referral as written.
func (a *App) createReferral(ctx context.Context, c dynamo.Clinic, in referral.Intake, how Arrival, idem *dynamo.Idempotency) ([]byte, *dynamo.Record, error) {
	channels := a.reachable(in.Patient, nil, c)
	if len(channels) == 0 && how.Source != referral.SourceClinicPages {
		return nil, nil, a.unreachableAtIntake(how.Media, in.Patient, c)
	}
	now := a.now()
	r := &referral.Referral{
		ID: NewID(now), ClinicID: c.ID, Status: referral.AwaitingConsent,
		CreatedAt: now, UpdatedAt: now, Intake: in, Source: how.Source, PatientKey: how.PatientKey,
	}
	if len(channels) > 0 {
		r.FirstChannel = channels[0]
	}
	_, tokHash, err := a.LinkToken(ctx, "consent", r.ID, 0)
	if err != nil {
		return nil, nil, err
	}
	n := dynamo.NewReferral{
		Referral: r, Identifiers: how.Identifiers,
		Token: dynamo.Token{
			Hash: tokHash, Kind: "consent", ReferralID: r.ID, ClinicID: c.ID,
			ExpiresAt: now.Add(a.Config.ConsentTTL), TTL: now.Add(a.Config.ConsentTTL + a.Config.Retention).Unix(),
		},
		Events: []referral.Event{
			a.NewEvent(r, referral.StatusChanged, now, func(e *referral.Event) {
				e.Status = referral.AwaitingConsent
				e.Detail = "referral received"
			}),
			a.NewEvent(r, referral.ConsentRequested, now, func(e *referral.Event) {
				if len(channels) > 0 { // none for a referral whose patient only has the QR code
					e.Data = map[string]string{DataChannel: channels[0]}
				}
			}),
			a.NewEvent(r, referral.ConsentDeadline, now.Add(a.Config.ConsentTTL), nil),
		},
	}
	if idem != nil {
		answer, err := json.Marshal(receiptOf(r))
		if err != nil {
			return nil, nil, err
		}
		idem.Answer, idem.At, idem.TTL = answer, now, now.Add(idempotencyWindow).Unix()
		n.Idempotency = *idem
	}
	if a.Config.ConsentReminder < a.Config.ConsentTTL {
		n.Events = append(n.Events, a.NewEvent(r, referral.ConsentReminder, now.Add(a.Config.ConsentReminder), nil))
	}
	// The referral's arrival is counted in the write that stores it.
	t := a.newTally()
	t.statuses(r, n.Events)
	n.Counts = t.counts
	if in.Patient.Mobile {
		// The consent link's short form, for texts.
		_, h, err := a.LinkToken(ctx, "text", r.ID, 0)
		if err != nil {
			return nil, nil, err
		}
		n.TextToken = n.Token
		n.TextToken.Hash = h
	}
	stored, replay, err := a.Referrals.Create(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	if replay {
		a.Log.InfoContext(ctx, "referral delivery repeated", "clinic", c.ID)
		return stored, nil, nil
	}
	a.Log.InfoContext(ctx, "referral accepted", "clinic", c.ID, "referral", r.ID)
	// The referral as written, its events all pending: what a read would
	// load now, without the read.
	rec := &dynamo.Record{Referral: r, Events: n.Events, Pending: map[string]bool{}}
	for _, e := range n.Events {
		rec.Pending[e.ID] = true
	}
	return stored, rec, nil
}

// NewEvent builds an event for r, due at due (now for immediate ones).
func (a *App) NewEvent(r *referral.Referral, t referral.EventType, due time.Time, set func(*referral.Event)) referral.Event {
	now := a.now()
	e := referral.Event{ID: NewID(now), Partition: r.ID, ClinicID: r.ClinicID, Type: t, At: now, Due: due}
	if set != nil {
		set(&e)
	}
	return e
}

// StatusEvent records a status change: the timeline entry that also drives the
// clinician's webhook and email.
func (a *App) StatusEvent(r *referral.Referral, detail string) referral.Event {
	return a.NewEvent(r, referral.StatusChanged, a.now(), func(e *referral.Event) {
		e.Status = r.Status
		e.Detail = detail
	})
}

func constantEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
