package dynamo

import (
	"context"
	"encoding/json"
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
	Status   string    `json:"status"`  // active, error, off
	Created  time.Time `json:"created_at"`
	Events   int64     `json:"events"` // events since the subscription started
	// HeartbeatPeriod, when not zero, is how long the subscription may stay
	// quiet before handoff posts a heartbeat. Heartbeat events carry the
	// Chain they belong to: an update starts a new chain, and the events of
	// the old one end without posting.
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

// PutSubscription stores a new subscription (its headers sealed).
func (s *Clinics) PutSubscription(ctx context.Context, sub Subscription) error {
	pk := clinicPrefix + sub.ClinicID
	it := subscriptionItem{Subscription: sub, Type: "subscription"}
	if len(sub.Headers) > 0 {
		var err error
		if it.Sealed, err = s.sealHeaders(ctx, sub); err != nil {
			return fmt.Errorf("put subscription: %w", err)
		}
	}
	item, err := marshal(it, pk, subscriptionPrefix+sub.ID)
	if err != nil {
		return fmt.Errorf("put subscription: %w", err)
	}
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("put subscription: %w", err)
	}
	return nil
}

// UpdateSubscription changes what a client may change of an existing
// subscription: endpoint, content, headers, status, heartbeat period and
// chain, and when it was last sent to. Its event count stays. Errors:
// problem.NotFound.
func (s *Clinics) UpdateSubscription(ctx context.Context, sub Subscription) error {
	sealed, err := s.sealHeaders(ctx, sub)
	if err != nil {
		return fmt.Errorf("update subscription: %w", err)
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(clinicPrefix+sub.ClinicID, subscriptionPrefix+sub.ID),
		UpdateExpression: aws.String("SET endpoint = :e, content = :c, headers = :h, #s = :s, " +
			"heartbeat_period = :p, heartbeat_chain = :ch, last_sent_at = :l"),
		ConditionExpression:      aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":e": str(sub.Endpoint), ":c": str(sub.Content), ":h": &types.AttributeValueMemberB{Value: sealed},
			":s": str(sub.Status), ":p": num(int64(sub.HeartbeatPeriod)), ":ch": str(sub.Chain),
			":l": str(sub.LastSentAt.UTC().Format(time.RFC3339Nano)),
		},
	})
	if conditionFailed(err) {
		return notFound("subscription")
	}
	if err != nil {
		return fmt.Errorf("update subscription: %w", err)
	}
	return nil
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
// endpoint answered 410 Gone). A subscription that is gone is left so.
func (s *Clinics) SetSubscriptionStatus(ctx context.Context, clinicID, subID, status string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(clinicPrefix+clinicID, subscriptionPrefix+subID),
		UpdateExpression:          aws.String("SET #s = :s"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": str(status)},
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
