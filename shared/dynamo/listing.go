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
// IfHead, with IfNoHead only while there is no LISTING item; it fails with
// a problem.Conflict error otherwise.
type GroupChange struct {
	Partition string
	Events    []referral.Event
	Tokens    []Token
	Done      *referral.Event
	Next      *referral.Event
	IfHead    string
	IfNoHead  bool
}

// ApplyGroup writes c in one transaction.
func (s *Referrals) ApplyGroup(ctx context.Context, c GroupChange) error {
	items, err := s.groupItems(c)
	if err != nil || len(items) == 0 {
		return err
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err != nil {
		if anyConditionFailed(err) || transactionConflict(err) {
			return problem.Errorf(problem.Conflict, "the group's listing checks changed meanwhile")
		}
		return fmt.Errorf("write listing check of %s: %w", c.Partition, err)
	}
	return nil
}

// groupItems are the writes of c, the LISTING item first when Next is set.
func (s *Referrals) groupItems(c GroupChange) ([]types.TransactWriteItem, error) {
	var items []types.TransactWriteItem
	events := c.Events
	if c.Next != nil {
		events = append(events, *c.Next)
		head, err := marshal(listingHead{Next: c.Next.ID}, refPrefix+c.Partition, listingHeadSK)
		if err != nil {
			return nil, err
		}
		put := &types.Put{TableName: &s.Table, Item: head}
		switch {
		case c.IfHead != "":
			put.ConditionExpression = aws.String("#n = :h")
			put.ExpressionAttributeNames = map[string]string{"#n": "next"}
			put.ExpressionAttributeValues = map[string]types.AttributeValue{":h": str(c.IfHead)}
		case c.IfNoHead:
			put.ConditionExpression = aws.String("attribute_not_exists(PK)")
		}
		items = append(items, types.TransactWriteItem{Put: put})
	}
	for _, e := range events {
		p, err := s.eventPut(e, 0)
		if err != nil {
			return nil, err
		}
		items = append(items, p)
	}
	for _, t := range c.Tokens {
		it, err := marshal(t, tokenPrefix+t.Hash, "TOK")
		if err != nil {
			return nil, err
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: it}})
	}
	if c.Done != nil {
		p, err := s.finishPut(*c.Done, s.now())
		if err != nil {
			return nil, err
		}
		items = append(items, types.TransactWriteItem{Put: p})
	}
	return items, nil
}

// GroupSchedule gives a group without a listing-check schedule its first
// periodic check in the group's own write (see Directory.PutGroupScheduled):
// the group's read reads its LISTING item too, and a group that is new or
// has no LISTING item is written with First(its id) and the LISTING item
// naming it, in one transaction. A schedule the group has is kept.
type GroupSchedule struct {
	Referrals *Referrals
	First     func(groupID string) referral.Event
}

// headKey is the key of a group's LISTING item.
func (sc *GroupSchedule) headKey(groupID string) map[string]types.AttributeValue {
	return key(refPrefix+GroupPartition(groupID), listingHeadSK)
}

// items are the writes that start a group's schedule, conditional on the
// LISTING item as read (head "" when there was none): a new group replaces
// a LISTING item left by an earlier group of its id.
func (sc *GroupSchedule) items(groupID, head string) ([]types.TransactWriteItem, error) {
	first := sc.First(groupID)
	return sc.Referrals.groupItems(GroupChange{Partition: GroupPartition(groupID), Next: &first, IfHead: head, IfNoHead: head == ""})
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
