package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A SARIF answer as cfn-guard gives it: several results per rule and
// resource (one per clause), and a summary line naming no resource.
const sarif = `{"runs": [{"results": [
 {"ruleId": "SQS_DLQ_CHECK", "message": {"text": "Check was not compliant as property [RedrivePolicy] is missing. Value traversed to [Path=/Resources/DeadLetterQueue/Properties[L:1150,C:17] Value={}]."}},
 {"ruleId": "SQS_DLQ_CHECK", "message": {"text": "Check was not compliant as property [RedrivePolicy] is missing. Value traversed to [Path=/Resources/DeadLetterQueue/Properties[L:1150,C:17] Value={}] "}},
 {"ruleId": "LAMBDA_INSIDE_VPC_CHECK", "message": {"text": "Check was not compliant as property [VpcConfig] is missing. Value traversed to [Path=/Resources/IntakeFunction/Properties]."}},
 {"ruleId": "LAMBDA_INSIDE_VPC_CHECK", "message": {"text": "Check was not compliant as property [VpcConfig] is missing. Value traversed to [Path=/Resources/AdminFunction/Properties]."}},
 {"ruleId": "KMS_CREATE_GRANT_AWS_SERVICE_CHECK", "message": {"text": "Rule failed"}}
]}]}`

// TestFindingsAndWaivers: each rule and resource is one finding, named by
// its Control Tower control; a waiver covers the resources its patterns
// match; a finding no waiver covers, and a waiver that covers nothing, are
// reported.
func TestFindingsAndWaivers(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	_ = os.MkdirAll(filepath.Join(rules, "sqs"), 0o755)
	_ = os.MkdirAll(filepath.Join(rules, "lambda"), 0o755)
	_ = os.WriteFile(filepath.Join(rules, "sqs", "ct-sqs-pr-1.guard"), []byte("rule sqs_dlq_check when is_cfn_template(%INPUT_DOCUMENT) {\n}\n"), 0o644)
	_ = os.WriteFile(filepath.Join(rules, "lambda", "ct-lambda-pr-3.guard"), []byte("rule lambda_inside_vpc_check when is_cfn_template(%INPUT_DOCUMENT) {\n}\n"), 0o644)
	controls, err := controlsOf(rules)
	if err != nil {
		t.Fatal(err)
	}
	findings, err := parseSARIF([]byte(sarif), controls)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 3 {
		t.Fatalf("%d findings, want 3: %+v", len(findings), findings)
	}
	if findings[0].Control != "CT.LAMBDA.PR.3" || findings[2].Control != "CT.SQS.PR.1" || findings[2].Resource != "DeadLetterQueue" ||
		!strings.Contains(findings[2].Message, "RedrivePolicy") || strings.Contains(findings[2].Message, "Value traversed") {
		t.Errorf("findings %+v", findings)
	}
	waivers := filepath.Join(dir, "waivers.yaml")
	_ = os.WriteFile(waivers, []byte(`waivers:
  - rule: LAMBDA_INSIDE_VPC_CHECK
    resources: ["*Function"]
    reason: no VPC resources
  - rule: CLOUDWATCH_LOG_GROUP_ENCRYPTED_CHECK
    resources: ["*Logs"]
    reason: stale
`), 0o644)
	ws, err := readWaivers(waivers)
	if err != nil {
		t.Fatal(err)
	}
	unwaived, unused := apply(findings, ws)
	if len(unwaived) != 1 || unwaived[0].Rule != "SQS_DLQ_CHECK" {
		t.Errorf("unwaived %+v", unwaived)
	}
	if len(unused) != 1 || unused[0].Rule != "CLOUDWATCH_LOG_GROUP_ENCRYPTED_CHECK" {
		t.Errorf("unused %+v", unused)
	}
	_ = os.WriteFile(waivers, []byte("waivers:\n  - rule: X\n    resources: [Y]\n"), 0o644)
	if _, err := readWaivers(waivers); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Errorf("a waiver without a reason: %v", err)
	}
}
