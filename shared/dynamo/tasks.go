package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
)

// clinicIndex holds FHIR-created referrals by clinic and last update.
const clinicIndex = "clinic-index"

// TaskIndexKey is a clinic's partition in clinic-index.
func TaskIndexKey(clinicID string) string { return "TASKS#" + clinicID }

// TaskPage is one page of a clinic's Task search: referral ids, oldest
// update first, and the cursor of the next page ("" for none).
type TaskPage struct {
	IDs  []string
	Next string
}

// SearchTasks lists the ids of a clinic's FHIR-created referrals updated
// after since (at or after, with inclusive), at most limit, from cursor.
// Errors: Invalid for a cursor this did not give.
func (s *Referrals) SearchTasks(ctx context.Context, clinicID string, since time.Time, inclusive bool, limit int, cursor string) (TaskPage, error) {
	op := ">"
	if inclusive {
		op = ">="
	}
	in := &dynamodb.QueryInput{
		TableName: &s.Table, IndexName: aws.String(clinicIndex),
		KeyConditionExpression: aws.String("GSI2PK = :pk AND GSI2SK " + op + " :since"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(TaskIndexKey(clinicID)), ":since": str(timeKey(since)),
		},
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
