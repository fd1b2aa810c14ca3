package iamcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go/middleware"

	"github.com/handoff-health/handoff/infra/cfnyaml"
)

// Call is one IAM request an AWS call made, and who made it.
type Call struct {
	// Function is the logical id of the function whose code made the call,
	// "" for a call made outside any function (a test's own setup), or
	// "no route: …" for one made serving a request no route takes.
	Function string `json:"function"`
	// Via is the SDK operation, e.g. DynamoDB.TransactWriteItems.
	Via string `json:"via"`
	Request
}

func (c Call) key() string {
	b, _ := json.Marshal(c)
	return string(b)
}

func (c Call) String() string {
	s := fmt.Sprintf("%s %s on %s", c.Function, c.Action, c.Resource)
	for _, k := range sortedKeys(c.Context) {
		s += fmt.Sprintf(" [%s=%s]", k, strings.Join(c.Context[k], ","))
	}
	return s + " (" + c.Via + ")"
}

// CallsDirVariable names the directory every test process writes the calls
// it recorded to (one file per process), when set: `make test` sets it and
// then checks the whole suite's calls (infra/cmd/iamcheck).
const CallsDirVariable = "HANDOFF_AWS_CALLS"

// Recorder keeps the distinct IAM requests the AWS SDK clients it is
// installed on make, each attributed to the function in the call's context
// (see WithFunction). It is safe for concurrent use.
type Recorder struct {
	arns arnMaker
	keys keySchemas

	mu    sync.Mutex
	from  map[string]string // see SendsAs
	seen  map[string]bool
	calls []Call
	file  *os.File
	err   error
}

// NewRecorder returns a recorder that keeps calls in memory, reading the
// tables' key schemas from t (for dynamodb:LeadingKeys) and building ARNs in
// t's deployment's account.
func NewRecorder(t *Template) *Recorder {
	d := t.Deployment()
	r := &Recorder{arns: d.arns(), keys: keySchemas{}, seen: map[string]bool{}}
	for _, id := range t.Resources("AWS::DynamoDB::Table") {
		name, err := t.ResolveString(map[string]any{"Ref": id})
		if err != nil {
			continue
		}
		r.keys[name] = map[string]string{"": hashKey(t.Property(id, "KeySchema"))}
		for _, ix := range cfnyaml.List(t.Property(id, "GlobalSecondaryIndexes")) {
			r.keys[name][cfnyaml.String(cfnyaml.Map(ix)["IndexName"])] = hashKey(cfnyaml.Map(ix)["KeySchema"])
		}
	}
	return r
}

func hashKey(schema any) string {
	for _, k := range cfnyaml.List(schema) {
		if cfnyaml.String(cfnyaml.Map(k)["KeyType"]) == "HASH" {
			return cfnyaml.String(cfnyaml.Map(k)["AttributeName"])
		}
	}
	return ""
}

var (
	processMu  sync.Mutex
	processRec = map[string]*Recorder{}
)

// ProcessRecorder returns this process's recorder for the template at path
// (one per path): it keeps the calls in memory and, when the environment
// variable CallsDirVariable names a directory, also appends each new call
// to a file of its own there.
func ProcessRecorder(path string) (*Recorder, error) {
	processMu.Lock()
	defer processMu.Unlock()
	if r, ok := processRec[path]; ok {
		return r, nil
	}
	t, _, err := LoadSample(path)
	if err != nil {
		return nil, err
	}
	r := NewRecorder(t)
	if dir := os.Getenv(CallsDirVariable); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		exe := filepath.Base(os.Args[0])
		f, err := os.CreateTemp(dir, strings.TrimSuffix(exe, ".test")+"-*.jsonl")
		if err != nil {
			return nil, err
		}
		r.file = f
	}
	processRec[path] = r
	return r, nil
}

// APIOption is the SDK option that records every call of a client: add it
// to aws.Config.APIOptions, or to a client's Options.APIOptions. A call is
// recorded before it is sent, whatever its outcome.
func (r *Recorder) APIOption(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("handoffRecordIAM",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			r.record(ctx, in.Parameters)
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// SendsAs records the emails sent from address test (a test's own sender,
// which keeps its mail apart in a shared SES emulator) as sent from
// deployed, the address the deployment sends from: the sending identity and
// ses:FromAddress are then those of the deployment. Only an exact address is
// mapped, and only the sender.
func (r *Recorder) SendsAs(test, deployed string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from == nil {
		r.from = map[string]string{}
	}
	r.from[strings.ToLower(test)] = deployed
}

func (r *Recorder) record(ctx context.Context, params any) {
	a := r.arns
	if region := awsmiddleware.GetRegion(ctx); region != "" {
		a.region = region
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if in, ok := params.(*sesv2.SendEmailInput); ok && in.FromEmailAddress != nil {
		if addr, err := mail.ParseAddress(*in.FromEmailAddress); err == nil {
			if deployed, ok := r.from[strings.ToLower(addr.Address)]; ok {
				c := *in
				c.FromEmailAddress = &deployed
				params = &c
			}
		}
	}
	via, reqs := requestsOf(a, r.keys, params)
	fn := FunctionOf(ctx)
	for _, q := range reqs {
		c := Call{Function: fn, Via: via, Request: q}
		k := c.key()
		if r.seen[k] {
			continue
		}
		r.seen[k] = true
		r.calls = append(r.calls, c)
		if r.file != nil && r.err == nil {
			_, r.err = r.file.WriteString(k + "\n")
		}
	}
}

// Calls returns the distinct calls recorded so far, in the order first made.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Since returns the calls recorded after the first n (see Len).
func (r *Recorder) Since(n int) []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls[min(n, len(r.calls)):])
}

// Len returns how many distinct calls were recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// Err returns the first error writing the calls' file.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// ReadCalls reads every calls file (*.jsonl) in dir, distinct calls once.
func ReadCalls(dir string) ([]Call, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []Call
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(data)) {
			line = strings.TrimSpace(line)
			if line == "" || seen[line] {
				continue
			}
			var c Call
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			seen[line] = true
			out = append(out, c)
		}
	}
	return out, nil
}
