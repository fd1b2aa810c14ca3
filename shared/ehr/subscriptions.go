package ehr

import (
	"context"
	"encoding/json"
	"errors"
	"net/textproto"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// FHIR Subscriptions, R5 Backport for R4 (1.1.0): a clinic's EHR subscribes
// to its Tasks; handoff posts a history Bundle (SubscriptionStatus first) on
// each change, through the status webhook's mechanism: the status-changed
// event's effect, one ledger entry per subscription, the same retries and
// address guard.

// Limits of a clinic's subscriptions.
const (
	// MaxSubscriptions is how many subscriptions a clinic may have (an EHR
	// needs one or two; there is no delete, so a change is a PUT).
	MaxSubscriptions = 10
	// MaxHandshakes is how many handshakes one endpoint of a clinic may
	// get per HandshakeWindow: creates and restarts beyond are refused.
	MaxHandshakes   = 10
	HandshakeWindow = time.Hour
	// handshakeRetries is how long a refused handshake is retried before
	// the subscription is put in error.
	handshakeRetries = 10 * time.Minute
)

var limits = dynamo.SubscriptionLimits{PerClinic: MaxSubscriptions, Handshakes: MaxHandshakes, Window: HandshakeWindow}

// Register adds the EHR's effects to the core's one dispatcher: a
// subscription's handshake and heartbeats (App.Handle) and its
// notifications of each status change of a Task (App.OnStatus). Every
// process that dispatches events registers them while it is wired.
func (s *Service) Register() {
	s.App.Handle(referral.Handshake, s.onHandshake)
	s.App.Handle(referral.Heartbeat, s.onHeartbeat)
	s.App.OnStatus(s.notifySubscriptions)
}

// subscriptionReq checks a Subscription the token's clinic sends: its
// endpoint's address, and full-resource content only for a token that may
// read Tasks. Errors: Invalid, Forbidden.
func (s *Service) subscriptionReq(req fhir.SubscriptionRequest, readsTasks bool) (dynamo.Subscription, error) {
	if err := s.App.CheckEndpoint(req.Endpoint); err != nil {
		return dynamo.Subscription{}, problem.Invalidf([]problem.FieldError{{Field: "Subscription.channel.endpoint", Detail: err.Error()}},
			"The Subscription is not one handoff can take.")
	}
	if req.Content == "full-resource" && !readsTasks {
		return dynamo.Subscription{}, problem.Errorf(problem.Forbidden,
			"full-resource notifications carry the Task: the access token needs a scope that reads Tasks (system/Task.rs, system/Task.read or system/*.*)")
	}
	return dynamo.Subscription{Endpoint: req.Endpoint, Content: req.Content, Headers: req.Headers, HeartbeatPeriod: req.Heartbeat}, nil
}

// write stores a subscription its client created or changed, with its
// handshake when it (re)starts, in one transaction. Errors: Conflict (the
// clinic has all the subscriptions it may), Invalid (another of its
// subscriptions posts to the endpoint), TooManyRequests (the endpoint had
// all the handshakes it may for now), NotFound.
func (s *Service) write(ctx context.Context, sub *dynamo.Subscription, old *dynamo.Subscription) error {
	var handshake *referral.Event
	sub.Chain = ""
	if sub.Status == "requested" {
		sub.Chain = app.NewID(s.App.Clock())
		ev := s.subscriptionEvent(*sub, referral.Handshake, s.App.Clock())
		handshake = &ev
	}
	err := s.App.Clinics.WriteSubscription(ctx, s.App.Referrals, dynamo.SubscriptionWrite{
		Sub: *sub, Old: old, Handshake: handshake, Limits: limits, At: s.App.Clock(),
	})
	switch {
	case errors.Is(err, dynamo.ErrTooManySubscriptions):
		return problem.Errorf(problem.Conflict, "the clinic has %d subscriptions, the most it may have: change one of them (PUT /fhir/Subscription/{id}) instead", MaxSubscriptions)
	case errors.Is(err, dynamo.ErrEndpointTaken):
		return problem.Invalidf([]problem.FieldError{{Field: "Subscription.channel.endpoint",
			Detail: "another of the clinic's subscriptions posts to this endpoint: change that one (PUT /fhir/Subscription/{id})"}},
			"One subscription per endpoint.")
	case errors.Is(err, dynamo.ErrEndpointBusy):
		return problem.Errorf(problem.TooManyRequests, "this endpoint had %d handshakes within the hour, the most it may: try again later", MaxHandshakes)
	}
	return err
}

// CreateSubscription registers a subscription of the token's clinic, as
// requested: its handshake is an event, written with it, that the
// dispatcher posts (the subscription is active once the endpoint answers
// 2xx, in error if it never does). readsTasks says whether the token may
// read Tasks. Errors: Invalid, Forbidden, and the refusals of the limits
// (see write).
func (s *Service) CreateSubscription(ctx context.Context, clinicID string, readsTasks bool, req fhir.SubscriptionRequest) (fhir.Subscription, error) {
	sub, err := s.subscriptionReq(req, readsTasks)
	if err != nil {
		return fhir.Subscription{}, err
	}
	now := s.App.Clock()
	sub.ID, sub.ClinicID, sub.Created, sub.Status = app.NewID(now), clinicID, now, "requested"
	if err := s.write(ctx, &sub, nil); err != nil {
		return fhir.Subscription{}, err
	}
	s.App.Log.InfoContext(ctx, "subscription created", "clinic", clinicID, "subscription", sub.ID)
	return subscriptionOf(sub), nil
}

// UpdateSubscription replaces what the client may change of one of its
// subscriptions (PUT): status off stops it, and requested (or active)
// starts it again with a handshake, as a create does. Its events keep their
// count. Errors: Invalid, Forbidden, NotFound, and the refusals of the
// limits (see write).
func (s *Service) UpdateSubscription(ctx context.Context, clinicID string, readsTasks bool, id string, req fhir.SubscriptionRequest) (fhir.Subscription, error) {
	old, err := s.subscription(ctx, clinicID, id)
	if err != nil {
		return fhir.Subscription{}, err
	}
	sub, err := s.subscriptionReq(req, readsTasks)
	if err != nil {
		return fhir.Subscription{}, err
	}
	if req.ID != id {
		return fhir.Subscription{}, problem.Invalidf([]problem.FieldError{{Field: "Subscription.id", Detail: "must be the id in the URL"}}, "The Subscription is not the one addressed.")
	}
	sub.ID, sub.ClinicID, sub.Created, sub.Events, sub.LastSentAt = old.ID, old.ClinicID, old.Created, old.Events, old.LastSentAt
	switch req.Status {
	case "off":
		sub.Status = "off" // its chain ends: no handshake or heartbeat of it posts
	case "requested", "active":
		sub.Status = "requested"
	default:
		return fhir.Subscription{}, problem.Invalidf([]problem.FieldError{{Field: "Subscription.status", Detail: "must be off, or requested to start it again"}}, "The Subscription is not one handoff can take.")
	}
	if err := s.write(ctx, &sub, &old); err != nil {
		return fhir.Subscription{}, err
	}
	s.App.Log.InfoContext(ctx, "subscription updated", "clinic", clinicID, "subscription", sub.ID, "status", sub.Status)
	return subscriptionOf(sub), nil
}

func subscriptionOf(sub dynamo.Subscription) fhir.Subscription {
	return fhir.SubscriptionOf(sub.ID, sub.Status, sub.Endpoint, sub.Content, sub.HeartbeatPeriod)
}

// subscriptionEvent is a subscription's handshake or heartbeat, due at due,
// on its chain. It and its ledger entries expire a month after it is due.
func (s *Service) subscriptionEvent(sub dynamo.Subscription, t referral.EventType, due time.Time) referral.Event {
	now := s.App.Clock()
	return referral.Event{ID: app.NewID(now), Partition: dynamo.SubscriptionPartition(sub.ID), ClinicID: sub.ClinicID,
		Type: t, At: now, Due: due, TTL: due.Add(30 * 24 * time.Hour).Unix(),
		Data: map[string]string{"subscription": sub.ID, "chain": sub.Chain}}
}

// stillFor loads the subscription a handshake or heartbeat is for and
// reports whether the event still applies: the subscription is there, in
// the given status, on the event's chain (a heartbeat's with a period). An
// event that no longer applies is finished here, without effect.
func (s *Service) stillFor(ctx context.Context, ev referral.Event, status string) (dynamo.Subscription, bool, error) {
	sub, err := s.subscription(ctx, ev.ClinicID, ev.Data["subscription"])
	if err != nil && !problem.Is(err, problem.NotFound) {
		return sub, false, err
	}
	if err == nil && sub.Chain == ev.Data["chain"] && sub.Status == status && (ev.Type != referral.Heartbeat || sub.HeartbeatPeriod > 0) {
		return sub, true, nil
	}
	return sub, false, s.App.Referrals.Finish(ctx, ev)
}

// onHandshake posts a requested subscription's handshake once, through the
// ledger: when its endpoint answers 2xx the subscription is active (its
// first heartbeat scheduled, when it has a period) in the write that
// finishes the handshake; refused for ten minutes, or answered 410, it is
// in error. A handshake of a subscription changed since (another chain)
// ends without posting.
func (s *Service) onHandshake(ctx context.Context, ev referral.Event) error {
	a := s.App
	sub, ok, err := s.stillFor(ctx, ev, "requested")
	if !ok || err != nil {
		return err
	}
	posted, err := a.PostOnce(ctx, ev, app.Outbound{
		Key: ev.ID + "#handshake", What: "handshake", URL: sub.Endpoint, Since: ev.At, Window: handshakeRetries,
		Build: func() (map[string]string, []byte, error) {
			return s.notification(sub, s.notice(sub, "handshake", sub.Events))
		},
		Gone: s.gone(sub),
	})
	if err != nil {
		return err
	}
	var heartbeat *referral.Event
	switch posted {
	case app.EndpointGone:
		return a.Referrals.Finish(ctx, ev) // gone put it in error
	case app.Abandoned:
		sub.Status = "error"
	default: // delivered, now or by an earlier delivery of this event
		sub.Status, sub.LastSentAt = "active", a.Clock()
		if sub.HeartbeatPeriod > 0 {
			hb := s.subscriptionEvent(sub, referral.Heartbeat, sub.LastSentAt.Add(sub.HeartbeatPeriod))
			heartbeat = &hb
		}
	}
	shook, err := a.Clinics.SubscriptionShook(ctx, a.Referrals, sub, heartbeat, ev)
	if err != nil {
		return err
	}
	if !shook {
		return a.Referrals.Finish(ctx, ev) // changed by its client meanwhile
	}
	a.Log.InfoContext(ctx, "subscription handshake done", "clinic", sub.ClinicID, "subscription", sub.ID, "status", sub.Status)
	return nil
}

// onHeartbeat posts a heartbeat when the subscription has been quiet for its
// period, then schedules the next one a period after its last notification.
// A heartbeat of an older chain, or of a subscription turned off, in error
// or gone, ends there. A refused heartbeat is retried like a notification
// until the next one would be due.
func (s *Service) onHeartbeat(ctx context.Context, ev referral.Event) error {
	a := s.App
	sub, ok, err := s.stillFor(ctx, ev, "active")
	if !ok || err != nil {
		return err
	}
	if quiet := a.Clock().Sub(sub.LastSentAt); quiet >= sub.HeartbeatPeriod {
		posted, err := a.PostOnce(ctx, ev, app.Outbound{
			Key: ev.ID + "#heartbeat", What: "heartbeat", URL: sub.Endpoint,
			// Refusals are retried until the next heartbeat would be due.
			Since: ev.Due, Window: min(sub.HeartbeatPeriod, app.CallbackWindow),
			Build: func() (map[string]string, []byte, error) {
				return s.notification(sub, s.notice(sub, "heartbeat", sub.Events))
			},
			Gone: s.gone(sub),
		})
		if err != nil {
			return err
		}
		switch posted {
		case app.EndpointGone:
			return a.Referrals.Finish(ctx, ev) // the subscription is in error: no more heartbeats
		case app.Delivered:
			sub.LastSentAt = a.Clock()
			if err := a.Clinics.SubscriptionSent(ctx, sub.ClinicID, sub.ID, sub.LastSentAt); err != nil {
				return err
			}
		default: // posted by an earlier delivery of this event, or given up
			sub.LastSentAt = a.Clock()
		}
	}
	return a.Referrals.ScheduleHeartbeat(ctx, s.subscriptionEvent(sub, referral.Heartbeat, sub.LastSentAt.Add(sub.HeartbeatPeriod)), &ev)
}

// subscription finds one of the clinic's subscriptions. Errors: NotFound.
func (s *Service) subscription(ctx context.Context, clinicID, id string) (dynamo.Subscription, error) {
	notFound := problem.Errorf(problem.NotFound, "no Subscription with this id")
	if len(id) == 0 || len(id) > 64 || strings.Trim(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
		return dynamo.Subscription{}, notFound // not an id handoff gives
	}
	sub, err := s.App.Clinics.Subscription(ctx, clinicID, id)
	if problem.Is(err, problem.NotFound) {
		return sub, notFound
	}
	return sub, err
}

// ReadSubscription is a subscription of the token's clinic. Errors: NotFound.
func (s *Service) ReadSubscription(ctx context.Context, clinicID, id string) (fhir.Subscription, error) {
	sub, err := s.subscription(ctx, clinicID, id)
	if err != nil {
		return fhir.Subscription{}, err
	}
	return subscriptionOf(sub), nil
}

// SubscriptionStatus is $status: a Bundle holding the SubscriptionStatus.
// Errors: NotFound.
func (s *Service) SubscriptionStatus(ctx context.Context, clinicID, id string) (fhir.Bundle, error) {
	sub, err := s.subscription(ctx, clinicID, id)
	if err != nil {
		return fhir.Bundle{}, err
	}
	return s.notice(sub, "query-status", sub.Events).StatusBundle(), nil
}

// notice is what a subscription is told: its state, count and type.
func (s *Service) notice(sub dynamo.Subscription, typ string, count int64) fhir.Notice {
	return fhir.Notice{Base: s.Base(), Subscription: sub.ID, Status: sub.Status, Type: typ, Events: count}
}

// notification is a notice as posted to a subscription's endpoint: the
// notification Bundle, with the subscription's own headers.
func (s *Service) notification(sub dynamo.Subscription, n fhir.Notice) (map[string]string, []byte, error) {
	now := s.App.Clock()
	body, err := json.Marshal(n.Notification(strings.ToLower(app.NewID(now)), now, sub.Content == "full-resource"))
	if err != nil {
		return nil, nil, err
	}
	header := map[string]string{}
	for _, h := range sub.Headers {
		name, value, _ := strings.Cut(h, ":")
		header[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	header["Content-Type"], header["User-Agent"] = "application/fhir+json", "handoff-subscription/1"
	return header, body, nil
}

// gone puts a subscription in error when its endpoint answers 410 Gone:
// nothing more is posted to it until its client starts it again (PUT).
func (s *Service) gone(sub dynamo.Subscription) func(context.Context) error {
	return func(ctx context.Context) error {
		return s.App.Clinics.SetSubscriptionStatus(ctx, sub.ClinicID, sub.ID, sub.Chain, "error")
	}
}

// notifySubscriptions posts a FHIR-created referral's status change to each
// active subscription of its clinic, once each (the ledger), in order per
// referral and subscription (App.InOrder), retrying like a status webhook.
// An endpoint that refuses does not hold back the others, now or later:
// each is posted, each later status change waits only for the earlier ones'
// posts to its own endpoint, and the event is retried for those that
// refused (the ledger skips those done).
func (s *Service) notifySubscriptions(ctx context.Context, rec *dynamo.Record, ev referral.Event) error {
	a := s.App
	r := rec.Referral
	if r.Source != "fhir" {
		return nil
	}
	subs, err := a.Clinics.Subscriptions(ctx, r.ClinicID)
	if err != nil || len(subs) == 0 {
		return err
	}
	task := taskOf(rec)
	var errs []error
	for _, sub := range subs {
		if sub.Status != "active" {
			continue
		}
		key := func(id string) string { return id + "#sub#" + sub.ID }
		if err := a.InOrder(ctx, rec, ev, key); err != nil {
			errs = append(errs, err) // held for this subscription only
			continue
		}
		_, err := a.PostOnce(ctx, ev, app.Outbound{
			Key: key(ev.ID), What: "subscription notification", URL: sub.Endpoint,
			Since: ev.At, Window: app.CallbackWindow,
			Build: func() (map[string]string, []byte, error) {
				// The event's number for the subscription, given once: a
				// retry posts the same number.
				n, err := a.Clinics.SubscriptionEventNumber(ctx, r.ClinicID, sub.ID, ev.ID, a.Clock())
				if err != nil {
					return nil, nil, err
				}
				notice := s.notice(sub, "event-notification", max(n, sub.Events))
				notice.Number, notice.At, notice.TaskID, notice.Task = n, ev.At, r.ID, &task
				return s.notification(sub, notice)
			},
			Gone: s.gone(sub),
		})
		errs = append(errs, err) // the others are posted all the same
	}
	return app.Soonest(errs...)
}
