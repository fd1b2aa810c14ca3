package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
)

// clinicIndex holds a clinic's FHIR-created referrals by last update
// (TaskIndexKey) and all its referrals by creation (ListIndexKey).
const clinicIndex = "clinic-index"

// TaskIndexKey is a clinic's partition in clinic-index.
func TaskIndexKey(clinicID string) string { return "TASKS#" + clinicID }

// TaskPage is one page of a clinic's Task search: referral ids, oldest
// update first, and the cursor of the next page ("" for none).
type TaskPage struct {
	IDs  []string
	Next string
}

// SearchTasks lists the ids of a clinic's FHIR-created referrals last
// updated at or after from and, unless before is zero, before before: at
// most limit, from cursor (one Query). Errors: Invalid for a cursor this did
// not give.
func (s *Referrals) SearchTasks(ctx context.Context, clinicID string, from, before time.Time, limit int, cursor string) (TaskPage, error) {
	// A key is <updated_at>#<id>: at from it sorts after timeKey(from), at
	// before after timeKey(before), which BETWEEN thus leaves out.
	cond := "GSI2PK = :pk AND GSI2SK >= :from"
	values := map[string]types.AttributeValue{":pk": str(TaskIndexKey(clinicID)), ":from": str(timeKey(from))}
	if !before.IsZero() {
		cond = "GSI2PK = :pk AND GSI2SK BETWEEN :from AND :before"
		values[":before"] = str(timeKey(before))
	}
	in := &dynamodb.QueryInput{
		TableName: &s.Table, IndexName: aws.String(clinicIndex),
		KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
		Limit: aws.Int32(int32(limit)),
	}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		var k map[string]string
		if err != nil || json.Unmarshal(raw, &k) != nil || k["GSI2PK"] != TaskIndexKey(clinicID) {
			return TaskPage{}, problem.Invalidf([]problem.FieldError{{Field: "_cursor", Detail: "is not a cursor of this search"}}, "The search is not valid.")
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{}
		for _, name := range []string{"PK", "SK", "GSI2PK", "GSI2SK"} {
			in.ExclusiveStartKey[name] = str(k[name])
		}
	}
	out, err := s.DB.Query(ctx, in)
	if err != nil {
		return TaskPage{}, fmt.Errorf("search tasks: %w", err)
	}
	var page TaskPage
	seen := map[string]bool{}
	for _, item := range out.Items {
		sk, _ := item["GSI2SK"].(*types.AttributeValueMemberS)
		if sk == nil {
			continue
		}
		id := sk.Value[strings.LastIndexByte(sk.Value, '#')+1:]
		if !seen[id] {
			seen[id] = true
			page.IDs = append(page.IDs, id)
		}
	}
	if len(out.LastEvaluatedKey) > 0 {
		k := map[string]string{}
		for name, v := range out.LastEvaluatedKey {
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				k[name] = sv.Value
			}
		}
		raw, _ := json.Marshal(k)
		page.Next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return page, nil
}

// The identifier index: a partition per clinic and Task identifier
// (system|value, hashed) holding an item per Task that carries it (SK
// TASK#<referral id>) and a guard (SK GUARD) counting the creates that wrote
// to it. A conditional create writes the guard only if its count is still the
// one it read, so of two creates racing for one identifier one Task is made.
// The referral's own partition holds a pointer item (SK the identifier's
// partition key) so that ExpireReferral gives the index items the referral's
// TTL.
const (
	identPrefix = "TASKID#"
	identTask   = "TASK#"
	identGuard  = "GUARD"
)

// identKey is the identifier index partition of a clinic's identifier.
func identKey(clinicID, ident string) string {
	sum := sha256.Sum256([]byte(ident))
	return identPrefix + clinicID + "#" + hex.EncodeToString(sum[:])
}

// TaskIdentifiers are the identifier index writes of a FHIR-created referral.
type TaskIdentifiers struct {
	// All are the Task's identifiers, system|value ("|value" without a system).
	All []string
	// Condition is the identifier of an If-None-Exist ("" for none), one of
	// All; Seen is its guard's count as TaskMatches read it.
	Condition string
	Seen      int64
}

// ErrTaskMatched cancels a conditional create: a Task with its identifier was
// made since TaskMatches read the index. Read the matches again.
var ErrTaskMatched = errors.New("a Task with the identifier was created meanwhile")

// TaskMatches are the referrals of a clinic whose Task carries an identifier,
// and the identifier guard's count to condition a create on.
type TaskMatches struct {
	IDs  []string
	Seen int64
}

// MatchTasks reads the identifier index (one consistent Query).
func (s *Referrals) MatchTasks(ctx context.Context, clinicID, ident string) (TaskMatches, error) {
	in := &dynamodb.QueryInput{
		TableName: &s.Table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(identKey(clinicID, ident))},
	}
	var m TaskMatches
	for first := true; first || in.ExclusiveStartKey != nil; first = false {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return TaskMatches{}, fmt.Errorf("match tasks: %w", err)
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		for _, item := range out.Items {
			sk, _ := item["SK"].(*types.AttributeValueMemberS)
			switch {
			case sk == nil:
			case sk.Value == identGuard:
				// The count as stored, expired or not: the condition compares it.
				if n, ok := item["n"].(*types.AttributeValueMemberN); ok {
					m.Seen, _ = strconv.ParseInt(n.Value, 10, 64)
				}
			case strings.HasPrefix(sk.Value, identTask) && !s.expired(item):
				m.IDs = append(m.IDs, strings.TrimPrefix(sk.Value, identTask))
			}
		}
	}
	return m, nil
}

// identWrites are the writes that index a new referral's Task identifiers,
// and the position of the conditional guard among them (-1 for none).
func (s *Referrals) identWrites(clinicID, referralID string, ti TaskIdentifiers) ([]types.TransactWriteItem, int) {
	var items []types.TransactWriteItem
	guard := -1
	notExists := aws.String("attribute_not_exists(PK)")
	for _, ident := range ti.All {
		pk := identKey(clinicID, ident)
		items = append(items,
			types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, ConditionExpression: notExists, Item: map[string]types.AttributeValue{
				"PK": str(pk), "SK": str(identTask + referralID), "referral_id": str(referralID)}}},
			types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, ConditionExpression: notExists, Item: map[string]types.AttributeValue{
				"PK": str(refPrefix + referralID), "SK": str(pk)}}},
		)
		u := &types.Update{
			TableName: &s.Table, Key: key(pk, identGuard),
			UpdateExpression:          aws.String("ADD n :one REMOVE expires_at"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
		}
		if ident == ti.Condition {
			guard = len(items)
			if ti.Seen == 0 {
				u.ConditionExpression = aws.String("attribute_not_exists(n)")
			} else {
				u.ConditionExpression = aws.String("n = :seen")
				u.ExpressionAttributeValues[":seen"] = num(ti.Seen)
			}
		}
		items = append(items, types.TransactWriteItem{Update: u})
	}
	return items, guard
}

// identExpiry are the index items a referral's pointer item (SK the index
// partition) stands for, to expire with it.
func identExpiry(referralID, sk string) []map[string]types.AttributeValue {
	if !strings.HasPrefix(sk, identPrefix) {
		return nil
	}
	return []map[string]types.AttributeValue{key(sk, identTask+referralID), key(sk, identGuard)}
}
