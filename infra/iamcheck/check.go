package iamcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/handoff-health/handoff/infra/cfnyaml"
)

// Grant is one action on one resource that a statement of a function's role
// allows.
type Grant struct {
	Role      string // logical id of the role
	Source    string // logical id of the resource the statement is written in (the role, or an AWS::IAM::Policy)
	Policy    string // its policy's name
	Sid       string
	Statement int // position in its policy, from 0
	Action    string
	Resource  string
	// Reason is why the grant is kept although no recorded call used it
	// (from the template's UnusedGrants metadata).
	Reason string
}

func (g Grant) String() string {
	sid := g.Sid
	if sid == "" {
		sid = fmt.Sprintf("statement %d", g.Statement)
	}
	return fmt.Sprintf("%s (%s, %s): %s on %s", g.Role, g.Source, sid, g.Action, g.Resource)
}

// Decision is the simulator's answer for one call.
type Decision struct {
	Call
	Role   string
	Result string // Allowed, ImplicitlyDenied, ExplicitlyDenied, Error
	Error  string
}

func (d Decision) String() string {
	s := d.Call.String()
	if d.Error != "" {
		return fmt.Sprintf("%s: %s", s, d.Error)
	}
	return fmt.Sprintf("%s: %s by %s", s, d.Result, d.Role)
}

// FunctionCalls sums up one function's requests.
type FunctionCalls struct {
	Function string
	Role     string
	// Code is the function's own calls, Service the Lambda service's with
	// the role (logs, stream reads, failure destinations): distinct
	// action × resource pairs each.
	Code, Service int
}

// Result is what the check found.
type Result struct {
	Functions []FunctionCalls
	// Denied are calls the role does not allow; Invalid are requests the
	// simulator refused as malformed (an action AWS does not have, a
	// resource none of its resource types).
	Denied, Invalid []Decision
	// Unmapped are calls of an operation the request table does not know;
	// Unrouted are calls made serving a request no route of the template
	// takes.
	Unmapped, Unrouted []Call
	// Outside counts calls made outside any function (tests' own setup).
	Outside int
	// Evaluated counts the requests the simulator evaluated: each distinct
	// call (with its condition keys) of each function, and the Lambda
	// service's.
	Evaluated int
	// Unused are grants no call used and the template gives no reason for;
	// Kept are those it gives a reason for.
	Unused, Kept []Grant
	// StaleReasons are UnusedGrants entries that name no unused grant.
	StaleReasons []string
}

// Failures returns one line per finding that fails the check.
func (r Result) Failures() []string {
	var out []string
	for _, d := range r.Denied {
		out = append(out, "denied: "+d.String())
	}
	for _, d := range r.Invalid {
		out = append(out, "not a valid request: "+d.String())
	}
	for _, c := range r.Unmapped {
		out = append(out, fmt.Sprintf("%s calls %s, which the IAM check's request table (infra/iamcheck/requests.go) does not map", c.Function, c.Via))
	}
	for _, c := range r.Unrouted {
		out = append(out, fmt.Sprintf("%s (%s) — serving a request no route of template.yaml takes, so no function would make it", c.Call(), c.Via))
	}
	for _, g := range r.Unused {
		out = append(out, "unused grant: "+g.String()+" — no recorded call used it: remove it, or say why it stays in "+g.Source+"'s Metadata UnusedGrants")
	}
	for _, s := range r.StaleReasons {
		out = append(out, "stale reason: "+s)
	}
	return out
}

// Call renders a call for a message (method kept, function dropped).
func (c Call) Call() string { return fmt.Sprintf("%s %s on %s", c.Function, c.Action, c.Resource) }

// Simulator evaluates IAM requests (see NodeSimulator).
type Simulator interface {
	Simulate(ctx context.Context, in SimInput) ([]SimResult, error)
}

// SimInput is what the simulator is asked.
type SimInput struct {
	Mode             string                    `json:"mode"`
	Policies         map[string][]NamedPolicy  `json:"policies,omitempty"`
	ResourcePolicies map[string]map[string]any `json:"resourcePolicies,omitempty"`
	Jobs             []SimJob                  `json:"jobs,omitempty"`
	Checks           []Request                 `json:"checks,omitempty"`
}

// NamedPolicy is an identity policy by name.
type NamedPolicy struct {
	Name   string         `json:"name"`
	Policy map[string]any `json:"policy"`
}

// SimJob is one request by one principal.
type SimJob struct {
	Principal      string              `json:"principal"`
	Policies       string              `json:"policies"`
	Action         string              `json:"action"`
	Resource       string              `json:"resource"`
	Account        string              `json:"account"`
	Context        map[string][]string `json:"context,omitempty"`
	ResourcePolicy string              `json:"resourcePolicy,omitempty"`
}

// SimResult is the simulator's answer to a job (or a describe check).
type SimResult struct {
	Result string     `json:"result"`
	Error  string     `json:"error"`
	Allows []SimAllow `json:"allows"`
}

// SimAllow is one identity statement that allowed a request.
type SimAllow struct {
	Policy    string   `json:"policy"`
	Index     int      `json:"index"`
	Actions   []string `json:"actions"`
	Resources []string `json:"resources"`
}

// policy is one identity policy of a role, resolved.
type policy struct {
	source, name string
	doc          map[string]any
}

// rolePolicies returns a role's inline policies and the AWS::IAM::Policy
// resources attached to it, resolved for the deployment.
func (t *Template) rolePolicies(role string) ([]policy, error) {
	var out []policy
	for _, p := range cfnyaml.List(t.Property(role, "Policies")) {
		doc, err := t.Resolve(cfnyaml.Map(p)["PolicyDocument"])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", role, err)
		}
		out = append(out, policy{source: role, name: cfnyaml.String(cfnyaml.Map(p)["PolicyName"]), doc: cfnyaml.Map(doc)})
	}
	if t.Property(role, "ManagedPolicyArns") != nil {
		return nil, fmt.Errorf("%s: managed policies cannot be checked here; write the statements in the template", role)
	}
	for _, id := range t.Resources("AWS::IAM::Policy") {
		attached := false
		for _, r := range cfnyaml.List(t.Property(id, "Roles")) {
			attached = attached || target(r) == role
		}
		if !attached {
			continue
		}
		doc, err := t.Resolve(t.Property(id, "PolicyDocument"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		out = append(out, policy{source: id, name: cfnyaml.String(t.Property(id, "PolicyName")), doc: cfnyaml.Map(doc)})
	}
	return out, nil
}

// serviceCalls are the calls the Lambda service makes with a function's
// role: it creates the function's log streams and writes its logs, reads
// the streams that invoke it, and sends failed invocations and stream
// batches to the function's failure queues. (The DynamoDB event source
// reads a stream with DescribeStream, GetShardIterator and GetRecords; it
// needs no dynamodb:ListStreams, which IAM grants only on "*".)
func (t *Template) serviceCalls(f Function) []Call {
	d := t.Deployment()
	var out []Call
	add := func(via, action, resource string) {
		out = append(out, Call{Function: f.ID, Via: via, Request: Request{Action: action, Resource: resource}})
	}
	stream := d.arns().arn("logs", "log-group:"+f.LogGroup+":log-stream:2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef")
	add("Lambda (function logs)", "logs:CreateLogStream", stream)
	add("Lambda (function logs)", "logs:PutLogEvents", stream)
	for _, s := range f.StreamArns {
		for _, a := range []string{"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"} {
			add("Lambda (DynamoDB stream event source)", a, s)
		}
	}
	for _, q := range f.FailureQueues {
		add("Lambda (on-failure destination)", "sqs:SendMessage", q)
	}
	return out
}

// keyPolicies returns the key policy of every KMS key, by key ARN, and the
// key ARN of every alias ARN.
func (t *Template) keyPolicies() (map[string]map[string]any, map[string]string, error) {
	policies := map[string]map[string]any{}
	aliases := map[string]string{}
	a := t.Deployment().arns()
	for _, id := range t.Resources("AWS::KMS::Key") {
		arn, err := t.ResolveString(map[string]any{"Fn::GetAtt": []any{id, "Arn"}})
		if err != nil {
			return nil, nil, err
		}
		doc, err := t.Resolve(t.Property(id, "KeyPolicy"))
		if err != nil {
			return nil, nil, fmt.Errorf("%s KeyPolicy: %w", id, err)
		}
		policies[arn] = cfnyaml.Map(doc)
	}
	for _, id := range t.Resources("AWS::KMS::Alias") {
		name, err := t.ResolveString(t.Property(id, "AliasName"))
		if err != nil {
			return nil, nil, err
		}
		key, err := t.ResolveString(t.Property(id, "TargetKeyId"))
		if err != nil {
			return nil, nil, err
		}
		aliases[a.kmsKey(name)] = a.kmsKey(key)
	}
	return policies, aliases, nil
}

// Check evaluates every call each function's code made, and the calls the
// Lambda service makes with each function's role, against that role in the
// template (and, for KMS keys, the key's policy); then lists the role
// grants that no call used. calls are what Recorders recorded (calls of
// functions the template does not have are reported as denied). It returns
// an error when the template cannot be resolved or the simulator fails.
func Check(ctx context.Context, t *Template, calls []Call, sim Simulator) (Result, error) {
	var res Result
	fns, err := t.Functions()
	if err != nil {
		return res, err
	}
	keys, aliases, err := t.keyPolicies()
	if err != nil {
		return res, err
	}
	d := t.Deployment()
	in := SimInput{Mode: "simulate", Policies: map[string][]NamedPolicy{}, ResourcePolicies: keys}
	type grantKey struct {
		role, policy     string
		index            int
		action, resource string
	}
	policies := map[string][]policy{}
	for _, f := range fns {
		if _, done := policies[f.Role]; done {
			continue
		}
		ps, err := t.rolePolicies(f.Role)
		if err != nil {
			return res, err
		}
		policies[f.Role] = ps
		for _, p := range ps {
			in.Policies[f.Role] = append(in.Policies[f.Role], NamedPolicy{Name: p.source + "/" + p.name, Policy: p.doc})
		}
	}
	var all []Call
	for _, c := range calls {
		switch {
		case c.Function == "":
			res.Outside++
		case strings.HasPrefix(c.Function, unroutedPrefix):
			res.Unrouted = append(res.Unrouted, c)
		case c.Action == "":
			res.Unmapped = append(res.Unmapped, c)
		default:
			all = append(all, c)
		}
	}
	for _, f := range fns {
		fc := FunctionCalls{Function: f.ID, Role: f.Role}
		pairs := map[string]bool{}
		for _, c := range all {
			if c.Function == f.ID {
				pairs[c.Action+" "+c.Resource] = true
			}
		}
		fc.Code = len(pairs)
		svc := t.serviceCalls(f)
		fc.Service = len(svc)
		all = append(all, svc...)
		res.Functions = append(res.Functions, fc)
	}
	var jobs []Call
	var roles []string
	for _, c := range all {
		f, ok := fns.ByID(c.Function)
		if !ok {
			res.Denied = append(res.Denied, Decision{Call: c, Result: "NoSuchFunction", Error: "template.yaml has no function " + c.Function})
			continue
		}
		resource := c.Resource
		if k, ok := aliases[resource]; ok {
			resource = k
		}
		job := SimJob{Principal: f.RoleArn, Policies: f.Role, Action: c.Action, Resource: resource, Account: d.Account, Context: c.Context}
		if _, ok := keys[resource]; ok {
			job.ResourcePolicy = resource
		}
		in.Jobs = append(in.Jobs, job)
		jobs = append(jobs, c)
		roles = append(roles, f.Role)
	}
	used := map[grantKey]bool{}
	res.Evaluated = len(in.Jobs)
	if len(in.Jobs) > 0 {
		out, err := sim.Simulate(ctx, in)
		if err != nil {
			return res, err
		}
		if len(out) != len(in.Jobs) {
			return res, fmt.Errorf("the simulator answered %d of %d requests", len(out), len(in.Jobs))
		}
		for i, o := range out {
			dec := Decision{Call: jobs[i], Role: roles[i], Result: o.Result, Error: o.Error}
			switch o.Result {
			case "Allowed":
				for _, a := range o.Allows {
					for _, act := range a.Actions {
						for _, r := range a.Resources {
							used[grantKey{roles[i], a.Policy, a.Index, act, r}] = true
						}
					}
				}
			case "Error":
				res.Invalid = append(res.Invalid, dec)
			default:
				res.Denied = append(res.Denied, dec)
			}
		}
	}
	// The other way round: every action × resource of every Allow statement
	// of every function's role, unless a call used it.
	seenRole := map[string]bool{}
	reasonsUsed := map[string]bool{}
	for _, f := range fns {
		if seenRole[f.Role] {
			continue
		}
		seenRole[f.Role] = true
		for _, p := range policies[f.Role] {
			reasons, err := unusedReasons(t, p.source)
			if err != nil {
				return res, err
			}
			for i, st := range cfnyaml.List(p.doc["Statement"]) {
				s := cfnyaml.Map(st)
				if cfnyaml.String(s["Effect"]) != "Allow" {
					continue
				}
				for _, a := range cfnyaml.List(s["Action"]) {
					for _, r := range cfnyaml.List(s["Resource"]) {
						g := Grant{Role: f.Role, Source: p.source, Policy: p.name, Sid: cfnyaml.String(s["Sid"]), Statement: i, Action: cfnyaml.String(a), Resource: cfnyaml.String(r)}
						if used[grantKey{f.Role, p.source + "/" + p.name, i, g.Action, g.Resource}] {
							continue
						}
						if j := reasonFor(reasons, g); j >= 0 {
							g.Reason = reasons[j].Reason
							reasonsUsed[p.source+"#"+fmt.Sprint(j)] = true
							res.Kept = append(res.Kept, g)
							continue
						}
						res.Unused = append(res.Unused, g)
					}
				}
			}
			for j, r := range reasons {
				if !reasonsUsed[p.source+"#"+fmt.Sprint(j)] {
					res.StaleReasons = append(res.StaleReasons, fmt.Sprintf("%s's UnusedGrants entry %d (%s %s) names no unused grant; remove it", p.source, j, r.Sid, r.Action))
				}
			}
		}
	}
	return res, nil
}

// UnusedReason is one entry of a role's (or policy's) Metadata
// UnusedGrants: a grant no recorded call uses, and why it is kept.
type UnusedReason struct {
	Sid    string `json:"Sid"`
	Action string `json:"Action"`
	// Resource, when set, narrows the entry to the statement's resources
	// whose ARN contains it.
	Resource string `json:"Resource"`
	Reason   string `json:"Reason"`
}

func unusedReasons(t *Template, source string) ([]UnusedReason, error) {
	raw := t.Metadata(source, "UnusedGrants")
	if raw == nil {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var out []UnusedReason
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s Metadata UnusedGrants: %w", source, err)
	}
	for i, r := range out {
		if r.Sid == "" || r.Action == "" || strings.TrimSpace(r.Reason) == "" {
			return nil, fmt.Errorf("%s Metadata UnusedGrants entry %d: Sid, Action and Reason are required", source, i)
		}
	}
	return out, nil
}

func reasonFor(reasons []UnusedReason, g Grant) int {
	return slices.IndexFunc(reasons, func(r UnusedReason) bool {
		return r.Sid == g.Sid && r.Action == g.Action && (r.Resource == "" || strings.Contains(g.Resource, r.Resource))
	})
}

// Report writes the result for a person: per function, the calls checked;
// the grants kept with their reasons; and every failure.
func (r Result) Report(w io.Writer) {
	fmt.Fprintln(w, "IAM check: every recorded AWS call against its function's role in template.yaml")
	fmt.Fprintf(w, "  %-20s %-16s %12s %16s\n", "function", "role", "code calls", "Lambda service")
	for _, f := range r.Functions {
		fmt.Fprintf(w, "  %-20s %-16s %12d %16d\n", f.Function, f.Role, f.Code, f.Service)
	}
	fmt.Fprintln(w, "  (distinct action × resource pairs; calls made outside any function, by tests' own setup:", r.Outside, "distinct)")
	fmt.Fprintf(w, "  %d requests evaluated (each distinct call with its condition keys, and the Lambda service's)\n", r.Evaluated)
	if len(r.Kept) > 0 {
		fmt.Fprintln(w, "grants no recorded call used, kept for the reason the template gives:")
		for _, g := range r.Kept {
			fmt.Fprintf(w, "  %s\n      %s\n", g, g.Reason)
		}
	}
	fails := r.Failures()
	if len(fails) == 0 {
		fmt.Fprintln(w, "ok: 0 denied, 0 unused grants without a reason")
		return
	}
	fmt.Fprintf(w, "FAIL: %d finding(s)\n", len(fails))
	for _, f := range fails {
		fmt.Fprintln(w, "  "+f)
	}
}
