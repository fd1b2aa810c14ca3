package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
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
	backportContent      = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content"
	backportStatus       = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"
	backportHeartbeat    = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period"
	backportFilter       = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria"
	backportNotification = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4"
	maxSubHeaders        = 5
)

// extensionURL is an extension read for its url alone.
type extensionURL struct {
	URL string `json:"url"`
}

type subscriptionIn struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Status       string `json:"status"`
	Criteria     string `json:"criteria"`
	CriteriaX    struct {
		Extension []extensionURL `json:"extension"`
	} `json:"_criteria"`
	Channel struct {
		Type      string   `json:"type"`
		Endpoint  string   `json:"endpoint"`
		Payload   string   `json:"payload"`
		Header    []string `json:"header"`
		Extension []struct {
			URL              string `json:"url"`
			ValueUnsignedInt *int64 `json:"valueUnsignedInt"`
		} `json:"extension"`
		PayloadX struct {
			Extension []struct {
				URL       string `json:"url"`
				ValueCode string `json:"valueCode"`
			} `json:"extension"`
		} `json:"_payload"`
	} `json:"channel"`
}

// Heartbeat periods a subscription may ask for.
const (
	minHeartbeat = time.Minute
	maxHeartbeat = 30 * 24 * time.Hour
)

// parseSubscription reads and checks a Subscription a client sends: what it
// gives is in sub (without ids, status or times). Errors: Malformed, Invalid.
func (a *App) parseSubscription(body []byte) (subscriptionIn, dynamo.Subscription, error) {
	var in subscriptionIn
	if err := json.Unmarshal(body, &in); err != nil {
		return in, dynamo.Subscription{}, problem.Errorf(problem.Malformed, "the Subscription cannot be read")
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
	var heartbeat time.Duration
	for _, x := range in.Channel.Extension {
		if x.URL != backportHeartbeat {
			continue
		}
		if x.ValueUnsignedInt == nil || *x.ValueUnsignedInt < int64(minHeartbeat/time.Second) || *x.ValueUnsignedInt > int64(maxHeartbeat/time.Second) {
			return in, dynamo.Subscription{}, bad("Subscription.channel.extension:heartbeatPeriod", "must be a valueUnsignedInt of 60 to 2592000 seconds")
		}
		heartbeat = time.Duration(*x.ValueUnsignedInt) * time.Second
	}
	switch {
	case in.ResourceType != "Subscription":
		return in, dynamo.Subscription{}, bad("resourceType", "must be Subscription")
	case in.Criteria != SubscriptionTopic:
		return in, dynamo.Subscription{}, bad("Subscription.criteria", "must be "+SubscriptionTopic)
	case slices.Contains(in.CriteriaX.Extension, extensionURL{URL: backportFilter}):
		return in, dynamo.Subscription{}, bad("Subscription.criteria.extension:filterCriteria", "filters are not supported: a subscription is told of every change of the clinic's FHIR-created Tasks")
	case in.Channel.Type != "rest-hook":
		return in, dynamo.Subscription{}, bad("Subscription.channel.type", "must be rest-hook")
	case in.Channel.Payload != "" && in.Channel.Payload != "application/fhir+json":
		return in, dynamo.Subscription{}, bad("Subscription.channel.payload", "must be application/fhir+json")
	case content != "id-only" && content != "full-resource":
		return in, dynamo.Subscription{}, bad("Subscription.channel.payload.content", "must be id-only or full-resource")
	case len(in.Channel.Header) > maxSubHeaders:
		return in, dynamo.Subscription{}, bad("Subscription.channel.header", "at most 5 headers")
	}
	if err := a.CheckEndpoint(in.Channel.Endpoint); err != nil {
		return in, dynamo.Subscription{}, bad("Subscription.channel.endpoint", err.Error())
	}
	for _, h := range in.Channel.Header {
		name, value, ok := strings.Cut(h, ":")
		if !ok || len(h) > 1024 || strings.TrimSpace(name) == "" || strings.ContainsAny(h, "\r\n") || strings.TrimSpace(value) == "" {
			return in, dynamo.Subscription{}, bad("Subscription.channel.header", "each must be Name: value, on one line")
		}
	}
	return in, dynamo.Subscription{Endpoint: in.Channel.Endpoint, Content: content, Headers: in.Channel.Header, HeartbeatPeriod: heartbeat}, nil
}

// CreateSubscription registers a subscription of the token's clinic and
// shakes hands with its endpoint: active when it answers 2xx, error
// otherwise. With a heartbeat period its first heartbeat is scheduled
// before the subscription is stored (a heartbeat of a subscription that
// was never stored ends without posting). readsTasks says whether the
// client may read Tasks (full-resource notifications carry them). Errors:
// Malformed, Invalid, Forbidden.
func (a *App) CreateSubscription(ctx context.Context, clinicID string, readsTasks bool, body []byte) (map[string]any, error) {
	_, sub, err := a.parseSubscription(body)
	if err != nil {
		return nil, err
	}
	if err := fullResourceAllowed(readsTasks, sub); err != nil {
		return nil, err
	}
	sub.ID, sub.ClinicID, sub.Created = NewID(a.now()), clinicID, a.now()
	if err := a.shakeHands(ctx, &sub); err != nil {
		return nil, err
	}
	if err := a.Clinics.PutSubscription(ctx, sub); err != nil {
		return nil, err
	}
	a.Log.InfoContext(ctx, "subscription created", "clinic", clinicID, "subscription", sub.ID, "status", sub.Status)
	return a.subscriptionResource(sub), nil
}

// UpdateSubscription replaces what the client may change of one of its
// subscriptions (PUT): status off stops it, and any other status starts it
// again with a handshake, as a create does. Its events keep their count.
// Errors: Malformed, Invalid, NotFound.
func (a *App) UpdateSubscription(ctx context.Context, clinicID string, readsTasks bool, id string, body []byte) (map[string]any, error) {
	old, err := a.subscription(ctx, clinicID, id)
	if err != nil {
		return nil, err
	}
	in, sub, err := a.parseSubscription(body)
	if err != nil {
		return nil, err
	}
	if err := fullResourceAllowed(readsTasks, sub); err != nil {
		return nil, err
	}
	if in.ID != id {
		return nil, problem.Invalidf([]problem.FieldError{{Field: "Subscription.id", Detail: "must be the id in the URL"}}, "The Subscription is not the one addressed.")
	}
	sub.ID, sub.ClinicID, sub.Created, sub.Events, sub.LastSentAt = old.ID, old.ClinicID, old.Created, old.Events, old.LastSentAt
	switch in.Status {
	case "off":
		sub.Status = "off"
	case "requested", "active":
		if err := a.shakeHands(ctx, &sub); err != nil {
			return nil, err
		}
	default:
		return nil, problem.Invalidf([]problem.FieldError{{Field: "Subscription.status", Detail: "must be off, or requested to start it again"}}, "The Subscription is not one handoff can take.")
	}
	if err := a.Clinics.UpdateSubscription(ctx, sub); err != nil {
		return nil, err
	}
	a.Log.InfoContext(ctx, "subscription updated", "clinic", clinicID, "subscription", sub.ID, "status", sub.Status)
	return a.subscriptionResource(sub), nil
}

// fullResourceAllowed refuses full-resource notifications to a token that
// may not read Tasks: they carry the Task. Errors: Forbidden.
func fullResourceAllowed(readsTasks bool, sub dynamo.Subscription) error {
	if sub.Content != "full-resource" || readsTasks {
		return nil
	}
	return problem.Errorf(problem.Forbidden, "full-resource notifications carry the Task: the access token needs a scope that reads Tasks (system/Task.rs or system/Task.read or system/*.*)")
}

// shakeHands posts the handshake: the subscription is active when its
// endpoint answers 2xx, error otherwise. An active one with a heartbeat
// period gets a new heartbeat chain, its first heartbeat a period later.
func (a *App) shakeHands(ctx context.Context, sub *dynamo.Subscription) error {
	sub.Status, sub.Chain = "requested", "" // as the handshake says it is
	if st, err := a.postNotification(ctx, *sub, "handshake", sub.Events, nil); err == nil && st/100 == 2 {
		sub.Status, sub.LastSentAt = "active", a.now()
	} else {
		sub.Status = "error"
	}
	if sub.Status != "active" || sub.HeartbeatPeriod == 0 {
		return nil
	}
	sub.Chain = NewID(a.now())
	return a.Referrals.ScheduleHeartbeat(ctx, a.heartbeatEvent(*sub, a.now().Add(sub.HeartbeatPeriod)), nil)
}

// heartbeatEvent is a subscription's heartbeat due at due. It and its
// ledger entries expire a month after it is due.
func (a *App) heartbeatEvent(sub dynamo.Subscription, due time.Time) referral.Event {
	return referral.Event{ID: NewID(a.now()), Partition: dynamo.SubscriptionPartition(sub.ID), ClinicID: sub.ClinicID,
		Type: referral.Heartbeat, At: a.now(), Due: due, TTL: due.Add(30 * 24 * time.Hour).Unix(),
		Data: map[string]string{"subscription": sub.ID, "chain": sub.Chain}}
}

// onHeartbeat posts a heartbeat when the subscription has been quiet for its
// period, then schedules the next one a period after its last notification.
// A heartbeat of an older chain, or of a subscription turned off, in error
// or gone, ends there. A refused heartbeat is retried like a notification
// until the next one would be due.
func (a *App) onHeartbeat(ctx context.Context, ev referral.Event) error {
	sub, err := a.subscription(ctx, ev.ClinicID, ev.Data["subscription"])
	if problem.Is(err, problem.NotFound) {
		return a.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	if sub.Chain != ev.Data["chain"] || sub.Status != "active" || sub.HeartbeatPeriod == 0 {
		return a.Referrals.Finish(ctx, ev)
	}
	if quiet := a.now().Sub(sub.LastSentAt); quiet >= sub.HeartbeatPeriod {
		key := ev.ID + "#heartbeat"
		run, err := a.Claim(ctx, key)
		if err != nil {
			return err
		}
		if run {
			st, err := a.postNotification(ctx, sub, "heartbeat", sub.Events, nil)
			switch {
			case err == nil && st/100 == 2:
				if err := a.Record(ctx, key, strconv.Itoa(st)); err != nil {
					return err
				}
				sub.LastSentAt = a.now()
				if err := a.Clinics.SubscriptionSent(ctx, sub.ClinicID, sub.ID, sub.LastSentAt); err != nil {
					return err
				}
			case a.now().Sub(ev.Due) < min(sub.HeartbeatPeriod, callbackWindow):
				_ = a.Referrals.Release(ctx, key)
				a.Metrics.Emit("WebhookFailures", 1, "Count")
				return &errLater{at: a.now().Add(Backoff(ev.Attempt + 1)), why: "subscription endpoint refused a heartbeat"}
			default:
				a.Metrics.Emit("WebhookFailures", 1, "Count")
				a.Log.WarnContext(ctx, "heartbeat abandoned: the next one is due", "subscription", sub.ID, "event", ev.ID)
				if err := a.Record(ctx, key, "abandoned"); err != nil {
					return err
				}
				sub.LastSentAt = a.now()
			}
		} else {
			sub.LastSentAt = a.now() // posted by an earlier delivery of this event
		}
	}
	return a.Referrals.ScheduleHeartbeat(ctx, a.heartbeatEvent(sub, sub.LastSentAt.Add(sub.HeartbeatPeriod)), &ev)
}

func (a *App) subscriptionResource(sub dynamo.Subscription) map[string]any {
	channel := map[string]any{
		"type": "rest-hook", "endpoint": sub.Endpoint, "payload": "application/fhir+json",
		"_payload": map[string]any{"extension": []any{map[string]any{"url": backportContent, "valueCode": sub.Content}}},
	}
	if sub.HeartbeatPeriod > 0 {
		channel["extension"] = []any{map[string]any{"url": backportHeartbeat, "valueUnsignedInt": int64(sub.HeartbeatPeriod / time.Second)}}
	}
	return map[string]any{
		"resourceType": "Subscription", "id": sub.ID, "status": sub.Status, "criteria": SubscriptionTopic,
		"reason":  "Task changes of the clinic's referrals",
		"channel": channel,
	}
}

// subscription finds one of the clinic's subscriptions. Errors: NotFound.
func (a *App) subscription(ctx context.Context, clinicID, id string) (dynamo.Subscription, error) {
	notFound := problem.Errorf(problem.NotFound, "no Subscription with this id")
	if len(id) == 0 || len(id) > 64 || strings.Trim(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
		return dynamo.Subscription{}, notFound // not an id handoff gives
	}
	sub, err := a.Clinics.Subscription(ctx, clinicID, id)
	if problem.Is(err, problem.NotFound) {
		return sub, notFound
	}
	return sub, err
}

// ReadSubscription is a subscription of the token's clinic.
func (a *App) ReadSubscription(ctx context.Context, clinicID string, id string) (map[string]any, error) {
	sub, err := a.subscription(ctx, clinicID, id)
	if err != nil {
		return nil, err
	}
	return a.subscriptionResource(sub), nil
}

// SubscriptionStatus is $status: a Bundle holding the SubscriptionStatus.
func (a *App) SubscriptionStatus(ctx context.Context, clinicID string, id string) (map[string]any, error) {
	sub, err := a.subscription(ctx, clinicID, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"resourceType": "Bundle", "type": "searchset",
		"entry": []any{map[string]any{"resource": a.statusParameters(sub, "query-status", sub.Events, nil), "search": map[string]any{"mode": "match"}}}}, nil
}

// notified is the event a notification is about: its number for the
// subscription, its Task and when it happened.
type notified struct {
	number int64
	taskID string
	at     time.Time
	task   map[string]any // the Task as it now is, for full-resource
}

// statusParameters is the SubscriptionStatus, as Parameters (R4 backport):
// count is the events since the subscription started; ev, when not nil,
// the event it notifies.
func (a *App) statusParameters(sub dynamo.Subscription, typ string, count int64, ev *notified) map[string]any {
	params := []any{
		map[string]any{"name": "subscription", "valueReference": map[string]any{"reference": a.subscriptionURL(sub)}},
		map[string]any{"name": "topic", "valueCanonical": SubscriptionTopic},
		map[string]any{"name": "status", "valueCode": sub.Status},
		map[string]any{"name": "type", "valueCode": typ},
		map[string]any{"name": "events-since-subscription-start", "valueString": strconv.FormatInt(count, 10)},
	}
	if ev != nil {
		params = append(params, map[string]any{"name": "notification-event", "part": []any{
			map[string]any{"name": "event-number", "valueString": strconv.FormatInt(ev.number, 10)},
			map[string]any{"name": "timestamp", "valueInstant": ev.at.UTC().Format(time.RFC3339Nano)},
			map[string]any{"name": "focus", "valueReference": map[string]any{"reference": a.Config.PublicURL + "/fhir/Task/" + ev.taskID}},
		}})
	}
	return map[string]any{"resourceType": "Parameters", "meta": map[string]any{"profile": []string{backportStatus}}, "parameter": params}
}

func (a *App) subscriptionURL(sub dynamo.Subscription) string {
	return a.Config.PublicURL + "/fhir/Subscription/" + sub.ID
}

// postNotification posts a notification Bundle (handshake, heartbeat or
// event-notification) and returns the endpoint's status. The Bundle is the
// backport's R4 notification: a history Bundle whose entries carry the
// request and response a history entry needs (the SubscriptionStatus as the
// answer to $status, the Task as its last update).
func (a *App) postNotification(ctx context.Context, sub dynamo.Subscription, typ string, count int64, ev *notified) (int, error) {
	entries := []any{map[string]any{
		"fullUrl":  "urn:uuid:" + strings.ToLower(NewID(a.now())),
		"resource": a.statusParameters(sub, typ, count, ev),
		"request":  map[string]any{"method": "GET", "url": a.subscriptionURL(sub) + "/$status"},
		"response": map[string]any{"status": "200"},
	}}
	if ev != nil && ev.task != nil && sub.Content == "full-resource" {
		entries = append(entries, map[string]any{
			"fullUrl": a.Config.PublicURL + "/fhir/Task/" + ev.taskID, "resource": ev.task,
			"request":  map[string]any{"method": "PUT", "url": "Task/" + ev.taskID},
			"response": map[string]any{"status": "200"},
		})
	}
	body, err := json.Marshal(map[string]any{"resourceType": "Bundle", "meta": map[string]any{"profile": []string{backportNotification}},
		"type": "history", "timestamp": a.now().Format(time.RFC3339), "entry": entries})
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
		if run, err := a.Claim(ctx, key); !run {
			if err != nil {
				return err
			}
			continue
		}
		n, err := a.Clinics.SubscriptionEventNumber(ctx, r.ClinicID, sub.ID, ev.ID, a.now())
		if err != nil {
			_ = a.Referrals.Release(ctx, key)
			return err
		}
		st, err := a.postNotification(ctx, sub, "event-notification", max(n, sub.Events), &notified{number: n, taskID: r.ID, at: ev.At, task: task})
		if err == nil && st/100 == 2 {
			if err := a.Record(ctx, key, strconv.Itoa(st)); err != nil {
				return err
			}
			continue
		}
		_ = a.Referrals.Release(ctx, key)
		a.Metrics.Emit("WebhookFailures", 1, "Count")
		if a.now().Sub(ev.At) > callbackWindow {
			a.Log.WarnContext(ctx, "subscription notification abandoned after the retry window", "subscription", sub.ID, "event", ev.ID)
			if err := a.Record(ctx, key, "abandoned"); err != nil {
				return err
			}
			continue
		}
		return &errLater{at: a.now().Add(Backoff(ev.Attempt + 1)), why: "subscription endpoint refused"}
	}
	return nil
}
