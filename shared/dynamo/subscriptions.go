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
	Type    string `json:"type"`
	Sealed  []byte `json:"headers,omitempty"`
	LastEvt string `json:"last_event,omitempty"`
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

// ScheduleHeartbeat writes a subscription's next heartbeat event and, in the
// same transaction, finishes done (the heartbeat before it) when not nil.
func (s *Referrals) ScheduleHeartbeat(ctx context.Context, next referral.Event, done *referral.Event) error {
	return s.ApplyGroup(ctx, GroupChange{Partition: next.ReferralID, Events: []referral.Event{next}, Done: done})
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
		var it subscriptionItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		sub := it.Subscription
		if len(it.Sealed) > 0 {
			b, err := s.Sealer.Open(ctx, it.Sealed, aadFor(pk, subscriptionPrefix+sub.ID, "headers"))
			if err != nil {
				return nil, fmt.Errorf("open subscription headers: %w", err)
			}
			if err := json.Unmarshal(b, &sub.Headers); err != nil {
				return nil, err
			}
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

// NextSubscriptionEvent numbers an event for a subscription: the count of
// events since the subscription started, one more for each new event (the
// same event asked again right after keeps its number). It also records now
// as the subscription's last notification.
func (s *Clinics) NextSubscriptionEvent(ctx context.Context, clinicID, subID, eventID string, now time.Time) (int64, error) {
	k := key(clinicPrefix+clinicID, subscriptionPrefix+subID)
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: k,
		UpdateExpression:    aws.String("ADD events :one SET last_event = :ev, last_sent_at = :now"),
		ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(last_event) OR last_event <> :ev)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1), ":ev": str(eventID), ":now": str(now.UTC().Format(time.RFC3339Nano)),
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if conditionFailed(err) {
		got, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: k, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return 0, err
		}
		if n, ok := got.Item["events"].(*types.AttributeValueMemberN); ok {
			return strconv.ParseInt(n.Value, 10, 64)
		}
		return 0, notFound("subscription")
	}
	if err != nil {
		return 0, fmt.Errorf("number a subscription event: %w", err)
	}
	n, _ := out.Attributes["events"].(*types.AttributeValueMemberN)
	if n == nil {
		return 0, fmt.Errorf("number a subscription event: no count")
	}
	return strconv.ParseInt(n.Value, 10, 64)
}
