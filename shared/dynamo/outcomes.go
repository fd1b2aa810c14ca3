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

// Tally is one counting of an effect: the counters to add to each scope of
// one day. Key names the counting in the ledger, so that a redelivered event
// never counts twice.
type Tally struct {
	Key    string
	Day    time.Time
	Scopes map[string]map[string]int64 // scope → counter → increment
}

// Count adds a tally's counters and records the counting in the ledger, in
// one transaction: a tally already counted changes nothing. It reports
// whether this call counted.
func (s *Referrals) Count(ctx context.Context, t Tally) (bool, error) {
	if len(t.Scopes) == 0 {
		return false, nil
	}
	day := outcomePrefix + t.Day.UTC().Format(OutcomeDayFormat)
	ledger := key(ledgerPrefix+t.Key, "LEDGER")
	ledger["state"] = str("done")
	ledger["expires_at"] = num(t.Day.Add(30 * 24 * time.Hour).Unix())
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.Table, Item: ledger, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}}
	for _, scope := range slices.Sorted(maps.Keys(t.Scopes)) {
		counters := t.Scopes[scope]
		if len(counters) == 0 {
			continue
		}
		var set []string
		names := map[string]string{}
		values := map[string]types.AttributeValue{}
		for i, c := range slices.Sorted(maps.Keys(counters)) {
			n, v := fmt.Sprintf("#c%d", i), fmt.Sprintf(":c%d", i)
			set = append(set, n+" "+v)
			names[n], values[v] = c, num(counters[c])
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &s.Table, Key: key(day, scope),
			UpdateExpression:          aws.String("ADD " + strings.Join(set, ", ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}})
	}
	for attempt := 0; ; attempt++ {
		_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		switch {
		case err == nil:
			return true, nil
		case cancelledBy(err, 0):
			return false, nil // counted before
		case transactionConflict(err) && attempt < 5:
			time.Sleep(time.Duration(10*(attempt+1)) * time.Millisecond)
			continue
		}
		return false, fmt.Errorf("count %s: %w", t.Key, err)
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
