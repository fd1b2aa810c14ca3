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

// PutSubscription stores a subscription (its headers sealed).
func (s *Clinics) PutSubscription(ctx context.Context, sub Subscription) error {
	pk := clinicPrefix + sub.ClinicID
	it := subscriptionItem{Subscription: sub, Type: "subscription"}
	if len(sub.Headers) > 0 {
		b, err := json.Marshal(sub.Headers)
		if err != nil {
			return err
		}
		if it.Sealed, err = s.Sealer.Seal(ctx, b, aadFor(pk, subscriptionPrefix+sub.ID, "headers")); err != nil {
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
// same event asked again right after keeps its number).
func (s *Clinics) NextSubscriptionEvent(ctx context.Context, clinicID, subID, eventID string) (int64, error) {
	k := key(clinicPrefix+clinicID, subscriptionPrefix+subID)
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: k,
		UpdateExpression:    aws.String("ADD events :one SET last_event = :ev"),
		ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(last_event) OR last_event <> :ev)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1), ":ev": str(eventID),
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
