package iamcheck_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/infra/iamcheck"
	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/testenv"
)

func sample(t *testing.T) (*iamcheck.Template, iamcheck.Functions) {
	t.Helper()
	tmpl, fns, err := iamcheck.LoadSample(filepath.Join(testenv.RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl, fns
}

func simulator(t *testing.T) *iamcheck.NodeSimulator {
	t.Helper()
	sim, err := iamcheck.NewNodeSimulator(testenv.RepoRoot(t))
	testenv.RequireTool(t, !errors.Is(err, iamcheck.ErrNoSimulator), "the IAM simulator (npm @cloud-copilot/iam-simulate)",
		"install Node 20 and run `make node_modules` (npm ci in infra/ses)")
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

// TestAttribution: each request and event goes to the function the template
// says serves it, as API Gateway and Lambda would route it.
func TestAttribution(t *testing.T) {
	_, fns := sample(t)
	routes := []struct{ method, path, want string }{
		{"POST", "/v1/clinics/lakeside/referrals", "IntakeFunction"},
		{"GET", "/v1/clinics/lakeside/referrals/01J", "IntakeFunction"},
		{"GET", "/fhir/Subscription/abc/$status", "EhrFunction"},
		{"DELETE", "/fhir/Patient/1", "EhrFunction"}, // ANY /fhir/{proxy+}
		{"POST", "/oauth/token", "EhrFunction"},
		{"GET", "/launch", "EhrFunction"},
		{"GET", "/launch/callback", "EhrFunction"},
		{"POST", "/cds-services/handoff-peer-support", "EhrFunction"},
		{"PUT", "/v1/admin/clinics/lakeside/smart-app", "AdminFunction"},
		{"GET", "/clinic", "ClinicFunction"},
		{"POST", "/clinic/referrals/01J/qr", "ClinicFunction"},
		{"POST", "/s/abc/passkey/options", "ClinicFunction"},
		{"GET", "/q/abc", "ClinicFunction"},
		{"POST", "/v1/admin/clinics/lakeside/staff", "AdminFunction"},
		{"GET", "/c/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ConsentFunction"},
		{"HEAD", "/c/abc", "ConsentFunction"},
		{"GET", "/c/abc/meeting.ics", "ConsentFunction"},
		{"GET", "/assets/css/site.css", "ConsentFunction"},
		{"POST", "/l/abc", "RespondFunction"},
		{"GET", "/v1/admin/groups/mission-a", "AdminFunction"},
		{"POST", "/v1/admin/groups/import", "AdminFunction"},
		{"GET", "/healthz", "AdminFunction"},
		{"GET", "/admin", "AdminFunction"},
		{"GET", "/no/such/route", ""},
		{"GET", "/c/abc/extra", ""},
		{"PATCH", "/healthz", ""},
	}
	for _, r := range routes {
		if got := fns.ForRoute(r.method, r.path); got != r.want {
			t.Errorf("%s %s: %q, want %q", r.method, r.path, got, r.want)
		}
	}
	for _, c := range []struct{ got, want string }{
		{fns.ForStream("ReferralsTable"), "DispatchFunction"},
		{fns.ForSchedule(`{"sweep":true}`), "DispatchFunction"},
		{fns.ForTopic("SesEventsTopic"), "SesEventsFunction"},
		{fns.ForTopic("SmsEventsTopic"), "SmsEventsFunction"},
		{fns.ForStream("DirectoryTable"), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestSampleDeployment: the template resolves for the sample deployment the
// way CloudFormation would resolve it in account 111122223333.
func TestSampleDeployment(t *testing.T) {
	tmpl, fns := sample(t)
	dispatch, ok := fns.ByID("DispatchFunction")
	if !ok {
		t.Fatal("no DispatchFunction")
	}
	want := map[string]string{
		"HANDOFF_REFERRALS_TABLE":       "ReferralsTable",
		"HANDOFF_MAIL_FROM":             "handoff@test.example",
		"HANDOFF_SES_CONFIGURATION_SET": "MailConfigurationSet",
		"HANDOFF_SMS_CONFIGURATION_SET": "TextConfigurationSet",
		"HANDOFF_KMS_KEY_ID":            iamcheck.SampleKeyID("DataKey"),
		"HANDOFF_LINK_KEY_ID":           "arn:aws:kms:us-east-1:111122223333:key/" + iamcheck.SampleKeyID("LinkKey"),
		"HANDOFF_RETENTION":             "2160h",
	}
	for k, v := range want {
		if dispatch.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, dispatch.Env[k], v)
		}
	}
	if dispatch.RoleArn != "arn:aws:iam::111122223333:role/DispatchRole" || dispatch.LogGroup != "/handoff/handoff/dispatch" {
		t.Errorf("role %s, log group %s", dispatch.RoleArn, dispatch.LogGroup)
	}
	if !slices.Equal(dispatch.StreamArns, []string{"arn:aws:dynamodb:us-east-1:111122223333:table/ReferralsTable/stream/2026-01-01T00:00:00.000"}) {
		t.Errorf("streams %v", dispatch.StreamArns)
	}
	if !slices.Equal(dispatch.FailureQueues, []string{"arn:aws:sqs:us-east-1:111122223333:DeadLetterQueue"}) {
		t.Errorf("failure queues %v", dispatch.FailureQueues)
	}
	id := iamcheck.SampleKeyID("DataKey")
	if len(id) != 36 || id[14] != '4' || id == iamcheck.SampleKeyID("LinkKey") {
		t.Errorf("key id %q", id)
	}
	identity, err := tmpl.ResolveString(map[string]any{"Fn::Sub": []any{
		"arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Domain}",
		map[string]any{"Domain": map[string]any{"Fn::Select": []any{1, map[string]any{"Fn::Split": []any{"@", map[string]any{"Ref": "MailFrom"}}}}}},
	}})
	if err != nil || identity != "arn:aws:ses:us-east-1:111122223333:identity/test.example" {
		t.Errorf("identity %q %v", identity, err)
	}
}

// recordFlow records a referral's first steps through the harness: a clinic
// and a group made by the operator, a signed referral, its events
// dispatched, a staff member invited, the health check.
func recordFlow(t *testing.T) []iamcheck.Call {
	t.Helper()
	h := apptest.New(t)
	c := h.NewClinic("lakeside", "")
	h.PutGroup(apptest.SampleGroup("mission-a", 37.7599, -122.4148), "mission-a")
	st, b := h.Refer(c, "application/json", []byte(`{"external_id":"x1","patient":{"given_name":"Ana","email":"ana@patient.example","postal_code":"94110"},"needs":["alcohol"],"clinician":{"name":"Dr. Rivera","email":"rivera@clinic.example"}}`))
	if st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	if st, b := h.Admin(http.MethodPost, "/v1/admin/clinics/lakeside/staff", map[string]string{"name": "Jan Rivera", "email": "rivera@clinic.example"}); st != http.StatusCreated {
		t.Fatalf("invite staff: %d %s", st, b)
	}
	h.Settle()
	if st, _, _ := h.Do(http.MethodGet, "/healthz", nil, nil); st != http.StatusOK {
		t.Fatalf("healthz: %d", st)
	}
	return h.IAM.Calls()
}

// statement returns the statement Sid of a role's first inline policy.
func statement(t *testing.T, tmpl *iamcheck.Template, role, sid string) map[string]any {
	t.Helper()
	for _, p := range tmpl.Property(role, "Policies").([]any) {
		for _, st := range p.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if m := st.(map[string]any); m["Sid"] == sid {
				return m
			}
		}
	}
	t.Fatalf("%s has no statement %s", role, sid)
	return nil
}

// TestCheck: the flow's calls are all allowed by the template's roles; with
// one action taken from one role the check fails, naming the function, the
// action, the resource and the SDK call that needed it; a grant added that
// no call uses is listed unless the role gives a reason for it.
func TestCheck(t *testing.T) {
	sim := simulator(t)
	tmpl, _ := sample(t)
	calls := recordFlow(t)
	ctx := context.Background()
	res, err := iamcheck.Check(ctx, tmpl, calls, sim)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Denied)+len(res.Invalid)+len(res.Unmapped)+len(res.Unrouted) > 0 {
		t.Fatalf("the template's roles refuse the flow:\n%s", strings.Join(res.Failures(), "\n"))
	}
	for _, f := range []string{"IntakeFunction", "DispatchFunction", "AdminFunction"} {
		if !slices.ContainsFunc(res.Functions, func(c iamcheck.FunctionCalls) bool { return c.Function == f && c.Code > 0 }) {
			t.Errorf("no calls recorded for %s: %+v", f, res.Functions)
		}
	}
	// Every call of a function and every call of the Lambda service's is
	// evaluated.
	want := 0
	for _, c := range calls {
		if c.Function != "" {
			want++
		}
	}
	for _, f := range res.Functions {
		want += f.Service
	}
	if res.Evaluated != want {
		t.Errorf("%d requests evaluated, want %d", res.Evaluated, want)
	}

	mutations := []struct {
		name       string
		role, sid  string
		drop       string
		wantDenied string
	}{
		{"intake writes referrals in a transaction", "IntakeRole", "Referrals", "dynamodb:PutItem",
			"IntakeFunction dynamodb:PutItem on arn:aws:dynamodb:us-east-1:111122223333:table/ReferralsTable [dynamodb:LeadingKeys=IDEM#…] (DynamoDB.TransactWriteItems): ImplicitlyDenied by IntakeRole"},
		{"dispatch derives the link key", "DispatchRole", "LinkKey", "kms:GenerateMac",
			"DispatchFunction kms:GenerateMac on arn:aws:kms:us-east-1:111122223333:key/" + iamcheck.SampleKeyID("LinkKey") + " (KMS.GenerateMac): ImplicitlyDenied by DispatchRole"},
		{"admin checks the clinic of a staff invitation", "AdminRole", "Directory", "dynamodb:ConditionCheckItem",
			"AdminFunction dynamodb:ConditionCheckItem on arn:aws:dynamodb:us-east-1:111122223333:table/DirectoryTable [dynamodb:LeadingKeys=CLINIC#…] (DynamoDB.TransactWriteItems): ImplicitlyDenied by AdminRole"},
		{"dispatch reads the due index", "DispatchRole", "DueEvents", "dynamodb:Query",
			"DispatchFunction dynamodb:Query on arn:aws:dynamodb:us-east-1:111122223333:table/ReferralsTable/index/due-index"},
	}
	for _, m := range mutations {
		t.Run("without "+m.drop+" "+m.name, func(t *testing.T) {
			broken := tmpl.Clone()
			st := statement(t, broken, m.role, m.sid)
			var kept []any
			for _, a := range st["Action"].([]any) {
				if a != m.drop {
					kept = append(kept, a)
				}
			}
			if len(kept) == len(st["Action"].([]any)) {
				t.Fatalf("%s %s has no %s", m.role, m.sid, m.drop)
			}
			st["Action"] = kept
			if len(kept) == 0 {
				st["Action"] = "dynamodb:DescribeLimits" // nothing the flow calls
			}
			res, err := iamcheck.Check(ctx, broken, calls, sim)
			if err != nil {
				t.Fatal(err)
			}
			fails := strings.Join(res.Failures(), "\n")
			if !strings.Contains(fails, "denied: "+m.wantDenied) {
				t.Fatalf("the check does not name the refused call %q:\n%s", m.wantDenied, fails)
			}
		})
	}

	t.Run("a grant no call uses", func(t *testing.T) {
		broken := tmpl.Clone()
		st := statement(t, broken, "DispatchRole", "ReferralsStream")
		st["Action"] = append(st["Action"].([]any), "dynamodb:ListStreams")
		res, err := iamcheck.Check(ctx, broken, calls, sim)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(res.Unused, func(g iamcheck.Grant) bool {
			return g.Role == "DispatchRole" && g.Action == "dynamodb:ListStreams" && strings.Contains(g.Resource, "/stream/")
		}) {
			t.Fatalf("ListStreams on the stream (IAM takes it only on *) is not listed: %v", res.Unused)
		}
		// With a reason in the role's Metadata it is kept, and listed as
		// kept; a reason that names no unused grant is itself a finding.
		broken.SetMetadata("DispatchRole", "UnusedGrants", []any{
			map[string]any{"Sid": "ReferralsStream", "Action": "dynamodb:ListStreams", "Reason": "kept to show the mechanism"},
			map[string]any{"Sid": "Mail", "Action": "ses:SendEmail", "Resource": "identity/", "Reason": "but it is used"},
		})
		res, err = iamcheck.Check(ctx, broken, calls, sim)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(res.Unused, func(g iamcheck.Grant) bool { return g.Action == "dynamodb:ListStreams" }) ||
			!slices.ContainsFunc(res.Kept, func(g iamcheck.Grant) bool {
				return g.Action == "dynamodb:ListStreams" && g.Reason == "kept to show the mechanism"
			}) {
			t.Errorf("the reason did not keep the grant: unused %v, kept %v", res.Unused, res.Kept)
		}
		if len(res.StaleReasons) != 1 || !strings.Contains(res.StaleReasons[0], "ses:SendEmail") {
			t.Errorf("stale reasons %v", res.StaleReasons)
		}
		var report strings.Builder
		res.Report(&report)
		if !strings.Contains(report.String(), "kept to show the mechanism") || !strings.Contains(report.String(), "FAIL") {
			t.Errorf("report:\n%s", report.String())
		}
	})
}

// TestRequestTable: every request the table makes names an IAM action AWS
// has, a resource of one of its resource types and condition keys it takes,
// per AWS's service authorization data.
func TestRequestTable(t *testing.T) {
	sim := simulator(t)
	tmpl, _ := sample(t)
	reqs := iamcheck.TableSamples(tmpl)
	if len(reqs) < 15 {
		t.Fatalf("only %d sample requests", len(reqs))
	}
	errs, err := sim.Describe(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != "" {
			t.Errorf("%s on %s: %s", reqs[i].Action, reqs[i].Resource, e)
		}
	}
}
