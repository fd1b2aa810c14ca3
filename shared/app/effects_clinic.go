package app

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/webhook"
)

// CallbackWindow is how long a post to a clinic's endpoint (a status
// webhook, a Subscription notification) is retried before handoff gives up
// on it (the contract promises at least 72 hours).
const CallbackWindow = 73 * time.Hour

// clinicianEmailed lists the transitions a clinician is emailed about.
var clinicianEmailed = map[referral.Status]bool{
	referral.Accepted: true, referral.Connected: true, referral.NotConnected: true, referral.Unmatched: true,
	referral.Declined: true, referral.Expired: true, referral.Revoked: true, referral.Unreachable: true,
	referral.Attended: true,
}

// errLater asks the dispatcher to try an event again at a given time.
type errLater struct {
	at  time.Time
	why string
}

func (e *errLater) Error() string { return "retry later: " + e.why }

// Later is the error an effect returns to be tried again at a given time
// (a Retry-After, an earlier event still pending), saying why.
func Later(at time.Time, why string) error { return &errLater{at: at, why: why} }

// RetryAt reports when a failed event asked to be tried again, if it did.
func RetryAt(err error) (time.Time, bool) {
	var l *errLater
	if errors.As(err, &l) {
		return l.at, true
	}
	return time.Time{}, false
}

// StatusWebhook is the body of a status webhook to a clinic.
type StatusWebhook struct {
	Type string            `json:"type"`
	Data StatusWebhookData `json:"data"`
}

// StatusWebhookData is a status change, with no patient data.
type StatusWebhookData struct {
	ID         string          `json:"id"`
	ExternalID string          `json:"external_id,omitempty"`
	Status     referral.Status `json:"status"`
	At         time.Time       `json:"at"`
}

// onStatusChanged emails the clinician on the transitions that matter (when
// the clinic has clinician emails) and POSTs the signed status webhook to the
// clinic's callback URL, in order per referral, retrying with backoff for at
// least 72 hours; the hooks beside it (OnStatus) are run whatever became of
// the email and the webhook.
func (a *App) onStatusChanged(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	// Each way is tried whatever became of the others (the ledger skips,
	// on a retry, those done).
	var errs []error
	if clinicianEmailed[ev.Status] && r.Clinician.Email != "" && clinic.EmailsClinician() {
		errs = append(errs, a.SendOnce(ctx, ev, "clinician-email", func() (mail.Message, error) {
			m, err := pages.ClinicianStatusEmail("en", r.Clinician.Name, clinic.Name, r.ExternalID, r.ID, ev.Status, ev.At)
			return m.To(r.Clinician.Email), err
		}))
	}
	if clinic.CallbackURL != "" && !clinic.CallbackDisabled && clinic.CallbackSecret != "" {
		errs = append(errs, a.deliverCallback(ctx, rec, clinic, ev))
	}
	for _, h := range a.statusHooks {
		errs = append(errs, h(ctx, rec, ev))
	}
	if err := Soonest(errs...); err != nil {
		return err
	}
	if err := a.countLegacyStatus(ctx, r, ev); err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}

// deliverCallback posts the signed status webhook, in order (InOrder), once
// (the ledger), retried for at least 72 hours; a 410 turns the clinic's
// status webhooks off.
func (a *App) deliverCallback(ctx context.Context, rec *dynamo.Record, clinic dynamo.Clinic, ev referral.Event) error {
	key := func(id string) string { return id + "#callback" }
	if err := a.InOrder(ctx, rec, ev, key); err != nil {
		return err
	}
	_, err := a.PostOnce(ctx, ev, Outbound{
		Key: key(ev.ID), What: "status webhook", URL: clinic.CallbackURL, Since: ev.At, Window: CallbackWindow,
		Build: func() (map[string]string, []byte, error) {
			return a.statusWebhook(clinic, ev, rec.Referral.ExternalID)
		},
		Gone: func(ctx context.Context) error {
			if err := a.Clinics.DisableCallback(ctx, clinic.ID); err != nil {
				return err
			}
			a.ForgetClinic(clinic.ID)
			return nil
		},
	})
	return err
}

// statusWebhook is one signed status webhook: its headers and body.
func (a *App) statusWebhook(clinic dynamo.Clinic, ev referral.Event, externalID string) (map[string]string, []byte, error) {
	body, err := json.Marshal(StatusWebhook{Type: "referral.status_changed", Data: StatusWebhookData{
		ID: ev.Partition, ExternalID: externalID, Status: ev.Status, At: ev.At,
	}})
	if err != nil {
		return nil, nil, err
	}
	secret, err := webhook.ParseSecret(clinic.CallbackSecret)
	if err != nil {
		return nil, nil, err
	}
	header := map[string]string{"Content-Type": "application/json", "User-Agent": "handoff-status-webhook/1"}
	for k, v := range webhook.SignHeaders(secret, ev.ID, a.now(), body) {
		header[k] = v[0]
	}
	return header, body, nil
}
