package fhir

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/problem"
)

// FHIR Subscriptions, R5 Backport for R4 (1.1.0): the Subscription a
// clinic's EHR sends, the Subscription handoff answers, and the
// SubscriptionStatus and notification Bundles it posts.

// SubscriptionTopic is the one topic handoff offers: its clinic's Tasks.
const SubscriptionTopic = "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task"

const (
	backportContent      = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content"
	backportStatus       = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"
	backportHeartbeat    = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period"
	backportFilter       = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria"
	backportNotification = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4"
	maxSubHeaders        = 5
)

// Heartbeat periods a subscription may ask for.
const (
	MinHeartbeat = time.Minute
	MaxHeartbeat = 30 * 24 * time.Hour
)

// Subscription is an R4 Subscription with the backport's elements.
type Subscription struct {
	ResourceType string              `json:"resourceType"`
	ID           string              `json:"id,omitempty"`
	Status       string              `json:"status"`
	Reason       string              `json:"reason,omitempty"`
	Criteria     string              `json:"criteria"`
	CriteriaX    *Element            `json:"_criteria,omitempty"`
	Channel      SubscriptionChannel `json:"channel"`
}

// SubscriptionChannel is a Subscription's channel.
type SubscriptionChannel struct {
	Type      string      `json:"type"`
	Endpoint  string      `json:"endpoint,omitempty"`
	Payload   string      `json:"payload,omitempty"`
	PayloadX  *Element    `json:"_payload,omitempty"`
	Header    []string    `json:"header,omitempty"`
	Extension []Extension `json:"extension,omitempty"`
}

// A SubscriptionRequest is what a client asks of a Subscription it sends:
// what handoff stores of it.
type SubscriptionRequest struct {
	ID        string // the id it names ("" in a create)
	Status    string // requested, active, off, …
	Endpoint  string
	Content   string // id-only or full-resource
	Headers   []string
	Heartbeat time.Duration // 0: none
}

func subscriptionInvalid(field, detail string) error {
	return problem.Invalidf([]problem.FieldError{{Field: field, Detail: detail}}, "The Subscription is not one handoff can take.")
}

// ReadSubscription reads and checks a Subscription a client sends: the
// Task topic, a rest-hook channel with application/fhir+json, id-only or
// full-resource content, at most five headers of one line each, a
// heartbeat of 60 s to 30 days, no filters. The endpoint's address is the
// caller's to check. Errors: Malformed, Invalid.
func ReadSubscription(body []byte) (SubscriptionRequest, error) {
	var in Subscription
	if err := json.Unmarshal(body, &in); err != nil {
		return SubscriptionRequest{}, problem.Errorf(problem.Malformed, "the Subscription cannot be read")
	}
	content := "id-only"
	if in.Channel.PayloadX != nil {
		for _, x := range in.Channel.PayloadX.Extension {
			if x.URL == backportContent {
				content = x.ValueCode
			}
		}
	}
	var heartbeat time.Duration
	for _, x := range in.Channel.Extension {
		if x.URL != backportHeartbeat {
			continue
		}
		if x.ValueUnsignedInt == nil || *x.ValueUnsignedInt < int64(MinHeartbeat/time.Second) || *x.ValueUnsignedInt > int64(MaxHeartbeat/time.Second) {
			return SubscriptionRequest{}, subscriptionInvalid("Subscription.channel.extension:heartbeatPeriod", "must be a valueUnsignedInt of 60 to 2592000 seconds")
		}
		heartbeat = time.Duration(*x.ValueUnsignedInt) * time.Second
	}
	filtered := in.CriteriaX != nil && slices.ContainsFunc(in.CriteriaX.Extension, func(x Extension) bool { return x.URL == backportFilter })
	switch {
	case in.ResourceType != "Subscription":
		return SubscriptionRequest{}, subscriptionInvalid("resourceType", "must be Subscription")
	case in.Criteria != SubscriptionTopic:
		return SubscriptionRequest{}, subscriptionInvalid("Subscription.criteria", "must be "+SubscriptionTopic)
	case filtered:
		return SubscriptionRequest{}, subscriptionInvalid("Subscription.criteria.extension:filterCriteria", "filters are not supported: a subscription is told of every change of the clinic's FHIR-created Tasks")
	case in.Channel.Type != "rest-hook":
		return SubscriptionRequest{}, subscriptionInvalid("Subscription.channel.type", "must be rest-hook")
	case in.Channel.Payload != "" && in.Channel.Payload != "application/fhir+json":
		return SubscriptionRequest{}, subscriptionInvalid("Subscription.channel.payload", "must be application/fhir+json")
	case content != "id-only" && content != "full-resource":
		return SubscriptionRequest{}, subscriptionInvalid("Subscription.channel.payload.content", "must be id-only or full-resource")
	case len(in.Channel.Header) > maxSubHeaders:
		return SubscriptionRequest{}, subscriptionInvalid("Subscription.channel.header", "at most 5 headers")
	}
	for _, h := range in.Channel.Header {
		name, value, ok := strings.Cut(h, ":")
		if !ok || len(h) > 1024 || strings.TrimSpace(name) == "" || strings.ContainsAny(h, "\r\n") || strings.TrimSpace(value) == "" {
			return SubscriptionRequest{}, subscriptionInvalid("Subscription.channel.header", "each must be Name: value, on one line")
		}
	}
	return SubscriptionRequest{ID: in.ID, Status: in.Status, Endpoint: in.Channel.Endpoint, Content: content,
		Headers: in.Channel.Header, Heartbeat: heartbeat}, nil
}

// SubscriptionOf is a subscription as handoff holds it: its endpoint and
// content, never its headers (they may carry the EHR's own credential).
func SubscriptionOf(id, status, endpoint, content string, heartbeat time.Duration) Subscription {
	s := Subscription{
		ResourceType: "Subscription", ID: id, Status: status, Criteria: SubscriptionTopic,
		Reason: "Task changes of the clinic's referrals",
		Channel: SubscriptionChannel{Type: "rest-hook", Endpoint: endpoint, Payload: "application/fhir+json",
			PayloadX: &Element{Extension: []Extension{{URL: backportContent, ValueCode: content}}}},
	}
	if heartbeat > 0 {
		secs := int64(heartbeat / time.Second)
		s.Channel.Extension = []Extension{{URL: backportHeartbeat, ValueUnsignedInt: &secs}}
	}
	return s
}

// Parameters is an R4 Parameters resource (the backport's
// SubscriptionStatus).
type Parameters struct {
	ResourceType string      `json:"resourceType"`
	Meta         *Meta       `json:"meta,omitempty"`
	Parameter    []Parameter `json:"parameter"`
}

// Parameter is one parameter, with the value types handoff writes.
type Parameter struct {
	Name           string      `json:"name"`
	ValueReference *Reference  `json:"valueReference,omitempty"`
	ValueCanonical string      `json:"valueCanonical,omitempty"`
	ValueCode      string      `json:"valueCode,omitempty"`
	ValueString    string      `json:"valueString,omitempty"`
	ValueInstant   string      `json:"valueInstant,omitempty"`
	Part           []Parameter `json:"part,omitempty"`
}

// A Notice is what a subscription is told: its state and, for an
// event-notification, the event.
type Notice struct {
	Base         string // the FHIR base URL (…/fhir)
	Subscription string // its id
	Status       string // the subscription's status
	Type         string // handshake, heartbeat, event-notification or query-status
	Events       int64  // events since the subscription started
	// The event notified (Number 0: none).
	Number int64
	At     time.Time
	TaskID string
	Task   *Task // the Task as it now is, for full-resource content
}

func (n Notice) subscriptionURL() string { return n.Base + "/Subscription/" + n.Subscription }

// status is the SubscriptionStatus, as Parameters (R4 backport).
func (n Notice) status() Parameters {
	p := Parameters{ResourceType: "Parameters", Meta: &Meta{Profile: []string{backportStatus}}, Parameter: []Parameter{
		{Name: "subscription", ValueReference: &Reference{Reference: n.subscriptionURL()}},
		{Name: "topic", ValueCanonical: SubscriptionTopic},
		{Name: "status", ValueCode: n.Status},
		{Name: "type", ValueCode: n.Type},
		{Name: "events-since-subscription-start", ValueString: strconv.FormatInt(n.Events, 10)},
	}}
	if n.Number > 0 {
		p.Parameter = append(p.Parameter, Parameter{Name: "notification-event", Part: []Parameter{
			{Name: "event-number", ValueString: strconv.FormatInt(n.Number, 10)},
			{Name: "timestamp", ValueInstant: n.At.UTC().Format(time.RFC3339Nano)},
			{Name: "focus", ValueReference: &Reference{Reference: n.Base + "/Task/" + n.TaskID}},
		}})
	}
	return p
}

// StatusBundle is $status's answer: a searchset Bundle holding the
// SubscriptionStatus.
func (n Notice) StatusBundle() Bundle {
	p := n.status()
	return Bundle{ResourceType: "Bundle", Type: "searchset", Entry: []BundleEntry{{Resource: &p, Search: &BundleSearch{Mode: "match"}}}}
}

// Notification is the Bundle posted to the subscription's endpoint: the
// backport's R4 notification, a history Bundle whose entries carry the
// request and response a history entry needs (the SubscriptionStatus as
// the answer to $status, and for full-resource content the Task as its
// last update). id is the status entry's urn:uuid, now the Bundle's time.
func (n Notice) Notification(id string, now time.Time, fullResource bool) Bundle {
	p := n.status()
	b := Bundle{ResourceType: "Bundle", Meta: &Meta{Profile: []string{backportNotification}}, Type: "history",
		Timestamp: now.UTC().Format(time.RFC3339), Entry: []BundleEntry{{
			FullURL: "urn:uuid:" + id, Resource: &p,
			Request:  &BundleRequest{Method: "GET", URL: n.subscriptionURL() + "/$status"},
			Response: &BundleResponse{Status: "200"},
		}}}
	if n.Task != nil && fullResource {
		b.Entry = append(b.Entry, BundleEntry{FullURL: n.Base + "/Task/" + n.TaskID, Resource: n.Task,
			Request: &BundleRequest{Method: "PUT", URL: "Task/" + n.TaskID}, Response: &BundleResponse{Status: "200"}})
	}
	return b
}
