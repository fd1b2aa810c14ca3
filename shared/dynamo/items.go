package dynamo

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
)

// Key prefixes, per docs/DATA.md.
const (
	refPrefix    = "REF#"
	refSK        = "REF"
	routePrefix  = "ROUTE#"
	eventPrefix  = "EVT#"
	tokenPrefix  = "TOK#"
	idemPrefix   = "IDEM#"
	ledgerPrefix = "LEDGER#"
	duePrefix    = "DUE#"
	dueIndex     = "due-index"
)

// sortableTime is the fixed-width UTC form used in sort keys, so that string
// order is time order.
const sortableTime = "2006-01-02T15:04:05.000000000Z"

func timeKey(t time.Time) string { return t.UTC().Format(sortableTime) }

func refKey(id string) map[string]types.AttributeValue {
	return key(refPrefix+id, refSK)
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: pk},
		"SK": &types.AttributeValueMemberS{Value: sk},
	}
}

func routeSK(seq int) string { return fmt.Sprintf("%s%03d", routePrefix, seq) }

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// strList is a list of strings as a DynamoDB list.
func strList(ss []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(ss))
	for i, s := range ss {
		l[i] = str(s)
	}
	return &types.AttributeValueMemberL{Value: l}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// marshal turns v into an item and adds the keys.
func marshal(v any, pk, sk string) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(v, encoderOptions)
	if err != nil {
		return nil, err
	}
	dropEmpty(item)
	item["PK"] = str(pk)
	item["SK"] = str(sk)
	return item, nil
}

// dropEmpty removes empty maps and lists, which carry nothing and which the
// embedded server cannot read back.
func dropEmpty(m map[string]types.AttributeValue) {
	for k, v := range m {
		switch v := v.(type) {
		case *types.AttributeValueMemberM:
			dropEmpty(v.Value)
			if len(v.Value) == 0 {
				delete(m, k)
			}
		case *types.AttributeValueMemberL:
			if len(v.Value) == 0 {
				delete(m, k)
			}
		}
	}
}

// Items are encoded with the domain types' json tags, so one set of names
// serves the API, the events and the table.
func encoderOptions(o *attributevalue.EncoderOptions) {
	o.TagKey = "json"
	o.OmitNullAttributeValues = true
	o.OmitEmptyTime = true
}

func decoderOptions(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

func unmarshal(item map[string]types.AttributeValue, v any) error {
	return attributevalue.UnmarshalMapWithOptions(item, v, decoderOptions)
}

// aadFor is the additional authenticated data binding a sealed value to its item.
func aadFor(pk, sk, attr string) []byte { return []byte(pk + "|" + sk + "|" + attr) }

// conditionFailed reports whether err is a failed condition of a single write.
func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancelReasons returns the reasons of a cancelled transaction, or nil.
func cancelReasons(err error) []types.CancellationReason {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		return tce.CancellationReasons
	}
	return nil
}

// cancelledBy reports whether the transaction was cancelled by the condition of
// item i.
func cancelledBy(err error, i int) bool {
	r := cancelReasons(err)
	return i < len(r) && aws.ToString(r[i].Code) == "ConditionalCheckFailed"
}

// anyConditionFailed reports whether any item's condition cancelled the transaction.
func anyConditionFailed(err error) bool {
	for _, r := range cancelReasons(err) {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return true
		}
	}
	return false
}

// transactionConflict reports a transaction cancelled because another one was
// working on the same items: safe to retry.
func transactionConflict(err error) bool {
	for _, r := range cancelReasons(err) {
		if aws.ToString(r.Code) == "TransactionConflict" {
			return true
		}
	}
	var tc *types.TransactionConflictException
	return errors.As(err, &tc)
}

// notFound is the error for a missing item.
func notFound(what string) error { return problem.Errorf(problem.NotFound, "%s not found", what) }
