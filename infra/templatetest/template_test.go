package templatetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/handoff-health/handoff/infra/cfnyaml"
	"github.com/handoff-health/handoff/infra/tables"
)

// route is one HTTP route of the outside contract and the function serving it.
type route struct{ method, path, function string }

// contractRoutes are the routes of the outside contract (CONTRACT.md of the
// design docs), kept here as data: the template must route each to its
// function, and must route nothing else.
var contractRoutes = []route{
	{"POST", "/v1/clinics/{clinic_id}/referrals", "IntakeFunction"},
	{"GET", "/v1/clinics/{clinic_id}/referrals/{id}", "IntakeFunction"},
	{"DELETE", "/v1/clinics/{clinic_id}/referrals/{id}", "IntakeFunction"},
	{"GET", "/v1/clinics/{clinic_id}/outcomes", "IntakeFunction"},
	{"POST", "/oauth/token", "EhrFunction"},
	{"GET", "/.well-known/smart-configuration", "EhrFunction"},
	{"GET", "/fhir/metadata", "EhrFunction"},
	{"POST", "/fhir", "EhrFunction"},
	{"POST", "/fhir/Task", "EhrFunction"},
	{"GET", "/fhir/Task", "EhrFunction"},
	{"GET", "/fhir/Task/{id}", "EhrFunction"},
	{"PUT", "/fhir/Task/{id}", "EhrFunction"},
	{"GET", "/launch", "EhrFunction"},
	{"GET", "/launch/callback", "EhrFunction"},
	{"GET", "/cds-services", "EhrFunction"},
	{"POST", "/cds-services/handoff-peer-support", "EhrFunction"},
	{"POST", "/fhir/Subscription", "EhrFunction"},
	{"GET", "/fhir/Subscription/{id}", "EhrFunction"},
	{"PUT", "/fhir/Subscription/{id}", "EhrFunction"},
	{"POST", "/fhir/Subscription/{id}/{op}", "EhrFunction"},
	{"ANY", "/fhir/{proxy+}", "EhrFunction"},
	{"GET", "/fhir/Subscription/{id}/{op}", "EhrFunction"},
	{"GET", "/c/{token}", "ConsentFunction"},
	{"POST", "/c/{token}", "ConsentFunction"},
	{"GET", "/c/{token}/meeting.ics", "ConsentFunction"},
	{"GET", "/assets/{proxy+}", "ConsentFunction"},
	{"GET", "/g/{token}", "RespondFunction"},
	{"POST", "/g/{token}", "RespondFunction"},
	{"GET", "/l/{token}", "RespondFunction"},
	{"POST", "/l/{token}", "RespondFunction"},
	{"POST", "/v1/admin/groups/{id}/check", "AdminFunction"},
	{"POST", "/v1/admin/clinics", "AdminFunction"},
	{"DELETE", "/v1/admin/clinics/{id}", "AdminFunction"},
	{"PUT", "/v1/admin/groups/{id}", "AdminFunction"},
	{"GET", "/v1/admin/groups/{id}", "AdminFunction"},
	{"POST", "/v1/admin/groups/import", "AdminFunction"},
	{"POST", "/v1/admin/imports", "AdminFunction"},
	{"GET", "/v1/admin/imports/{id}", "AdminFunction"},
	{"PUT", "/v1/admin/imports/{id}/parts/{n}", "AdminFunction"},
	{"GET", "/v1/admin/match", "AdminFunction"},
	{"GET", "/v1/admin/outcomes", "AdminFunction"},
	{"PUT", "/v1/admin/clinics/{id}/fhir-client", "AdminFunction"},
	{"PUT", "/v1/admin/clinics/{id}/smart-app", "AdminFunction"},
	{"GET", "/admin", "AdminFunction"},
	{"POST", "/admin/login", "AdminFunction"},
	{"POST", "/admin/logout", "AdminFunction"},
	{"GET", "/healthz", "AdminFunction"},
	{"GET", "/clinic", "ClinicFunction"},
	{"POST", "/clinic/signin-link", "ClinicFunction"},
	{"POST", "/clinic/passkey/options", "ClinicFunction"},
	{"POST", "/clinic/passkey", "ClinicFunction"},
	{"POST", "/clinic/logout", "ClinicFunction"},
	{"GET", "/clinic/new", "ClinicFunction"},
	{"POST", "/clinic/referrals", "ClinicFunction"},
	{"GET", "/clinic/referrals/{id}", "ClinicFunction"},
	{"POST", "/clinic/referrals/{id}/qr", "ClinicFunction"},
	{"POST", "/clinic/referrals/{id}/send", "ClinicFunction"},
	{"GET", "/s/{token}", "ClinicFunction"},
	{"POST", "/s/{token}", "ClinicFunction"},
	{"POST", "/s/{token}/passkey/options", "ClinicFunction"},
	{"POST", "/s/{token}/passkey", "ClinicFunction"},
	{"GET", "/q/{token}", "ClinicFunction"},
	{"POST", "/v1/admin/clinics/{id}/staff", "AdminFunction"},
	{"DELETE", "/v1/admin/clinics/{id}/staff/{staff_id}", "AdminFunction"},
	{"POST", "/admin/staff", "AdminFunction"},
}

// check is one named property of the template; it returns what is wrong.
type check struct {
	name string
	fn   func(stack) []string
}

var checks = []check{
	{"transform and function globals", checkGlobals},
	{"functions have sources and build targets", checkBuildWiring},
	{"one least-privilege role per function", checkRoles},
	{"functions log to their own log group", checkFunctionLogs},
	{"tables keep and protect their data", checkTables},
	{"table schemas follow docs/DATA.md", checkTableSchemas},
	{"contract routes reach their functions", checkRoutes},
	{"stream consumer and async functions have failure destinations", checkFailureDestinations},
	{"dispatch reads pending events and sweeps every minute", checkDispatchSources},
	{"http api throttles and logs route keys only", checkHTTPAPI},
	{"mail bounces and complaints reach sesevents", checkMailEvents},
	{"environment and parameters", checkEnvironment},
	{"outputs", checkOutputs},
}

func TestTemplate(t *testing.T) {
	s := loadStack(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, problem := range c.fn(s) {
				t.Error(problem)
			}
		})
	}
}

// TestChecksCatchBrokenTemplates breaks a copy of the template in memory and
// asserts that the check guarding that property reports it.
func TestChecksCatchBrokenTemplates(t *testing.T) {
	s := loadStack(t)
	cases := []struct {
		name   string
		check  func(stack) []string
		mutate func(stack)
		want   string
	}{
		{
			name:  "an alarm that notifies nobody",
			check: checkAlarm(alarmSpecs[2]),
			mutate: func(s stack) {
				delete(s.props("DeadLetterAlarm"), "AlarmActions")
			},
			want: "DeadLetterAlarm: does not notify AlarmTopic",
		},
		{
			name:  "an alarm on another function",
			check: checkAlarm(alarmSpecs[0]),
			mutate: func(s stack) {
				s.props("DispatchErrorsAlarm")["Dimensions"] = []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": "IntakeFunction"}}}
			},
			want: "DispatchErrorsAlarm: does not watch",
		},
		{
			name:  "table without point-in-time recovery",
			check: checkTables,
			mutate: func(s stack) {
				delete(s.props("DirectoryTable"), "PointInTimeRecoverySpecification")
			},
			want: "DirectoryTable: point-in-time recovery",
		},
		{
			name:  "table that CloudFormation may delete",
			check: checkTables,
			mutate: func(s stack) {
				delete(s.resource("ReferralsTable"), "DeletionPolicy")
			},
			want: "ReferralsTable: DeletionPolicy",
		},
		{
			name:  "referrals table with an AWS-owned key",
			check: checkTables,
			mutate: func(s stack) {
				delete(asMap(s.props("ReferralsTable")["SSESpecification"]), "KMSMasterKeyId")
			},
			want: "customer-managed",
		},
		{
			name:  "dynamodb wildcard action",
			check: checkRoles,
			mutate: func(s stack) {
				st := s.statements("IntakeRole")[1].raw
				st["Action"] = []any{"dynamodb:*"}
			},
			want: `grants "dynamodb:*"`,
		},
		{
			name:  "kms action on every key",
			check: checkRoles,
			mutate: func(s stack) {
				for _, st := range s.statements("AdminRole") {
					if st.sid == "Seal" {
						st.raw["Resource"] = "*"
					}
				}
			},
			want: "not scoped",
		},
		{
			name:  "account-wide table ARN",
			check: checkRoles,
			mutate: func(s stack) {
				st := s.statements("ConsentRole")[1].raw
				st["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"}
			},
			want: "not scoped",
		},
		{
			name:  "managed policy on a role",
			check: checkRoles,
			mutate: func(s stack) {
				s.props("DispatchRole")["ManagedPolicyArns"] = []any{"arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"}
			},
			want: "managed policies",
		},
		{
			name:  "access log with the raw path",
			check: checkHTTPAPI,
			mutate: func(s stack) {
				settings := asMap(s.props("HttpApi")["AccessLogSettings"])
				settings["Format"] = cfnyaml.String(settings["Format"]) + ` "path":"$context.path"`
			},
			want: "$context.path",
		},
		{
			name:  "http api without throttling",
			check: checkHTTPAPI,
			mutate: func(s stack) {
				delete(s.props("HttpApi"), "DefaultRouteSettings")
			},
			want: "throttling",
		},
		{
			name:  "contract route missing",
			check: checkRoutes,
			mutate: func(s stack) {
				delete(asMap(s.props("AdminFunction")["Events"]), "Health")
			},
			want: "GET /healthz",
		},
		{
			name:  "stream without on-failure destination",
			check: checkFailureDestinations,
			mutate: func(s stack) {
				delete(s.events("DispatchFunction")["PendingEvents"]["Properties"].(map[string]any), "DestinationConfig")
			},
			want: "DispatchFunction/PendingEvents: no DestinationConfig.OnFailure",
		},
		{
			name:  "async function without on-failure destination",
			check: checkFailureDestinations,
			mutate: func(s stack) {
				delete(s.props("SesEventsFunction"), "EventInvokeConfig")
			},
			want: "SesEventsFunction: invoked asynchronously",
		},
		{
			name:  "function without build target",
			check: checkBuildWiring,
			mutate: func(s stack) {
				res := s.resource("AdminFunction")
				delete(asMap(s["Resources"]), "AdminFunction")
				asMap(s["Resources"])["AuditFunction"] = res
			},
			want: "AuditFunction: no build-AuditFunction target",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.check(s); len(got) != 0 {
				t.Fatalf("the intact template already fails this check: %q", got)
			}
			broken := s.clone()
			tc.mutate(broken)
			problems := tc.check(broken)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("check did not report %q; it reported %q", tc.want, problems)
			}
		})
	}
}

func checkGlobals(s stack) []string {
	var out []string
	if got := cfnyaml.String(s["Transform"]); got != "AWS::Serverless-2016-10-31" {
		out = append(out, fmt.Sprintf("Transform %q, want AWS::Serverless-2016-10-31", got))
	}
	for _, fn := range s.functions() {
		want := map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": "."}
		for prop, w := range want {
			if got := s.property(fn, prop); got != w {
				out = append(out, fmt.Sprintf("%s: %s %v, want %v", fn, prop, got, w))
			}
		}
		if archs := s.property(fn, "Architectures"); !slices.Equal(cfnyaml.List(archs), []any{"arm64"}) {
			out = append(out, fmt.Sprintf("%s: Architectures %v, want [arm64]", fn, archs))
		}
		if mem, _ := asInt(s.property(fn, "MemorySize")); mem < 128 {
			out = append(out, fmt.Sprintf("%s: MemorySize %v", fn, s.property(fn, "MemorySize")))
		}
		timeout, ok := asInt(s.property(fn, "Timeout"))
		limit := 30 // an HTTP API integration gives up after 30 s
		if len(httpRoutes(s, fn)) == 0 {
			limit = 900
		}
		if !ok || timeout < 1 || timeout > limit {
			out = append(out, fmt.Sprintf("%s: Timeout %v, want 1..%d s", fn, s.property(fn, "Timeout"), limit))
		}
	}
	if t, _ := asInt(s.property("DispatchFunction", "Timeout")); t != 60 {
		out = append(out, fmt.Sprintf("DispatchFunction: Timeout %d, want 60", t))
	}
	return out
}

// functionDir returns the source folder of a function: IntakeFunction ->
// functions/intake.
func functionDir(id string) string {
	return filepath.Join("functions", strings.ToLower(strings.TrimSuffix(id, "Function")))
}

var buildRecipe = regexp.MustCompile(`^CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda\.norpc -trimpath -ldflags='-s -w -buildid=' -o \$\(ARTIFACTS_DIR\)/bootstrap \./(\S+)$`)

func checkBuildWiring(s stack) []string {
	var out []string
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return []string{"read Makefile: " + err.Error()}
	}
	recipes := makeRecipes(string(makefile))
	for _, fn := range s.functions() {
		if got := cfnyaml.String(dig(s.resource(fn), "Metadata", "BuildMethod")); got != "makefile" {
			out = append(out, fmt.Sprintf("%s: Metadata.BuildMethod %q, want makefile", fn, got))
		}
		dir := functionDir(fn)
		recipe, ok := recipes["build-"+fn]
		if !ok {
			out = append(out, fmt.Sprintf("%s: no build-%s target in the Makefile", fn, fn))
		} else if len(recipe) != 1 || buildRecipe.FindStringSubmatch(recipe[0]) == nil ||
			buildRecipe.FindStringSubmatch(recipe[0])[1] != filepath.ToSlash(dir) {
			out = append(out, fmt.Sprintf("%s: build-%s recipe %q is not the standard arm64 build of ./%s", fn, fn, recipe, filepath.ToSlash(dir)))
		}
		sources, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if len(sources) == 0 {
			out = append(out, fmt.Sprintf("%s: no Go sources in %s", fn, dir))
		}
	}
	return out
}

// makeRecipes returns the recipe lines of each rule of a Makefile, by target.
func makeRecipes(makefile string) map[string][]string {
	out := map[string][]string{}
	var current []string
	for line := range strings.Lines(makefile) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "\t") {
			for _, tgt := range current {
				out[tgt] = append(out[tgt], strings.TrimSpace(line))
			}
			continue
		}
		current = nil
		head, _, isRule := strings.Cut(line, ":")
		if !isRule || strings.Contains(head, "=") || strings.HasPrefix(line, "#") || strings.HasPrefix(strings.TrimSpace(line[len(head)+1:]), "=") {
			continue
		}
		for tgt := range strings.FieldsSeq(head) {
			if _, seen := out[tgt]; !seen {
				out[tgt] = nil
			}
			current = append(current, tgt)
		}
	}
	return out
}

// sensitive are the services whose actions must name their resources.
var sensitive = []string{"dynamodb", "ses", "kms", "secretsmanager", "sqs"}

func checkRoles(s stack) []string {
	var out []string
	owner := map[string]string{}
	for _, fn := range s.functions() {
		role := target(s.props(fn)["Role"])
		if role == "" || s.typeOf(role) != "AWS::IAM::Role" {
			out = append(out, fmt.Sprintf("%s: Role is not a GetAtt of an AWS::IAM::Role of the template", fn))
			continue
		}
		if other, taken := owner[role]; taken {
			out = append(out, fmt.Sprintf("%s shares role %s with %s", fn, role, other))
		}
		owner[role] = fn
		if _, ok := s.props(fn)["Policies"]; ok {
			out = append(out, fmt.Sprintf("%s: Policies are ignored when Role is set; put them on %s", fn, role))
		}
		if !slices.ContainsFunc(cfnyaml.List(dig(s.props(role), "AssumeRolePolicyDocument", "Statement")), func(st any) bool {
			return slices.Contains(cfnyaml.List(dig(st, "Principal", "Service")), "lambda.amazonaws.com")
		}) {
			out = append(out, fmt.Sprintf("%s: not assumable by lambda.amazonaws.com", role))
		}
		out = append(out, checkRoleScope(s, fn, role)...)
	}
	for _, role := range s.ofType("AWS::IAM::Role") {
		if _, ok := s.props(role)["ManagedPolicyArns"]; ok {
			out = append(out, fmt.Sprintf("%s: managed policies are not reviewable here; use explicit statements", role))
		}
		if owner[role] == "" {
			out = append(out, fmt.Sprintf("%s: used by no function", role))
		}
		for _, st := range s.statements(role) {
			if _, ok := st.raw["NotAction"]; ok {
				out = append(out, fmt.Sprintf("%s: NotAction", st))
			}
			if _, ok := st.raw["NotResource"]; ok {
				out = append(out, fmt.Sprintf("%s: NotResource", st))
			}
			if len(st.actions) == 0 || len(st.resources) == 0 {
				out = append(out, fmt.Sprintf("%s: no Action or no Resource", st))
			}
			guarded := false
			for _, a := range st.actions {
				svc, name, _ := strings.Cut(a, ":")
				switch {
				case a == "*" || name == "*":
					out = append(out, fmt.Sprintf("%s grants %q", st, a))
				case slices.Contains(sensitive, svc) && strings.ContainsAny(name, "*?"):
					out = append(out, fmt.Sprintf("%s grants %q: list the actions", st, a))
				}
				guarded = guarded || slices.Contains(sensitive, svc)
			}
			if !guarded {
				continue
			}
			for _, r := range st.resources {
				if !s.scoped(r) {
					out = append(out, fmt.Sprintf("%s: resource %v is not scoped to a resource of this stack", st, r))
				}
			}
		}
	}
	return out
}

// checkRoleScope checks that a function's role reaches only what the
// function is wired to: the secrets in its environment, the stream it
// consumes, the queues it reports failures to.
func checkRoleScope(s stack, fn, role string) []string {
	var out []string
	env := s.env(fn)
	var secrets, queues []string
	for name, v := range env {
		if strings.HasSuffix(name, "_SECRET_ARN") {
			secrets = append(secrets, target(v))
		}
	}
	streamed := map[string]bool{}
	for _, ev := range s.events(fn) {
		if cfnyaml.String(ev["Type"]) == "DynamoDB" {
			streamed[target(dig(ev, "Properties", "Stream"))] = true
		}
		if d := target(dig(ev, "Properties", "DestinationConfig", "OnFailure", "Destination")); d != "" {
			queues = append(queues, d)
		}
	}
	if d := target(dig(s.props(fn), "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination")); d != "" {
		queues = append(queues, d)
	}
	for _, st := range s.statements(role) {
		for _, a := range st.actions {
			refs := []string{}
			for _, r := range st.resources {
				refs = append(refs, refsIn(r)...)
			}
			switch a {
			case "secretsmanager:GetSecretValue":
				for _, r := range refs {
					if !slices.Contains(secrets, r) {
						out = append(out, fmt.Sprintf("%s: reads secret %s, which %s is not configured with", st, r, fn))
					}
				}
			case "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream", "dynamodb:ListStreams":
				for _, r := range refs {
					if !streamed[r] {
						out = append(out, fmt.Sprintf("%s: reads the stream of %s, which %s does not consume", st, r, fn))
					}
				}
			case "sqs:SendMessage":
				for _, r := range refs {
					if !slices.Contains(queues, r) {
						out = append(out, fmt.Sprintf("%s: sends to %s, which is not a failure destination of %s", st, r, fn))
					}
				}
			}
		}
	}
	for _, secret := range secrets {
		if !slices.ContainsFunc(s.statements(role), func(st statement) bool { return st.allows("secretsmanager:GetSecretValue", secret) }) {
			out = append(out, fmt.Sprintf("%s: configured with secret %s but %s cannot read it", fn, secret, role))
		}
	}
	for _, q := range queues {
		if !slices.ContainsFunc(s.statements(role), func(st statement) bool { return st.allows("sqs:SendMessage", q) }) {
			out = append(out, fmt.Sprintf("%s: fails over to %s but %s cannot send to it", fn, q, role))
		}
	}
	return out
}

func checkFunctionLogs(s stack) []string {
	var out []string
	for _, fn := range s.functions() {
		group := target(dig(s.props(fn), "LoggingConfig", "LogGroup"))
		if s.typeOf(group) != "AWS::Logs::LogGroup" {
			out = append(out, fmt.Sprintf("%s: LoggingConfig.LogGroup is not a log group of the template", fn))
			continue
		}
		if _, ok := asInt(s.props(group)["RetentionInDays"]); !ok && target(s.props(group)["RetentionInDays"]) == "" {
			out = append(out, fmt.Sprintf("%s: log group %s keeps logs forever", fn, group))
		}
		role := target(s.props(fn)["Role"])
		if !slices.ContainsFunc(s.statements(role), func(st statement) bool { return st.allows("logs:PutLogEvents", group) }) {
			out = append(out, fmt.Sprintf("%s: %s cannot write to %s", fn, role, group))
		}
	}
	return out
}

const tableType = "AWS::DynamoDB::Table"

func checkTables(s stack) []string {
	var out []string
	ids := s.ofType(tableType)
	if !slices.Equal(ids, []string{"DirectoryTable", "ReferralsTable"}) {
		out = append(out, fmt.Sprintf("tables %v, want DirectoryTable and ReferralsTable", ids))
	}
	for _, id := range ids {
		res, p := s.resource(id), s.props(id)
		for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if cfnyaml.String(res[policy]) != "Retain" {
				out = append(out, fmt.Sprintf("%s: %s %q, want Retain", id, policy, cfnyaml.String(res[policy])))
			}
		}
		if !asBool(p["DeletionProtectionEnabled"]) {
			out = append(out, id+": DeletionProtectionEnabled is not true")
		}
		if !asBool(dig(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled")) {
			out = append(out, id+": point-in-time recovery is off")
		}
		if !asBool(dig(p, "SSESpecification", "SSEEnabled")) {
			out = append(out, id+": SSESpecification.SSEEnabled is not true")
		}
		if cfnyaml.String(p["BillingMode"]) != "PAY_PER_REQUEST" {
			out = append(out, id+": BillingMode is not PAY_PER_REQUEST")
		}
		if cfnyaml.String(dig(p, "TimeToLiveSpecification", "AttributeName")) != "expires_at" ||
			!asBool(dig(p, "TimeToLiveSpecification", "Enabled")) {
			out = append(out, id+": TTL on expires_at is not enabled")
		}
	}

	p := s.props("ReferralsTable")
	key := target(dig(p, "SSESpecification", "KMSMasterKeyId"))
	if cfnyaml.String(dig(p, "SSESpecification", "SSEType")) != "KMS" || s.typeOf(key) != "AWS::KMS::Key" {
		out = append(out, "ReferralsTable: not encrypted with a customer-managed AWS::KMS::Key of the template")
	} else {
		if !asBool(s.props(key)["EnableKeyRotation"]) {
			out = append(out, key+": EnableKeyRotation is not true")
		}
		if cfnyaml.String(s.resource(key)["DeletionPolicy"]) != "Retain" {
			out = append(out, key+": DeletionPolicy is not Retain (the tables' data would become unreadable)")
		}
		if !slices.ContainsFunc(cfnyaml.List(dig(s.props(key), "KeyPolicy", "Statement")), func(st any) bool {
			return strings.HasSuffix(cfnyaml.String(dig(st, "Principal", "AWS", "Fn::Sub")), ":root")
		}) {
			out = append(out, key+": key policy has no statement for the account root")
		}
	}
	switch v := cfnyaml.String(dig(p, "StreamSpecification", "StreamViewType")); v {
	case "NEW_IMAGE", "NEW_AND_OLD_IMAGES":
	default:
		out = append(out, fmt.Sprintf("ReferralsTable: stream view %q, want NEW_IMAGE", v))
	}
	return out
}

func checkTableSchemas(stack) []string {
	defs, err := tables.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return []string{err.Error()}
	}
	want := map[string][]string{"ReferralsTable": {"due-index", "clinic-index"}, "DirectoryTable": {"source-index"}}
	var out []string
	for _, in := range defs.Tables {
		name := *in.TableName
		var keys, gsis []string
		for _, k := range in.KeySchema {
			keys = append(keys, *k.AttributeName)
		}
		for _, g := range in.GlobalSecondaryIndexes {
			gsis = append(gsis, *g.IndexName)
		}
		if !slices.Equal(keys, []string{"PK", "SK"}) {
			out = append(out, fmt.Sprintf("%s: keys %v, want PK, SK", name, keys))
		}
		if !slices.Equal(gsis, want[name]) {
			out = append(out, fmt.Sprintf("%s: indexes %v, want %s", name, gsis, want[name]))
		}
	}
	return out
}

// TestResourcesMatchSchemas decodes every CloudFormation resource (not the SAM
// ones, which use properties newer than goformation knows) with goformation,
// which refuses unknown properties: a misspelt property fails here rather
// than at deploy time.
func TestResourcesMatchSchemas(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := intrinsics.ProcessYAML(data, nil)
	if err != nil {
		t.Fatalf("resolve intrinsics: %v", err)
	}
	var doc struct{ Resources map[string]json.RawMessage }
	if err := json.Unmarshal(resolved, &doc); err != nil {
		t.Fatal(err)
	}
	t.Run("a misspelt property is refused", func(t *testing.T) {
		_, err := goformation.ParseYAML([]byte("Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n" +
			"      KeySchema: []\n      PointInTimeRecoverySpecificaton: {PointInTimeRecoveryEnabled: true}\n"))
		if err == nil {
			t.Fatal("goformation accepted an unknown property: this test would not catch typos")
		}
	})
	for _, id := range slices.Sorted(maps.Keys(doc.Resources)) {
		var head struct{ Type string }
		if err := json.Unmarshal(doc.Resources[id], &head); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(head.Type, "AWS::Serverless::") || newerThanGoformation[head.Type] {
			continue
		}
		t.Run(id, func(t *testing.T) {
			one, err := json.Marshal(map[string]any{"Resources": map[string]json.RawMessage{id: doc.Resources[id]}})
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := goformation.ParseJSON(one)
			if err != nil {
				t.Fatalf("%s (%s): %v", id, head.Type, err)
			}
			if _, ok := tmpl.Resources[id]; !ok {
				t.Fatalf("%s (%s): goformation does not know the type", id, head.Type)
			}
		})
	}
}

// newerThanGoformation are resource types goformation's schemas predate;
// cfn-lint, whose schemas are current, checks them (TestCfnLint).
var newerThanGoformation = map[string]bool{"AWS::SMSVOICE::ConfigurationSet": true}

// httpRoutes returns the HttpApi routes of function fn, as "METHOD path".
func httpRoutes(s stack, fn string) map[string]string {
	out := map[string]string{}
	for name, ev := range s.events(fn) {
		if cfnyaml.String(ev["Type"]) != "HttpApi" {
			continue
		}
		p := asMap(ev["Properties"])
		out[strings.ToUpper(cfnyaml.String(p["Method"]))+" "+cfnyaml.String(p["Path"])] = name
	}
	return out
}

func checkRoutes(s stack) []string {
	var out []string
	apis := s.ofType("AWS::Serverless::HttpApi")
	if len(apis) != 1 {
		return []string{fmt.Sprintf("want one AWS::Serverless::HttpApi, have %v", apis)}
	}
	served := map[string]string{}
	for _, fn := range s.functions() {
		for r, name := range httpRoutes(s, fn) {
			if prev, dup := served[r]; dup {
				out = append(out, fmt.Sprintf("%s is routed to both %s and %s", r, prev, fn))
			}
			served[r] = fn
			ev := s.events(fn)[name]
			if api := target(dig(ev, "Properties", "ApiId")); api != apis[0] {
				out = append(out, fmt.Sprintf("%s/%s: ApiId %q, want Ref %s", fn, name, api, apis[0]))
			}
			if v := dig(ev, "Properties", "PayloadFormatVersion"); v != nil && v != "2.0" {
				out = append(out, fmt.Sprintf("%s/%s: payload format %v, want 2.0", fn, name, v))
			}
		}
	}
	inContract := map[string]bool{}
	for _, r := range contractRoutes {
		key := r.method + " " + r.path
		inContract[key] = true
		switch fn, ok := served[key]; {
		case !ok:
			out = append(out, fmt.Sprintf("%s (contract) is routed to no function; want %s", key, r.function))
		case fn != r.function:
			out = append(out, fmt.Sprintf("%s is routed to %s, want %s", key, fn, r.function))
		}
	}
	for key, fn := range served {
		if !inContract[key] {
			out = append(out, fmt.Sprintf("%s (%s) is not a route of the contract", key, fn))
		}
	}
	return out
}

// Event source types by how Lambda invokes the function.
var (
	pollingSources = []string{"DynamoDB", "Kinesis", "SQS", "MSK", "MQ", "SelfManagedKafka", "DocumentDB"}
	asyncSources   = []string{"Schedule", "ScheduleV2", "SNS", "S3", "EventBridgeRule", "CloudWatchEvent", "CloudWatchLogs", "IoTRule", "Cognito"}
)

func checkFailureDestinations(s stack) []string {
	var out []string
	for _, fn := range s.functions() {
		async := false
		for name, ev := range s.events(fn) {
			typ := cfnyaml.String(ev["Type"])
			async = async || slices.Contains(asyncSources, typ)
			if !slices.Contains(pollingSources, typ) || typ == "SQS" {
				continue
			}
			p := asMap(ev["Properties"])
			dest := target(dig(p, "DestinationConfig", "OnFailure", "Destination"))
			switch {
			case dest == "":
				out = append(out, fmt.Sprintf("%s/%s: no DestinationConfig.OnFailure", fn, name))
			case s.typeOf(dest) != "AWS::SQS::Queue" && s.typeOf(dest) != "AWS::SNS::Topic":
				out = append(out, fmt.Sprintf("%s/%s: on-failure destination %s is not a queue or topic of the template", fn, name, dest))
			}
			if !slices.Contains(cfnyaml.List(p["FunctionResponseTypes"]), "ReportBatchItemFailures") {
				out = append(out, fmt.Sprintf("%s/%s: FunctionResponseTypes lacks ReportBatchItemFailures", fn, name))
			}
			if !asBool(p["BisectBatchOnFunctionError"]) {
				out = append(out, fmt.Sprintf("%s/%s: BisectBatchOnFunctionError is not true", fn, name))
			}
			if n, ok := asInt(p["MaximumRetryAttempts"]); !ok || n < 0 {
				out = append(out, fmt.Sprintf("%s/%s: MaximumRetryAttempts unset or infinite: a poison record would block its shard", fn, name))
			}
		}
		if !async {
			continue
		}
		dest := target(dig(s.props(fn), "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination"))
		if dest == "" {
			out = append(out, fmt.Sprintf("%s: invoked asynchronously but EventInvokeConfig has no on-failure destination", fn))
		} else if s.typeOf(dest) != "AWS::SQS::Queue" && s.typeOf(dest) != "AWS::SNS::Topic" {
			out = append(out, fmt.Sprintf("%s: async on-failure destination %s is not a queue or topic of the template", fn, dest))
		}
	}
	return out
}

// sweepInput is the payload of the dispatcher's schedule.
const sweepInput = `{"sweep": true}`

func checkDispatchSources(s stack) []string {
	var out []string
	var stream, sweep map[string]any
	for _, ev := range s.events("DispatchFunction") {
		switch cfnyaml.String(ev["Type"]) {
		case "DynamoDB":
			stream = asMap(ev["Properties"])
		case "Schedule":
			sweep = asMap(ev["Properties"])
		}
	}
	if stream == nil {
		out = append(out, "DispatchFunction: no DynamoDB stream event")
	} else {
		if got := cfnyaml.List(dig(stream, "Stream", "Fn::GetAtt")); !slices.Equal(got, []any{"ReferralsTable", "StreamArn"}) {
			out = append(out, fmt.Sprintf("DispatchFunction stream: Stream %v, want ReferralsTable.StreamArn", got))
		}
		if n, _ := asInt(stream["BatchSize"]); n != 100 {
			out = append(out, fmt.Sprintf("DispatchFunction stream: BatchSize %v, want 100", stream["BatchSize"]))
		}
		filters := cfnyaml.List(dig(stream, "FilterCriteria", "Filters"))
		if len(filters) != 1 {
			out = append(out, fmt.Sprintf("DispatchFunction stream: %d filters, want 1", len(filters)))
		} else {
			var pattern map[string]any
			if err := json.Unmarshal([]byte(cfnyaml.String(dig(filters[0], "Pattern"))), &pattern); err != nil {
				out = append(out, "DispatchFunction stream: filter pattern is not JSON: "+err.Error())
			} else {
				names := cfnyaml.List(pattern["eventName"])
				if len(names) != 2 || !slices.Contains(names, "INSERT") || !slices.Contains(names, "MODIFY") {
					out = append(out, fmt.Sprintf("DispatchFunction stream: filter eventName %v, want INSERT and MODIFY", names))
				}
				if got := fmt.Sprint(dig(pattern, "dynamodb", "NewImage", "GSI1PK", "S")); got != "[map[exists:true]]" {
					out = append(out, "DispatchFunction stream: filter does not require NewImage.GSI1PK (pending events)")
				}
			}
		}
	}
	if sweep == nil {
		out = append(out, "DispatchFunction: no Schedule event (the sweeper)")
	} else {
		if got := cfnyaml.String(sweep["Schedule"]); got != "rate(1 minute)" {
			out = append(out, fmt.Sprintf("DispatchFunction sweeper: Schedule %q, want rate(1 minute)", got))
		}
		if !jsonEqual(cfnyaml.String(sweep["Input"]), sweepInput) {
			out = append(out, fmt.Sprintf("DispatchFunction sweeper: Input %q, want %s", sweep["Input"], sweepInput))
		}
	}
	return out
}

// forbiddenLogVars are access-log variables that would write tokens (paths
// of /c/{token} and /g/{token}), query strings (postal codes, topics),
// headers or bodies, or the caller's address into the logs.
var forbiddenLogVars = []string{
	"$context.path", "$context.resourcePath", "$context.requestOverride",
	"$context.identity.sourceIp", "$context.identity.userAgent", "$context.customDomain.basePathMatched",
	"$request.", "$method.", "$input.", "$stageVariables.",
}

var logVar = regexp.MustCompile(`\$[A-Za-z]+(?:\.[A-Za-z0-9_-]+)*\.?`)

func checkHTTPAPI(s stack) []string {
	apis := s.ofType("AWS::Serverless::HttpApi")
	if len(apis) != 1 {
		return []string{fmt.Sprintf("want one AWS::Serverless::HttpApi, have %v", apis)}
	}
	var out []string
	p := s.props(apis[0])
	burst, _ := asInt(dig(p, "DefaultRouteSettings", "ThrottlingBurstLimit"))
	rate, _ := asInt(dig(p, "DefaultRouteSettings", "ThrottlingRateLimit"))
	if burst <= 0 || rate <= 0 {
		out = append(out, apis[0]+": no default route throttling (DefaultRouteSettings.ThrottlingBurstLimit/RateLimit)")
	}
	logs := asMap(p["AccessLogSettings"])
	if logs == nil {
		return append(out, apis[0]+": no AccessLogSettings")
	}
	if g := target(logs["DestinationArn"]); s.typeOf(g) != "AWS::Logs::LogGroup" {
		out = append(out, apis[0]+": access logs do not go to a log group of the template")
	} else if _, ok := asInt(s.props(g)["RetentionInDays"]); !ok && target(s.props(g)["RetentionInDays"]) == "" {
		out = append(out, g+": access logs kept forever")
	}
	format := cfnyaml.String(logs["Format"])
	for _, need := range []string{"$context.routeKey", "$context.status", "$context.requestId"} {
		if !strings.Contains(format, need) {
			out = append(out, fmt.Sprintf("%s: access log format lacks %s", apis[0], need))
		}
	}
	for _, v := range logVar.FindAllString(format, -1) {
		for _, bad := range forbiddenLogVars {
			if v == bad || strings.HasPrefix(v, strings.TrimSuffix(bad, ".")+".") || v == strings.TrimSuffix(bad, ".") {
				out = append(out, fmt.Sprintf("%s: access log format logs %s (raw paths and query strings carry tokens and personal data)", apis[0], v))
			}
		}
	}
	var probe map[string]any
	if err := json.Unmarshal([]byte(format), &probe); err != nil {
		out = append(out, apis[0]+": access log format is not JSON: "+err.Error())
	}
	return out
}

func checkMailEvents(s stack) []string {
	var out []string
	sets := s.ofType("AWS::SES::ConfigurationSet")
	if len(sets) != 1 {
		return []string{fmt.Sprintf("want one AWS::SES::ConfigurationSet, have %v", sets)}
	}
	var topic string
	for _, id := range s.ofType("AWS::SES::ConfigurationSetEventDestination") {
		p := s.props(id)
		if target(p["ConfigurationSetName"]) != sets[0] {
			continue
		}
		types := map[string]bool{}
		for _, t := range cfnyaml.List(dig(p, "EventDestination", "MatchingEventTypes")) {
			types[strings.ToLower(cfnyaml.String(t))] = true
		}
		if types["bounce"] && types["complaint"] && asBool(dig(p, "EventDestination", "Enabled")) {
			topic = target(dig(p, "EventDestination", "SnsDestination", "TopicARN"))
		}
	}
	if s.typeOf(topic) != "AWS::SNS::Topic" {
		return append(out, sets[0]+": no enabled event destination sending bounces and complaints to an SNS topic of the template")
	}
	subscribed := false
	for _, ev := range s.events("SesEventsFunction") {
		if cfnyaml.String(ev["Type"]) == "SNS" && target(dig(ev, "Properties", "Topic")) == topic {
			subscribed = true
		}
	}
	if !subscribed {
		out = append(out, "SesEventsFunction: not subscribed to "+topic)
	}
	for _, fn := range s.functions() {
		if target(s.env(fn)["HANDOFF_SES_CONFIGURATION_SET"]) != sets[0] {
			out = append(out, fn+": HANDOFF_SES_CONFIGURATION_SET is not Ref "+sets[0])
		}
	}
	sends := false
	for _, st := range s.statements(target(s.props("DispatchFunction")["Role"])) {
		sends = sends || st.allows("ses:SendEmail", sets[0])
	}
	if !sends {
		out = append(out, "DispatchFunction: its role cannot send with configuration set "+sets[0])
	}
	return out
}

// durationDefaults are the settings with defaults in the contract.
var durationDefaults = map[string]string{
	"HANDOFF_CONSENT_TTL":            "168h",
	"HANDOFF_GROUP_RESPONSE_TIMEOUT": "48h",
	"HANDOFF_WEBHOOK_TOLERANCE":      "5m",
	"HANDOFF_RETENTION":              "2160h",
}

func checkEnvironment(s stack) []string {
	var out []string
	shared := map[string]string{
		"HANDOFF_REFERRALS_TABLE": "ReferralsTable", "HANDOFF_DIRECTORY_TABLE": "DirectoryTable",
		"HANDOFF_PUBLIC_URL": "PublicUrl", "HANDOFF_MAIL_FROM": "MailFrom", "HANDOFF_KMS_KEY_ID": "DataKey",
	}
	// Which function gets which secret-bearing setting, and from where.
	secrets := map[string]map[string]string{
		"HANDOFF_ADMIN_TOKEN_SHA256": {"AdminFunction": "AdminTokenSha256"},
		"HANDOFF_LINK_KEY_ID": {
			"IntakeFunction": "LinkKey", "ConsentFunction": "LinkKey", "RespondFunction": "LinkKey", "DispatchFunction": "LinkKey",
			"EhrFunction":    "LinkKey", // access tokens' MAC
			"AdminFunction":  "LinkKey", // the operator page's form tokens, the staff's invitation links
			"ClinicFunction": "LinkKey", // the staff's links, the QR and consent links, form tokens
		},
	}
	for _, fn := range s.functions() {
		env := s.env(fn)
		for name, want := range shared {
			if got := target(env[name]); got != want {
				out = append(out, fmt.Sprintf("%s: %s is %v, want Ref %s", fn, name, env[name], want))
			}
		}
		for name, def := range durationDefaults {
			param := target(env[name])
			got := cfnyaml.String(dig(s, "Parameters", param, "Default"))
			if _, err := time.ParseDuration(got); err != nil || got != def {
				out = append(out, fmt.Sprintf("%s: %s comes from parameter %q with default %q, want %s", fn, name, param, got, def))
			}
		}
		for name, byFn := range secrets {
			want, should := byFn[fn]
			got := target(env[name])
			switch {
			case should && got != want:
				out = append(out, fmt.Sprintf("%s: %s is %v, want Ref %s", fn, name, env[name], want))
			case !should && env[name] != nil:
				out = append(out, fmt.Sprintf("%s: has %s, which it does not need", fn, name))
			}
		}
	}
	if dig(s, "Parameters", "AdminTokenSha256", "NoEcho") != true {
		out = append(out, "AdminTokenSha256 must be NoEcho")
	}
	for _, p := range []string{"AdminTokenSha256", "PublicUrl", "MailFrom"} {
		if dig(s, "Parameters", p) == nil {
			out = append(out, "no parameter "+p)
		} else if dig(s, "Parameters", p, "Default") != nil {
			out = append(out, p+": has a default; a deployment must set it")
		}
	}
	return out
}

func checkOutputs(s stack) []string {
	var out []string
	for _, name := range []string{"ApiUrl", "ReferralsTableName", "DirectoryTableName"} {
		if dig(s, "Outputs", name, "Value") == nil {
			out = append(out, "no output "+name)
		}
	}
	if refs := refsIn(dig(s, "Outputs", "ApiUrl", "Value")); !slices.Contains(refs, "HttpApi") {
		out = append(out, "ApiUrl does not name the HttpApi")
	}
	return out
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}
