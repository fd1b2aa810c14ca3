package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// FHIR Subscriptions, R5 Backport for R4 (1.1.0): a clinic's EHR subscribes
// to its Tasks; handoff posts a history Bundle (SubscriptionStatus first) on
// each change, through the status webhook's mechanism: the status-changed
// event's effect, one ledger entry per subscription, the same retries and
// address guard.

// SubscriptionTopic is the one topic handoff offers.
const SubscriptionTopic = "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task"

const (
	backportContent = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content"
	backportStatus  = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"
	maxSubHeaders   = 5
)

type subscriptionIn struct {
	ResourceType string `json:"resourceType"`
	Criteria     string `json:"criteria"`
	Channel      struct {
		Type     string   `json:"type"`
		Endpoint string   `json:"endpoint"`
		Payload  string   `json:"payload"`
		Header   []string `json:"header"`
		PayloadX struct {
			Extension []struct {
				URL       string `json:"url"`
				ValueCode string `json:"valueCode"`
			} `json:"extension"`
		} `json:"_payload"`
	} `json:"channel"`
}

// CreateSubscription registers a subscription of the token's clinic and
// shakes hands with its endpoint: active when it answers 2xx, error
// otherwise. The grant is checked for Subscriptions (FHIRAccess). Errors:
// Invalid.
func (a *App) CreateSubscription(ctx context.Context, g AccessGrant, body []byte) (map[string]any, error) {
	var in subscriptionIn
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, problem.Errorf(problem.Malformed, "the Subscription cannot be read")
	}
	bad := func(field, detail string) error {
		return problem.Invalidf([]problem.FieldError{{Field: field, Detail: detail}}, "The Subscription is not one handoff can take.")
	}
	content := "id-only"
	for _, x := range in.Channel.PayloadX.Extension {
		if x.URL == backportContent {
			content = x.ValueCode
		}
	}
	switch {
	case in.ResourceType != "Subscription":
		return nil, bad("resourceType", "must be Subscription")
	case in.Criteria != SubscriptionTopic:
		return nil, bad("Subscription.criteria", "must be "+SubscriptionTopic)
	case in.Channel.Type != "rest-hook":
		return nil, bad("Subscription.channel.type", "must be rest-hook")
	case in.Channel.Payload != "" && in.Channel.Payload != "application/fhir+json":
		return nil, bad("Subscription.channel.payload", "must be application/fhir+json")
	case content != "id-only" && content != "full-resource":
		return nil, bad("Subscription.channel.payload.content", "must be id-only or full-resource")
	case len(in.Channel.Header) > maxSubHeaders:
		return nil, bad("Subscription.channel.header", "at most 5 headers")
	}
	if err := a.checkCallbackURL(in.Channel.Endpoint); err != nil {
		return nil, bad("Subscription.channel.endpoint", err.Error())
	}
	for _, h := range in.Channel.Header {
		name, value, ok := strings.Cut(h, ":")
		if !ok || len(h) > 1024 || strings.TrimSpace(name) == "" || strings.ContainsAny(h, "\r\n") || strings.TrimSpace(value) == "" {
			return nil, bad("Subscription.channel.header", "each must be Name: value, on one line")
		}
	}
	sub := dynamo.Subscription{ID: newID(a.now()), ClinicID: g.ClinicID, Endpoint: in.Channel.Endpoint,
		Content: content, Status: "active", Created: a.now(), Headers: in.Channel.Header}
	if st, err := a.postNotification(ctx, sub, "handshake", 0, nil, ""); err != nil || st/100 != 2 {
		sub.Status = "error"
	}
	if err := a.Clinics.PutSubscription(ctx, sub); err != nil {
		return nil, err
	}
	a.Log.InfoContext(ctx, "subscription created", "clinic", g.ClinicID, "subscription", sub.ID, "status", sub.Status)
	return a.subscriptionResource(sub), nil
}

func (a *App) subscriptionResource(sub dynamo.Subscription) map[string]any {
	return map[string]any{
		"resourceType": "Subscription", "id": sub.ID, "status": sub.Status, "criteria": SubscriptionTopic,
		"reason": "Task changes of the clinic's referrals",
		"channel": map[string]any{
			"type": "rest-hook", "endpoint": sub.Endpoint, "payload": "application/fhir+json",
			"_payload": map[string]any{"extension": []any{map[string]any{"url": backportContent, "valueCode": sub.Content}}},
		},
	}
}

// subscription finds one of the clinic's subscriptions. Errors: NotFound.
func (a *App) subscription(ctx context.Context, clinicID, id string) (dynamo.Subscription, error) {
	subs, err := a.Clinics.Subscriptions(ctx, clinicID)
	if err != nil {
		return dynamo.Subscription{}, err
	}
	for _, s := range subs {
		if s.ID == id {
			return s, nil
		}
	}
	return dynamo.Subscription{}, problem.Errorf(problem.NotFound, "no Subscription with this id")
}

// ReadSubscription is a subscription of the token's clinic.
func (a *App) ReadSubscription(ctx context.Context, g AccessGrant, id string) (map[string]any, error) {
	sub, err := a.subscription(ctx, g.ClinicID, id)
	if err != nil {
		return nil, err
	}
	return a.subscriptionResource(sub), nil
}

// SubscriptionStatus is $status: a Bundle holding the SubscriptionStatus.
func (a *App) SubscriptionStatus(ctx context.Context, g AccessGrant, id string) (map[string]any, error) {
	sub, err := a.subscription(ctx, g.ClinicID, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"resourceType": "Bundle", "type": "searchset",
		"entry": []any{map[string]any{"resource": a.statusParameters(sub, "query-status", sub.Events, ""), "search": map[string]any{"mode": "match"}}}}, nil
}

// statusParameters is the SubscriptionStatus, as Parameters (R4 backport).
func (a *App) statusParameters(sub dynamo.Subscription, typ string, n int64, taskID string) map[string]any {
	params := []any{
		map[string]any{"name": "subscription", "valueReference": map[string]any{"reference": a.Config.PublicURL + "/fhir/Subscription/" + sub.ID}},
		map[string]any{"name": "topic", "valueCanonical": SubscriptionTopic},
		map[string]any{"name": "status", "valueCode": sub.Status},
		map[string]any{"name": "type", "valueCode": typ},
		map[string]any{"name": "events-since-subscription-start", "valueString": strconv.FormatInt(n, 10)},
	}
	if taskID != "" {
		params = append(params, map[string]any{"name": "notification-event", "part": []any{
			map[string]any{"name": "event-number", "valueString": strconv.FormatInt(n, 10)},
			map[string]any{"name": "focus", "valueReference": map[string]any{"reference": a.Config.PublicURL + "/fhir/Task/" + taskID}},
		}})
	}
	return map[string]any{"resourceType": "Parameters", "meta": map[string]any{"profile": []string{backportStatus}}, "parameter": params}
}

// postNotification posts a notification Bundle (handshake or
// event-notification) and returns the endpoint's status.
func (a *App) postNotification(ctx context.Context, sub dynamo.Subscription, typ string, n int64, task map[string]any, taskID string) (int, error) {
	entries := []any{map[string]any{"fullUrl": "urn:uuid:" + strings.ToLower(newID(a.now())), "resource": a.statusParameters(sub, typ, n, taskID)}}
	if task != nil && sub.Content == "full-resource" {
		entries = append(entries, map[string]any{"fullUrl": a.Config.PublicURL + "/fhir/Task/" + taskID, "resource": task})
	}
	body, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "history", "timestamp": a.now().Format(time.RFC3339), "entry": entries})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for _, h := range sub.Headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("User-Agent", "handoff-subscription/1")
	resp, err := a.callbackClient().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// notifySubscriptions posts a FHIR-created referral's status change to each
// active subscription of its clinic, once each (the ledger), in order per
// referral, retrying like a status webhook.
func (a *App) notifySubscriptions(ctx context.Context, rec *dynamo.Record, ev referral.Event) error {
	r := rec.Referral
	if r.Source != "fhir" {
		return nil
	}
	subs, err := a.Clinics.Subscriptions(ctx, r.ClinicID)
	if err != nil || len(subs) == 0 {
		return err
	}
	for _, e := range rec.Events {
		if e.Type == referral.StatusChanged && e.ID < ev.ID && rec.Pending[e.ID] {
			return &errLater{at: a.now().Add(time.Second), why: "an earlier notification is pending"}
		}
	}
	task := fhirTaskOf(rec)
	for _, sub := range subs {
		if sub.Status != "active" {
			continue
		}
		key := ev.ID + "#sub#" + sub.ID
		if run, err := a.claim(ctx, key); !run {
			if err != nil {
				return err
			}
			continue
		}
		n, err := a.Clinics.NextSubscriptionEvent(ctx, r.ClinicID, sub.ID, ev.ID)
		if err != nil {
			_ = a.Referrals.Release(ctx, key)
			return err
		}
		st, err := a.postNotification(ctx, sub, "event-notification", n, task, r.ID)
		if err == nil && st/100 == 2 {
			if err := a.record(ctx, key, strconv.Itoa(st)); err != nil {
				return err
			}
			continue
		}
		_ = a.Referrals.Release(ctx, key)
		a.Metrics.Emit("WebhookFailures", 1, "Count")
		if a.now().Sub(ev.At) > callbackWindow {
			a.Log.WarnContext(ctx, "subscription notification abandoned after the retry window", "subscription", sub.ID, "event", ev.ID)
			if err := a.record(ctx, key, "abandoned"); err != nil {
				return err
			}
			continue
		}
		return &errLater{at: a.now().Add(backoff(ev.Attempt + 1)), why: "subscription endpoint refused"}
	}
	return nil
}
