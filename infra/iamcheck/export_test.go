package iamcheck

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/pinpointsmsvoicev2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// TableSamples returns the requests the request table makes for one call
// of every operation it maps, and the Lambda service's calls for every
// function of t.
func TableSamples(t *Template) []Request {
	d := t.Deployment()
	a := d.arns()
	keys := NewRecorder(t).keys
	s := func(v string) *string { return aws.String(v) }
	item := map[string]ddb.AttributeValue{"PK": &ddb.AttributeValueMemberS{Value: "REF#01J"}, "SK": &ddb.AttributeValueMemberS{Value: "REF"}}
	table := s("ReferralsTable")
	inputs := []any{
		&dynamodb.GetItemInput{TableName: table, Key: item},
		&dynamodb.PutItemInput{TableName: table, Item: item},
		&dynamodb.UpdateItemInput{TableName: table, Key: item},
		&dynamodb.DeleteItemInput{TableName: table, Key: item},
		&dynamodb.QueryInput{TableName: table, KeyConditionExpression: s("PK = :p"), ExpressionAttributeValues: map[string]ddb.AttributeValue{":p": item["PK"]}},
		&dynamodb.QueryInput{TableName: table, IndexName: s("due-index"), KeyConditionExpression: s("#pk = :p AND GSI1SK <= :now"),
			ExpressionAttributeNames: map[string]string{"#pk": "GSI1PK"}, ExpressionAttributeValues: map[string]ddb.AttributeValue{":p": &ddb.AttributeValueMemberS{Value: "DUE#3"}}},
		&dynamodb.ScanInput{TableName: table},
		&dynamodb.DescribeTableInput{TableName: table},
		&dynamodb.BatchGetItemInput{RequestItems: map[string]ddb.KeysAndAttributes{"DirectoryTable": {Keys: []map[string]ddb.AttributeValue{item}}}},
		&dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddb.WriteRequest{"DirectoryTable": {{PutRequest: &ddb.PutRequest{Item: item}}, {DeleteRequest: &ddb.DeleteRequest{Key: item}}}}},
		&dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{
			{Put: &ddb.Put{TableName: table, Item: item}}, {Update: &ddb.Update{TableName: table, Key: item}},
			{Delete: &ddb.Delete{TableName: table, Key: item}}, {ConditionCheck: &ddb.ConditionCheck{TableName: table, Key: item}},
		}},
		&dynamodb.TransactGetItemsInput{TransactItems: []ddb.TransactGetItem{{Get: &ddb.Get{TableName: table, Key: item}}}},
		&kms.GenerateDataKeyInput{KeyId: s(SampleKeyID("DataKey"))},
		&kms.DecryptInput{KeyId: s("alias/handoff-data")},
		&kms.EncryptInput{KeyId: s("arn:aws:kms:us-east-1:111122223333:key/" + SampleKeyID("DataKey"))},
		&kms.GenerateMacInput{KeyId: s(SampleKeyID("LinkKey"))},
		&sesv2.SendEmailInput{FromEmailAddress: s("handoff <handoff@test.example>"), ConfigurationSetName: s("MailConfigurationSet")},
		&pinpointsmsvoicev2.SendTextMessageInput{OriginationIdentity: s(d.Parameters["TextingOrigin"]), ConfigurationSetName: s("TextConfigurationSet")},
	}
	_, aliases, _ := t.keyPolicies()
	var out []Request
	for _, in := range inputs {
		_, reqs := requestsOf(a, keys, in)
		for _, r := range reqs {
			if k, ok := aliases[r.Resource]; ok {
				r.Resource = k // as Check resolves it
			}
			out = append(out, r)
		}
	}
	fns, _ := t.Functions()
	for _, f := range fns {
		for _, c := range t.serviceCalls(f) {
			out = append(out, c.Request)
		}
	}
	return out
}
