package dynamo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The funnel's counters live in ReferralsTable, one item per day and scope:
// PK OUT#<yyyy-mm-dd> (UTC), SK the scope — C#<clinic>, C#<clinic>#T#<topic>,
// C#<clinic>#G#<group> — each attribute a number (see docs/DATA.md). They hold counts only, no referral's data. A
// report reads one day's items with one Query, so its cost grows with the
// days asked for, never with the referrals counted.
const outcomePrefix = "OUT#"

// OutcomeDayFormat is how a day is written in an outcome key.
const OutcomeDayFormat = "2006-01-02"

// Counts are additions to the outcome counters of one day: for each scope,
// counter → increment. They are written in the transaction of the change
// they count (Change.Counts, NewReferral.Counts, CompleteCounting), which
// happens once, so they need no ledger entry of their own.
type Counts struct {
	Day    time.Time
	Scopes map[string]map[string]int64 // scope → counter → increment
}

// NewCounts returns empty counts of the day of at.
func NewCounts(at time.Time) *Counts {
	return &Counts{Day: at, Scopes: map[string]map[string]int64{}}
}

// Add adds n to a counter of a scope.
func (c *Counts) Add(scope, counter string, n int64) {
	if c.Scopes == nil {
		c.Scopes = map[string]map[string]int64{}
	}
	if c.Scopes[scope] == nil {
		c.Scopes[scope] = map[string]int64{}
	}
	c.Scopes[scope][counter] += n
}

// Merge adds every counter of o (its day is c's).
func (c *Counts) Merge(o *Counts) {
	if o == nil {
		return
	}
	for scope, counters := range o.Scopes {
		for counter, n := range counters {
			c.Add(scope, counter, n)
		}
	}
}

// Empty reports whether there is nothing to add.
func (c *Counts) Empty() bool {
	if c == nil {
		return true
	}
	for _, counters := range c.Scopes {
		if len(counters) > 0 {
			return false
		}
	}
	return true
}

// updates are the writes that add c: one ADD to each scope's item of the
// day, in the scopes' order.
func (s *Referrals) countUpdates(c *Counts) []types.TransactWriteItem {
	if c.Empty() {
		return nil
	}
	day := outcomePrefix + c.Day.UTC().Format(OutcomeDayFormat)
	var items []types.TransactWriteItem
	for _, scope := range slices.Sorted(maps.Keys(c.Scopes)) {
		counters := c.Scopes[scope]
		if len(counters) == 0 {
			continue
		}
		var set []string
		names := map[string]string{}
		values := map[string]types.AttributeValue{}
		for i, k := range slices.Sorted(maps.Keys(counters)) {
			n, v := fmt.Sprintf("#c%d", i), fmt.Sprintf(":c%d", i)
			set = append(set, n+" "+v)
			names[n], values[v] = k, num(counters[k])
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &s.Table, Key: key(day, scope),
			UpdateExpression:          aws.String("ADD " + strings.Join(set, ", ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}})
	}
	return items
}

// Count adds counts and records the counting in the ledger under ledgerKey,
// in one transaction: counts already counted under that key change nothing. It
// reports whether this call counted. It is how events written before
// counts rode in their change's transaction are still counted once.
func (s *Referrals) Count(ctx context.Context, ledgerKey string, c Counts) (bool, error) {
	updates := s.countUpdates(&c)
	if len(updates) == 0 {
		return false, nil
	}
	ledger := key(ledgerPrefix+ledgerKey, "LEDGER")
	ledger["state"] = str("done")
	ledger["expires_at"] = num(c.Day.Add(30 * 24 * time.Hour).Unix())
	items := append([]types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.Table, Item: ledger, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}}, updates...)
	err := s.transact(ctx, items)
	switch {
	case err == nil:
		return true, nil
	case cancelledBy(err, 0):
		return false, nil // counted before
	}
	return false, fmt.Errorf("count %s: %w", ledgerKey, err)
}

// transact writes items in one transaction, trying again a few times, after
// a short wait, when another transaction held one of them (the day's
// counter items are shared by every referral of a clinic).
func (s *Referrals) transact(ctx context.Context, items []types.TransactWriteItem) error {
	for attempt := 0; ; attempt++ {
		_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil || !transactionConflict(err) || attempt == 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(10*(attempt+1)) * time.Millisecond):
		}
	}
}

// OutcomeItem is one day's counters of one scope.
type OutcomeItem struct {
	Day      string
	Scope    string
	Counters map[string]int64
}

// Outcomes reads the counters of the days from..to (UTC, inclusive) whose
// scope starts with prefix ("" for every scope): one Query per day (more
// only when a day's items pass 1 MB).
func (s *Referrals) Outcomes(ctx context.Context, from, to time.Time, prefix string) ([]OutcomeItem, error) {
	var out []OutcomeItem
	for d := from.UTC(); !d.After(to.UTC()); d = d.AddDate(0, 0, 1) {
		day := d.Format(OutcomeDayFormat)
		in := &dynamodb.QueryInput{
			TableName:                 &s.Table,
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(outcomePrefix + day)},
		}
		if prefix != "" {
			in.KeyConditionExpression = aws.String("PK = :pk AND begins_with(SK, :p)")
			in.ExpressionAttributeValues[":p"] = str(prefix)
		}
		// A plain loop rather than the SDK's paginator, which would put the
		// client behind an interface and keep every one of its operations
		// in the binary of each function that reads outcomes (intake).
		for first := true; first || in.ExclusiveStartKey != nil; first = false {
			page, err := s.DB.Query(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("read outcomes of %s: %w", day, err)
			}
			in.ExclusiveStartKey = page.LastEvaluatedKey
			for _, item := range page.Items {
				it := OutcomeItem{Day: day, Counters: map[string]int64{}}
				for name, v := range item {
					switch name {
					case "PK":
					case "SK":
						if sv, ok := v.(*types.AttributeValueMemberS); ok {
							it.Scope = sv.Value
						}
					default:
						if nv, ok := v.(*types.AttributeValueMemberN); ok {
							n, err := strconv.ParseInt(nv.Value, 10, 64)
							if err == nil {
								it.Counters[name] = n
							}
						}
					}
				}
				out = append(out, it)
			}
		}
	}
	return out, nil
}
