package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// A group's listing checks are events like a referral's, kept in a partition
// of their own in ReferralsTable: REF#group-<group id> (a referral id is a
// ULID, upper-case, so the two never meet). The dispatcher delivers them
// through the same due-index and effect ledger. The partition's LISTING item
// names the pending periodic check, so a group has one schedule, however
// many checks an operator asks for (see docs/DATA.md).
const listingHeadSK = "LISTING"

// GroupPartition is the event partition of a group's listing checks.
func GroupPartition(groupID string) string { return "group-" + groupID }

// listingHead is the LISTING item of a group's partition.
type listingHead struct {
	Next string `json:"next"` // id of the pending periodic check event
}

// ListingHead returns the id of a group's pending periodic check, or "".
func (s *Referrals) ListingHead(ctx context.Context, partition string) (string, error) {
	var h listingHead
	err := s.get(ctx, refPrefix+partition, listingHeadSK, &h)
	if problem.Is(err, problem.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read listing schedule: %w", err)
	}
	return h.Next, nil
}

// GroupChange is one atomic step of a group's listing-check schedule: new
// events and tokens, the event it finishes, and, when Next is set, the new
// pending periodic check (the LISTING item then names Next.ID). With
// IfHead set the write happens only while the LISTING item still names
// IfHead, and fails with a problem.Conflict error otherwise.
type GroupChange struct {
	Partition string
	Events    []referral.Event
	Tokens    []Token
	Done      *referral.Event
	Next      *referral.Event
	IfHead    string
}

// ApplyGroup writes c in one transaction.
func (s *Referrals) ApplyGroup(ctx context.Context, c GroupChange) error {
	var items []types.TransactWriteItem
	events := c.Events
	if c.Next != nil {
		events = append(events, *c.Next)
		head, err := marshal(listingHead{Next: c.Next.ID}, refPrefix+c.Partition, listingHeadSK)
		if err != nil {
			return err
		}
		put := &types.Put{TableName: &s.Table, Item: head}
		if c.IfHead != "" {
			put.ConditionExpression = aws.String("#n = :h")
			put.ExpressionAttributeNames = map[string]string{"#n": "next"}
			put.ExpressionAttributeValues = map[string]types.AttributeValue{":h": str(c.IfHead)}
		}
		items = append(items, types.TransactWriteItem{Put: put})
	}
	for _, e := range events {
		p, err := s.eventPut(e, 0)
		if err != nil {
			return err
		}
		items = append(items, p)
	}
	for _, t := range c.Tokens {
		it, err := marshal(t, tokenPrefix+t.Hash, "TOK")
		if err != nil {
			return err
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: it}})
	}
	if c.Done != nil {
		p, err := s.finishPut(*c.Done, s.now())
		if err != nil {
			return err
		}
		items = append(items, types.TransactWriteItem{Put: p})
	}
	if len(items) == 0 {
		return nil
	}
	_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err != nil {
		if anyConditionFailed(err) || transactionConflict(err) {
			return problem.Errorf(problem.Conflict, "the group's listing checks changed meanwhile")
		}
		return fmt.Errorf("write listing check of %s: %w", c.Partition, err)
	}
	return nil
}

// EditGroup reads a group, lets change edit it (change reports whether there
// is anything to write) and writes it with its match index, as Pause and
// Penalize do. It returns a problem.NotFound error for an unknown group.
func (s *Directory) EditGroup(ctx context.Context, id string, change func(g *directory.Group) bool) error {
	err := s.update(ctx, id, false, func(g *directory.Group, _ bool) bool { return change(g) })
	if err != nil {
		return fmt.Errorf("edit group %s: %w", id, err)
	}
	return nil
}
