package iamcheck

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/pinpointsmsvoicev2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// Request is one request AWS authorizes: an IAM action on one resource, with
// the values of the condition keys the request carries. One SDK call can be
// several (a TransactWriteItems is one per item).
type Request struct {
	Action   string              `json:"action"`   // e.g. dynamodb:ConditionCheckItem
	Resource string              `json:"resource"` // an ARN
	Context  map[string][]string `json:"context,omitempty"`
}

// arnMaker builds the ARNs of one call's resources.
type arnMaker struct {
	partition, region, account string
}

// arns is the ARN maker of the deployment's account and region.
func (d Deployment) arns() arnMaker {
	return arnMaker{partition: d.Partition, region: d.Region, account: d.Account}
}

func (a arnMaker) arn(service, rest string) string {
	return "arn:" + a.partition + ":" + service + ":" + a.region + ":" + a.account + ":" + rest
}

// keySchemas tells a table's (or an index's) partition key attribute, by
// table name and index name ("" for the table).
type keySchemas map[string]map[string]string

// requestsOf is the one table from SDK calls to IAM requests (checked
// against AWS's service authorization data by the check's tests):
//
//   - DynamoDB: each operation is its own action on the table, or on the
//     index an IndexName names (Query, Scan). A TransactWriteItems is, per
//     item, a PutItem, UpdateItem, DeleteItem or ConditionCheckItem on that
//     item's table (dynamodb:TransactWriteItems is not an IAM action); a
//     TransactGetItems a GetItem per item; BatchGetItem and BatchWriteItem
//     their own action on each table. Every item-level request carries
//     dynamodb:LeadingKeys: the partition key values it touches, each cut to
//     its prefix (see leadingKey).
//   - KMS: the key the KeyId names (a key ARN, an alias ARN, or an id).
//   - SES v2 SendEmail: the sending identity (the From address's domain)
//     and, when named, the configuration set; with ses:FromAddress.
//   - End User Messaging SMS SendTextMessage: the origination identity (an
//     ARN) and, when named, the configuration set.
//
// It returns the operation's name and its requests; an operation the table
// does not know gives one Request with an empty Action.
func requestsOf(a arnMaker, keys keySchemas, params any) (string, []Request) {
	table := func(name string) string { return a.arn("dynamodb", "table/"+name) }
	onTable := func(action, name, index string, item ...map[string]ddb.AttributeValue) Request {
		r := Request{Action: "dynamodb:" + action, Resource: table(name)}
		if index != "" {
			r.Resource += "/index/" + index
		}
		var lead []string
		for _, it := range item {
			if v := leadingKey(keys[name][index], it); v != "" && !slices.Contains(lead, v) {
				lead = append(lead, v)
			}
		}
		if len(lead) > 0 {
			slices.Sort(lead)
			r.Context = map[string][]string{"dynamodb:LeadingKeys": lead}
		}
		return r
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		return "DynamoDB.GetItem", []Request{onTable("GetItem", str(in.TableName), "", in.Key)}
	case *dynamodb.PutItemInput:
		return "DynamoDB.PutItem", []Request{onTable("PutItem", str(in.TableName), "", in.Item)}
	case *dynamodb.UpdateItemInput:
		return "DynamoDB.UpdateItem", []Request{onTable("UpdateItem", str(in.TableName), "", in.Key)}
	case *dynamodb.DeleteItemInput:
		return "DynamoDB.DeleteItem", []Request{onTable("DeleteItem", str(in.TableName), "", in.Key)}
	case *dynamodb.QueryInput:
		eq := equalities(str(in.KeyConditionExpression), in.ExpressionAttributeNames, in.ExpressionAttributeValues)
		return "DynamoDB.Query", []Request{onTable("Query", str(in.TableName), str(in.IndexName), eq)}
	case *dynamodb.ScanInput:
		return "DynamoDB.Scan", []Request{onTable("Scan", str(in.TableName), str(in.IndexName))}
	case *dynamodb.DescribeTableInput:
		return "DynamoDB.DescribeTable", []Request{onTable("DescribeTable", str(in.TableName), "")}
	case *dynamodb.BatchGetItemInput:
		var out []Request
		for _, name := range sortedKeys(in.RequestItems) {
			out = append(out, onTable("BatchGetItem", name, "", in.RequestItems[name].Keys...))
		}
		return "DynamoDB.BatchGetItem", out
	case *dynamodb.BatchWriteItemInput:
		var out []Request
		for _, name := range sortedKeys(in.RequestItems) {
			var items []map[string]ddb.AttributeValue
			for _, w := range in.RequestItems[name] {
				switch {
				case w.PutRequest != nil:
					items = append(items, w.PutRequest.Item)
				case w.DeleteRequest != nil:
					items = append(items, w.DeleteRequest.Key)
				}
			}
			out = append(out, onTable("BatchWriteItem", name, "", items...))
		}
		return "DynamoDB.BatchWriteItem", out
	case *dynamodb.TransactWriteItemsInput:
		var out []Request
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				out = append(out, onTable("PutItem", str(it.Put.TableName), "", it.Put.Item))
			case it.Update != nil:
				out = append(out, onTable("UpdateItem", str(it.Update.TableName), "", it.Update.Key))
			case it.Delete != nil:
				out = append(out, onTable("DeleteItem", str(it.Delete.TableName), "", it.Delete.Key))
			case it.ConditionCheck != nil:
				out = append(out, onTable("ConditionCheckItem", str(it.ConditionCheck.TableName), "", it.ConditionCheck.Key))
			}
		}
		return "DynamoDB.TransactWriteItems", out
	case *dynamodb.TransactGetItemsInput:
		var out []Request
		for _, it := range in.TransactItems {
			if it.Get != nil {
				out = append(out, onTable("GetItem", str(it.Get.TableName), "", it.Get.Key))
			}
		}
		return "DynamoDB.TransactGetItems", out
	case *kms.GenerateDataKeyInput:
		return "KMS.GenerateDataKey", []Request{{Action: "kms:GenerateDataKey", Resource: a.kmsKey(str(in.KeyId))}}
	case *kms.DecryptInput:
		return "KMS.Decrypt", []Request{{Action: "kms:Decrypt", Resource: a.kmsKey(str(in.KeyId))}}
	case *kms.EncryptInput:
		return "KMS.Encrypt", []Request{{Action: "kms:Encrypt", Resource: a.kmsKey(str(in.KeyId))}}
	case *kms.GenerateMacInput:
		return "KMS.GenerateMac", []Request{{Action: "kms:GenerateMac", Resource: a.kmsKey(str(in.KeyId))}}
	case *sesv2.SendEmailInput:
		from := str(in.FromEmailAddress)
		if addr, err := mail.ParseAddress(from); err == nil {
			from = addr.Address
		}
		identity := str(in.FromEmailAddressIdentityArn)
		if identity == "" {
			_, domain, _ := strings.Cut(from, "@")
			identity = a.arn("ses", "identity/"+domain)
		}
		ctx := map[string][]string{"ses:FromAddress": {from}}
		out := []Request{{Action: "ses:SendEmail", Resource: identity, Context: ctx}}
		if cs := str(in.ConfigurationSetName); cs != "" {
			out = append(out, Request{Action: "ses:SendEmail", Resource: a.arn("ses", "configuration-set/"+cs), Context: ctx})
		}
		return "SESv2.SendEmail", out
	case *pinpointsmsvoicev2.SendTextMessageInput:
		origin := str(in.OriginationIdentity)
		if !strings.HasPrefix(origin, "arn:") {
			// A number or an id: IAM authorizes the phone number or pool it
			// names, which only its ARN says (the template requires one).
			origin = "origination identity " + origin + " (not an ARN)"
		}
		out := []Request{{Action: "sms-voice:SendTextMessage", Resource: origin}}
		if cs := str(in.ConfigurationSetName); cs != "" {
			out = append(out, Request{Action: "sms-voice:SendTextMessage", Resource: a.arn("sms-voice", "configuration-set/"+cs)})
		}
		return "PinpointSMSVoiceV2.SendTextMessage", out
	}
	return fmt.Sprintf("%T", params), []Request{{}}
}

// kmsKey is the ARN of the key a KeyId names (an ARN, alias/…, or an id).
func (a arnMaker) kmsKey(id string) string {
	switch {
	case strings.HasPrefix(id, "arn:"):
		return id
	case strings.HasPrefix(id, "alias/"):
		return a.arn("kms", id)
	}
	return a.arn("kms", "key/"+id)
}

var keyEquality = regexp.MustCompile(`(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)`)

// equalities returns the attribute = :value pairs of a key condition as an
// item (a Query's partition key is always one of them).
func equalities(expr string, names map[string]string, values map[string]ddb.AttributeValue) map[string]ddb.AttributeValue {
	out := map[string]ddb.AttributeValue{}
	for _, m := range keyEquality.FindAllStringSubmatch(expr, -1) {
		name := m[1]
		if n, ok := names[name]; ok {
			name = n
		}
		if v, ok := values[m[2]]; ok {
			out[name] = v
		}
	}
	return out
}

// leadingKey returns the partition key value of an item (attribute attr),
// cut to what a policy's dynamodb:LeadingKeys condition can tell apart
// without naming a record: the text up to and including the first "#", and
// a lower-case word ending in "-" after it (so "REF#01J…" is "REF#…" and
// "REF#group-mission-a" is "REF#group-…"). Keys are ids and hashes, never
// personal data; cutting them keeps one record per kind of key.
func leadingKey(attr string, item map[string]ddb.AttributeValue) string {
	if attr == "" {
		return ""
	}
	v, ok := item[attr].(*ddb.AttributeValueMemberS)
	if !ok {
		return ""
	}
	s := v.Value
	i := strings.IndexByte(s, '#')
	if i < 0 {
		return "…"
	}
	head, rest := s[:i+1], s[i+1:]
	if j := strings.IndexByte(rest, '-'); j > 0 && strings.ToLower(rest[:j]) == rest[:j] && isWord(rest[:j]) {
		head += rest[:j+1]
	}
	return head + "…"
}

func isWord(s string) bool {
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return s != ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
