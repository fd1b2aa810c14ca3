package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/webhook"
)

// NewClinic is an operator's request to create a clinic.
type NewClinic struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ContactEmail string `json:"contact_email"`
	CallbackURL  string `json:"callback_url,omitempty"`
	// ClinicianEmails defaults to true without a callback URL, false with
	// one (the clinic's EHR gets every status by webhook).
	ClinicianEmails *bool `json:"clinician_emails,omitempty"`
	// SMS: whether handoff may text the clinic's patients; default true.
	SMS *bool `json:"sms,omitempty"`
}

// ClinicSecrets are shown once, when a clinic is created.
type ClinicSecrets struct {
	ID             string `json:"id"`
	WebhookSecret  string `json:"webhook_secret"`
	APIKey         string `json:"api_key"`
	CallbackSecret string `json:"callback_secret,omitempty"`
}

// clinicIDPattern compiles on first use, not at every function's start-up.
var clinicIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`) })

// ValidClinicID reports whether s is a clinic id handoff could have given.
func ValidClinicID(s string) bool { return clinicIDPattern().MatchString(s) }

// CreateClinic validates and stores a clinic and returns its secrets, once.
// Errors: problem.Invalid (with fields), problem.Conflict (the id is taken).
func (a *App) CreateClinic(ctx context.Context, in NewClinic) (ClinicSecrets, error) {
	var fields []problem.FieldError
	if !ValidClinicID(in.ID) {
		fields = append(fields, problem.FieldError{Field: "id", Detail: "must be 1-64 lowercase letters, digits or dashes, starting with a letter or digit"})
	}
	if n := strings.TrimSpace(in.Name); n == "" || len(n) > 200 {
		fields = append(fields, problem.FieldError{Field: "name", Detail: "is required (at most 200 characters)"})
	}
	if _, err := mail.ParseAddress(in.ContactEmail); err != nil || len(in.ContactEmail) > 254 {
		fields = append(fields, problem.FieldError{Field: "contact_email", Detail: "must be an email address"})
	}
	if in.CallbackURL != "" {
		if err := a.CheckEndpoint(in.CallbackURL); err != nil {
			fields = append(fields, problem.FieldError{Field: "callback_url", Detail: err.Error()})
		}
	}
	if len(fields) > 0 {
		return ClinicSecrets{}, problem.Invalidf(fields, "the clinic is not valid")
	}
	whsec, err := webhook.NewSecret()
	if err != nil {
		return ClinicSecrets{}, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	apiKey := "hk_" + base64.RawURLEncoding.EncodeToString(key)
	out := ClinicSecrets{ID: in.ID, WebhookSecret: whsec, APIKey: apiKey}
	c := dynamo.Clinic{
		ID: in.ID, Name: strings.TrimSpace(in.Name), ContactEmail: in.ContactEmail, CallbackURL: in.CallbackURL,
		APIKeyHash: HashToken(apiKey), WebhookSecret: whsec, CreatedAt: a.now(),
	}
	// Stored resolved, so the setting holds whatever becomes of the callback.
	c.ClinicianEmails = in.ClinicianEmails
	if c.ClinicianEmails == nil {
		c.ClinicianEmails = new(in.CallbackURL == "")
	}
	c.SMS = in.SMS
	if c.SMS == nil {
		c.SMS = new(true)
	}
	if in.CallbackURL != "" {
		if out.CallbackSecret, err = webhook.NewSecret(); err != nil {
			return ClinicSecrets{}, err
		}
		c.CallbackSecret = out.CallbackSecret
	}
	if err := a.Clinics.Create(ctx, c); err != nil {
		return ClinicSecrets{}, err
	}
	a.ForgetClinic(in.ID)
	a.Log.InfoContext(ctx, "clinic created", "clinic", in.ID, "callback", in.CallbackURL != "", "clinician_emails", *c.ClinicianEmails, "sms", *c.SMS)
	return out, nil
}

// RemovedClinic is the answer to removing a clinic.
type RemovedClinic struct {
	ID        string    `json:"id"`
	RemovedAt time.Time `json:"removed_at"`
	// DeletedAfter is when what is kept of the clinic (its name, for the
	// pages and emails of referrals still open) may be deleted.
	DeletedAfter time.Time `json:"deleted_after"`
}

// removedClinicKept is how long a removed clinic's name is kept after the
// retention period: longer than a referral can stay open.
const removedClinicKept = 90 * 24 * time.Hour

// RemoveClinic ends a clinic's access at once: its api key, webhook secret,
// callback, FHIR client keys and Subscriptions are gone (a request of the
// clinic is then refused as one of an unknown clinic; other functions' caches
// hold a clinic at most a minute). Its open referrals run to their end,
// without status webhooks or clinician emails. Removing it again gives the
// same answer. Errors: problem.NotFound (no such clinic).
func (a *App) RemoveClinic(ctx context.Context, id string) (RemovedClinic, error) {
	if !ValidClinicID(id) {
		return RemovedClinic{}, problem.Errorf(problem.NotFound, "clinic not found")
	}
	unusable, err := webhook.NewSecret()
	if err != nil {
		return RemovedClinic{}, err
	}
	now := a.now()
	c, err := a.Clinics.Remove(ctx, id, unusable, now, now.Add(a.Config.Retention+removedClinicKept).Unix())
	if err != nil {
		return RemovedClinic{}, err
	}
	a.ForgetClinic(id)
	a.Log.InfoContext(ctx, "clinic removed", "clinic", id)
	return RemovedClinic{ID: id, RemovedAt: c.RemovedAt, DeletedAfter: time.Unix(c.TTL, 0).UTC()}, nil
}

// CheckEndpoint refuses an address handoff would post to or fetch from for
// a clinic (a status webhook's callback URL, a Subscription's endpoint, a
// JWKS URL) unless it is an absolute https URL (or http on a local stack)
// with a host and no credentials. Its error says which, in words fit for a
// field error. Where the host resolves is checked again when it is
// reached (shared/outbound refuses special-purpose addresses then).
func (a *App) CheckEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || len(raw) > 2048 {
		return errors.New("must be an absolute URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !a.Config.LoopbackPublicURL() {
			return errors.New("must use https")
		}
	default:
		return errors.New("must use https")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	return nil
}

// apiKeyMatches compares a presented api key with the clinic's stored hash in
// constant time.
func apiKeyMatches(c dynamo.Clinic, bearer string) bool {
	if bearer == "" || c.APIKeyHash == "" {
		return false
	}
	return constantEqual(HashToken(bearer), c.APIKeyHash)
}
