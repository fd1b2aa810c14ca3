package iamcheck

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// Deployment is one deployment of the template: where it runs and the
// parameters it was given (parameters not named take their Default).
type Deployment struct {
	Partition, Region, Account, StackName string
	Parameters                            map[string]string
}

// Sample is the deployment the check resolves the template for, and the one
// the test harness (shared/apptest) configures handoff as: account
// 111122223333 in us-east-1, texting enabled, mail from handoff@test.example.
// Its resources are named by their logical ids (tables, queues,
// configuration sets); its KMS keys have fixed ids (SampleKeyID) that the
// harness's local-kms is seeded with.
var Sample = Deployment{
	Partition: "aws", Region: "us-east-1", Account: "111122223333", StackName: "handoff",
	Parameters: map[string]string{
		"PublicUrl":        "https://handoff.example.org",
		"MailFrom":         "handoff@test.example",
		"AdminTokenSha256": strings.Repeat("0", 64),
		"TextingOrigin":    "arn:aws:sms-voice:us-east-1:111122223333:phone-number/phone-0123456789abcdef0123456789abcdef",
		"AlarmEmail":       "",
	},
}

// SampleKeyID is the id the sample deployment's KMS key with logical id
// logicalID has: a UUID derived from the name, so the harness and the check
// agree without a list.
func SampleKeyID(logicalID string) string {
	h := sha256.Sum256([]byte("handoff sample key " + logicalID))
	h[6] = h[6]&0x0f | 0x40 // a version 4 UUID's form
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// streamLabel is the label of every table stream of the sample deployment.
const streamLabel = "2026-01-01T00:00:00.000"

// named are the resource types whose Ref is their name (the property
// prop, or the logical id when the template gives none) and whose Arn is
// service's ARN of prefix+name+suffix (in the deployment's region, but for
// a global service's).
var named = map[string]struct {
	prop, service, prefix, suffix string
	global                        bool
}{
	"AWS::DynamoDB::Table":            {prop: "TableName", service: "dynamodb", prefix: "table/"},
	"AWS::Logs::LogGroup":             {prop: "LogGroupName", service: "logs", prefix: "log-group:", suffix: ":*"},
	"AWS::SMSVOICE::ConfigurationSet": {prop: "ConfigurationSetName", service: "sms-voice", prefix: "configuration-set/"},
	"AWS::IAM::Role":                  {prop: "RoleName", service: "iam", prefix: "role/", global: true},
	"AWS::Serverless::Function":       {prop: "FunctionName", service: "lambda", prefix: "function:"},
	"AWS::CloudWatch::Alarm":          {prop: "AlarmName", service: "cloudwatch", prefix: "alarm:"},
}

// physical resolves a resource's Ref (attr "Ref") or attribute to the name
// or ARN the deployment gives it. It returns an error for an attribute it
// does not know.
func (t *Template) physical(id, attr string) (any, error) {
	d := t.deployment
	typ := t.TypeOf(id)
	name := func(prop string) (string, error) {
		if v := t.Property(id, prop); v != nil {
			return t.ResolveString(v)
		}
		return id, nil
	}
	arn := func(service, region, rest string) string {
		a := d.arns()
		a.region = region
		return a.arn(service, rest)
	}
	if r, ok := named[typ]; ok {
		n, err := name(r.prop)
		if err != nil {
			return nil, err
		}
		region := d.Region
		if r.global {
			region = ""
		}
		resource := arn(r.service, region, r.prefix+n+r.suffix)
		switch {
		case attr == "Ref":
			return n, nil
		case attr == "Arn":
			return resource, nil
		case attr == "StreamArn" && typ == "AWS::DynamoDB::Table":
			return resource + "/stream/" + streamLabel, nil
		}
	}
	switch typ {
	case "AWS::KMS::Key":
		kid := SampleKeyID(id)
		switch attr {
		case "Ref", "KeyId":
			return kid, nil
		case "Arn":
			return arn("kms", d.Region, "key/"+kid), nil
		}
	case "AWS::KMS::Alias":
		if attr == "Ref" {
			return t.ResolveString(t.Property(id, "AliasName"))
		}
	case "AWS::SQS::Queue":
		n, err := name("QueueName")
		if err != nil {
			return nil, err
		}
		switch attr {
		case "Ref", "QueueUrl":
			return "https://sqs." + d.Region + ".amazonaws.com/" + d.Account + "/" + n, nil
		case "Arn":
			return arn("sqs", d.Region, n), nil
		case "QueueName":
			return n, nil
		}
	case "AWS::SNS::Topic":
		n, err := name("TopicName")
		if err != nil {
			return nil, err
		}
		switch attr {
		case "Ref", "TopicArn":
			return arn("sns", d.Region, n), nil
		case "TopicName":
			return n, nil
		}
	case "AWS::SES::ConfigurationSet":
		if attr == "Ref" {
			return name("Name")
		}
	case "AWS::Serverless::HttpApi":
		if attr == "Ref" {
			return "a1b2c3d4e5", nil
		}
	}
	if attr == "Ref" {
		return id, nil
	}
	return nil, fmt.Errorf("GetAtt %s.%s: attribute of %s not resolved here", id, attr, typ)
}
