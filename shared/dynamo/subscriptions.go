package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Subscription is a clinic's FHIR Subscription (R5 Backport for R4): where
// handoff posts a notification when one of the clinic's Tasks changes.
type Subscription struct {
	ID       string    `json:"id"`
	ClinicID string    `json:"clinic_id"`
	Endpoint string    `json:"endpoint"`
	Content  string    `json:"content"` // id-only or full-resource
	Status   string    `json:"status"`  // requested, active, error, off
	Created  time.Time `json:"created_at"`
	Events   int64     `json:"events"` // events since the subscription started
	// HeartbeatPeriod, when not zero, is how long the subscription may stay
	// quiet before handoff posts a heartbeat. Its handshake and heartbeat
	// events carry the Chain they belong to: each start (a create, or an
	// update that asks for it) begins a new chain, turning it off ends it,
	// and the events of an old chain end without posting.
	HeartbeatPeriod time.Duration `json:"heartbeat_period,omitempty"`
	Chain           string        `json:"heartbeat_chain,omitempty"`
	// LastSentAt is when the last notification (any type) was posted.
	LastSentAt time.Time `json:"last_sent_at"`
	// Headers go with every notification (an EHR's own credential, say):
	// sealed at rest.
	Headers []string `json:"-"`
}

type subscriptionItem struct {
	Subscription
	Type   string `json:"type"`
	Sealed []byte `json:"headers,omitempty"`
}

const subscriptionPrefix = "SUB#"

// SubscriptionPartition is the event partition, in ReferralsTable, of a
// subscription's heartbeats (beside a group's listing checks: see
// GroupPartition).
func SubscriptionPartition(subID string) string { return "sub-" + subID }

// sealHeaders seals a subscription's headers (an empty list too).
func (s *Clinics) sealHeaders(ctx context.Context, sub Subscription) ([]byte, error) {
	b, err := json.Marshal(sub.Headers)
	if err != nil {
		return nil, err
	}
	return s.Sealer.Seal(ctx, b, aadFor(clinicPrefix+sub.ClinicID, subscriptionPrefix+sub.ID, "headers"))
}

// Refusals of WriteSubscription.
var (
	// ErrTooManySubscriptions: the clinic has as many subscriptions as it may.
	ErrTooManySubscriptions = errors.New("dynamo: the clinic has as many subscriptions as it may have")
	// ErrEndpointTaken: another of the clinic's subscriptions posts to the endpoint.
	ErrEndpointTaken = errors.New("dynamo: another subscription of the clinic posts to this endpoint")
	// ErrEndpointBusy: the endpoint had as many handshakes as it may in the window.
	ErrEndpointBusy = errors.New("dynamo: the endpoint had as many handshakes as it may for now")
)

// SubscriptionLimits bound a clinic's subscriptions: how many it may have,
// and how many handshakes one endpoint of it may get per Window.
type SubscriptionLimits struct {
	PerClinic  int
	Handshakes int
	Window     time.Duration
}

// A SubscriptionWrite is a subscription as its client creates or changes
// it, with its handshake.
type SubscriptionWrite struct {
	Sub Subscription
	// Old is the stored subscription a change replaces (nil: a create).
	Old *Subscription
	// Handshake is the event that shakes hands with the endpoint (nil:
	// none, as for a subscription turned off).
	Handshake *referral.Event
	Limits    SubscriptionLimits
	At        time.Time // now: the handshake window's time
}

// The items that bound a clinic's subscriptions, beside them: the
// endpoints they post to (one subscription each), their count, and the
// handshakes per endpoint and window.
const (
	subEndpointPrefix = "SUBEP#"   // + sha256(endpoint): {subscription}
	subCountSK        = "SUBCOUNT" // {n}: subscriptions made
	subRatePrefix     = "SUBRATE#" // + sha256(endpoint) + "#" + window start: {n}, expires
)

func endpointHash(endpoint string) string {
	sum := sha256.Sum256([]byte(endpoint))
	return hex.EncodeToString(sum[:])
}

// WriteSubscription writes a subscription a client created or changed, in
// one transaction across both tables: the subscription (its headers
// sealed), its claim on its endpoint (a create or a new endpoint), the
// clinic's count (a create), the endpoint's handshakes in the window and
// the handshake event (when it shakes hands). A change keeps the events'
// count. Errors: ErrTooManySubscriptions, ErrEndpointTaken,
// ErrEndpointBusy, problem.NotFound (a changed one that is gone),
// problem.Conflict (written by another meanwhile).
func (s *Clinics) WriteSubscription(ctx context.Context, events *Referrals, w SubscriptionWrite) error {
	sub := w.Sub
	pk := clinicPrefix + sub.ClinicID
	notExists := aws.String("attribute_not_exists(PK)")
	var items []types.TransactWriteItem
	if w.Old == nil {
		it := subscriptionItem{Subscription: sub, Type: "subscription"}
		if len(sub.Headers) > 0 {
			var err error
			if it.Sealed, err = s.sealHeaders(ctx, sub); err != nil {
				return fmt.Errorf("write subscription: %w", err)
			}
		}
		item, err := marshal(it, pk, subscriptionPrefix+sub.ID)
		if err != nil {
			return fmt.Errorf("write subscription: %w", err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: item, ConditionExpression: notExists}})
	} else {
		sealed, err := s.sealHeaders(ctx, sub)
		if err != nil {
			return fmt.Errorf("write subscription: %w", err)
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &s.Table, Key: key(pk, subscriptionPrefix+sub.ID),
			UpdateExpression: aws.String("SET endpoint = :e, content = :c, headers = :h, #s = :s, " +
				"heartbeat_period = :p, heartbeat_chain = :ch, last_sent_at = :l"),
			ConditionExpression:      aws.String("attribute_exists(PK)"),
			ExpressionAttributeNames: map[string]string{"#s": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":e": str(sub.Endpoint), ":c": str(sub.Content), ":h": &types.AttributeValueMemberB{Value: sealed},
				":s": str(sub.Status), ":p": num(int64(sub.HeartbeatPeriod)), ":ch": str(sub.Chain),
				":l": str(sub.LastSentAt.UTC().Format(time.RFC3339Nano)),
			},
		}})
	}
	claim, count, rate := -1, -1, -1
	if w.Old == nil || w.Old.Endpoint != sub.Endpoint {
		if w.Old != nil {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{
				TableName: &s.Table, Key: key(pk, subEndpointPrefix+endpointHash(w.Old.Endpoint)),
				ConditionExpression:       aws.String("attribute_not_exists(PK) OR subscription = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(sub.ID)},
			}})
		}
		item := key(pk, subEndpointPrefix+endpointHash(sub.Endpoint))
		item["subscription"] = str(sub.ID)
		claim = len(items)
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: item, ConditionExpression: notExists}})
	}
	if w.Old == nil {
		count = len(items)
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &s.Table, Key: key(pk, subCountSK),
			UpdateExpression:          aws.String("ADD n :one"),
			ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :cap"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":cap": num(int64(w.Limits.PerClinic))},
		}})
	}
	if w.Handshake != nil {
		window := w.At.UTC().Truncate(w.Limits.Window)
		rate = len(items)
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &s.Table, Key: key(pk, subRatePrefix+endpointHash(sub.Endpoint)+"#"+strconv.FormatInt(window.Unix(), 10)),
			UpdateExpression:    aws.String("ADD n :one SET expires_at = :exp"),
			ConditionExpression: aws.String("attribute_not_exists(n) OR n < :max"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1), ":max": num(int64(w.Limits.Handshakes)), ":exp": num(window.Add(w.Limits.Window + 24*time.Hour).Unix()),
			},
		}})
		p, err := events.eventPut(*w.Handshake, 0)
		if err != nil {
			return fmt.Errorf("write subscription: %w", err)
		}
		items = append(items, p)
	}
	_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err == nil:
		return nil
	case cancelledBy(err, 0) && w.Old != nil:
		return notFound("subscription")
	case claim >= 0 && cancelledBy(err, claim):
		return ErrEndpointTaken
	case count >= 0 && cancelledBy(err, count):
		return ErrTooManySubscriptions
	case rate >= 0 && cancelledBy(err, rate):
		return ErrEndpointBusy
	case anyConditionFailed(err) || transactionConflict(err):
		return problem.Errorf(problem.Conflict, "the subscription was changed meanwhile: try again")
	}
	return fmt.Errorf("write subscription %s: %w", sub.ID, err)
}

// SubscriptionShook records a handshake's outcome, if the subscription is
// still the one it was for (still requested, on the handshake's chain):
// active with its last post at sent (and its first heartbeat, when it has
// a period), or error. The handshake event finishes in the same write. It
// reports whether the subscription was still that one (when not, nothing
// is written).
func (s *Clinics) SubscriptionShook(ctx context.Context, events *Referrals, sub Subscription, heartbeat *referral.Event, done referral.Event) (bool, error) {
	fin, err := events.finishPut(done, events.now())
	if err != nil {
		return false, err
	}
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName: &s.Table, Key: key(clinicPrefix+sub.ClinicID, subscriptionPrefix+sub.ID),
		UpdateExpression:         aws.String("SET #s = :s, last_sent_at = :l"),
		ConditionExpression:      aws.String("attribute_exists(PK) AND heartbeat_chain = :ch AND #s = :requested"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": str(sub.Status), ":l": str(sub.LastSentAt.UTC().Format(time.RFC3339Nano)),
			":ch": str(sub.Chain), ":requested": str("requested"),
		},
	}}, {Put: fin}}
	if heartbeat != nil {
		p, err := events.eventPut(*heartbeat, 0)
		if err != nil {
			return false, err
		}
		items = append(items, p)
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if cancelledBy(err, 0) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record the handshake of subscription %s: %w", sub.ID, err)
	}
	return true, nil
}

// SubscriptionSent records that a notification (a heartbeat) was posted at.
func (s *Clinics) SubscriptionSent(ctx context.Context, clinicID, subID string, at time.Time) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(clinicPrefix+clinicID, subscriptionPrefix+subID),
		UpdateExpression:          aws.String("SET last_sent_at = :l"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":l": str(at.UTC().Format(time.RFC3339Nano))},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("record a subscription's notification: %w", err)
	}
	return nil
}

// SetSubscriptionStatus sets a subscription's status (error when its
// endpoint answered 410 Gone), if it is still on the given chain (its
// client did not change it meanwhile). A subscription that is gone or
// changed is left so.
func (s *Clinics) SetSubscriptionStatus(ctx context.Context, clinicID, subID, chain, status string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(clinicPrefix+clinicID, subscriptionPrefix+subID),
		UpdateExpression:          aws.String("SET #s = :s"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND heartbeat_chain = :ch"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": str(status), ":ch": str(chain)},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("set the status of subscription %s: %w", subID, err)
	}
	return nil
}

// ScheduleHeartbeat writes a subscription's next heartbeat event and, in the
// same transaction, finishes done (the heartbeat before it) when not nil.
func (s *Referrals) ScheduleHeartbeat(ctx context.Context, next referral.Event, done *referral.Event) error {
	return s.ApplyGroup(ctx, GroupChange{Partition: next.Partition, Events: []referral.Event{next}, Done: done})
}

// Subscriptions returns a clinic's subscriptions, headers opened.
func (s *Clinics) Subscriptions(ctx context.Context, clinicID string) ([]Subscription, error) {
	pk := clinicPrefix + clinicID
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.Table, KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sub)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":sub": str(subscriptionPrefix)},
	})
	if err != nil {
		return nil, fmt.Errorf("subscriptions of %s: %w", clinicID, err)
	}
	var subs []Subscription
	for _, item := range out.Items {
		sub, err := s.openSubscription(ctx, item)
		if err != nil {
			return nil, err
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

// Subscription returns one of a clinic's subscriptions, headers opened: one
// read of its item. Errors: problem.NotFound.
func (s *Clinics) Subscription(ctx context.Context, clinicID, id string) (Subscription, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.Table, Key: key(clinicPrefix+clinicID, subscriptionPrefix+id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("subscription %s: %w", id, err)
	}
	if out.Item == nil {
		return Subscription{}, notFound("subscription")
	}
	return s.openSubscription(ctx, out.Item)
}

// openSubscription decodes a subscription item and opens its headers.
func (s *Clinics) openSubscription(ctx context.Context, item map[string]types.AttributeValue) (Subscription, error) {
	var it subscriptionItem
	if err := unmarshal(item, &it); err != nil {
		return Subscription{}, err
	}
	sub := it.Subscription
	if len(it.Sealed) > 0 {
		b, err := s.Sealer.Open(ctx, it.Sealed, aadFor(clinicPrefix+sub.ClinicID, subscriptionPrefix+sub.ID, "headers"))
		if err != nil {
			return Subscription{}, fmt.Errorf("open subscription headers: %w", err)
		}
		if err := json.Unmarshal(b, &sub.Headers); err != nil {
			return Subscription{}, err
		}
	}
	return sub, nil
}

// subEventPrefix keys the number a subscription gave an event, beside the
// subscription: SUBEVT#<subscription id>#<event id> (not under SUB#, so
// listing a clinic's subscriptions never reads them).
const subEventPrefix = "SUBEVT#"

// SubscriptionEventNumber gives an event its number for a subscription,
// once: the first call counts it (one more than the events so far) and keeps
// the number beside the subscription, both in one transaction, so a retry,
// however late and whatever was numbered meanwhile, posts the same number,
// and the numbers have no gaps. The first call also records now as the
// subscription's last notification. Errors: problem.NotFound for a
// subscription that is gone.
func (s *Clinics) SubscriptionEventNumber(ctx context.Context, clinicID, subID, eventID string, now time.Time) (int64, error) {
	pk := clinicPrefix + clinicID
	numberKey, subKey := key(pk, subEventPrefix+subID+"#"+eventID), key(pk, subscriptionPrefix+subID)
	for range 5 {
		got, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: numberKey, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return 0, fmt.Errorf("read a subscription event's number: %w", err)
		}
		if n, ok := got.Item["number"].(*types.AttributeValueMemberN); ok {
			return strconv.ParseInt(n.Value, 10, 64)
		}
		sub, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: subKey, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return 0, fmt.Errorf("read a subscription's count: %w", err)
		}
		if sub.Item == nil {
			return 0, notFound("subscription")
		}
		var old int64
		if n, ok := sub.Item["events"].(*types.AttributeValueMemberN); ok {
			if old, err = strconv.ParseInt(n.Value, 10, 64); err != nil {
				return 0, err
			}
		}
		cond := "attribute_exists(PK) AND events = :old"
		if old == 0 {
			cond = "attribute_exists(PK) AND (attribute_not_exists(events) OR events = :old)"
		}
		item := key(pk, subEventPrefix+subID+"#"+eventID)
		item["number"], item["expires_at"] = num(old+1), num(now.Add(30*24*time.Hour).Unix())
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: &s.Table, Key: subKey,
				UpdateExpression:    aws.String("SET events = :n, last_sent_at = :now"),
				ConditionExpression: aws.String(cond),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":n": num(old + 1), ":old": num(old), ":now": str(now.UTC().Format(time.RFC3339Nano)),
				},
			}},
			{Put: &types.Put{TableName: &s.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		}})
		if err == nil {
			return old + 1, nil
		}
		if !anyConditionFailed(err) && !transactionConflict(err) {
			return 0, fmt.Errorf("number a subscription event: %w", err)
		}
		// Another event was numbered meanwhile, or this one was: read again.
	}
	return 0, problem.Errorf(problem.Unavailable, "the subscription's events are being numbered by others: try again")
}
