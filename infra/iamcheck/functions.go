package iamcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/handoff-health/handoff/infra/cfnyaml"
)

// Function is one function of the template as the deployment has it: its
// role, its environment and what invokes it.
type Function struct {
	ID      string // logical id, e.g. IntakeFunction
	Role    string // logical id of its AWS::IAM::Role
	RoleArn string
	// Env is its environment: the Globals' variables and its own, resolved.
	Env map[string]string
	// Routes are its HttpApi routes.
	Routes []Route
	// Streams are the logical ids of the tables whose stream invokes it.
	Streams []string
	// StreamArns are those streams' ARNs.
	StreamArns []string
	// Topics are the logical ids of the SNS topics it is subscribed to.
	Topics []string
	// Schedules are the inputs of its Schedule events, as written.
	Schedules []string
	// LogGroup is the name of the log group it writes to.
	LogGroup string
	// FailureQueues are the ARNs of the SQS queues Lambda sends failed
	// invocations and stream batches to.
	FailureQueues []string
}

// Route is an HttpApi route: a method (or ANY) and a path template with
// {name} and {name+} variables.
type Route struct {
	Method, Path string
}

func (r Route) String() string { return r.Method + " " + r.Path }

// Functions are the template's functions, which tell which function serves
// a request or an event (see ForRoute, ForStream, ForTopic, ForSchedule).
type Functions []Function

// Functions returns the functions the deployment has, sorted by logical id.
// It returns an error when a function's role, environment or events cannot
// be resolved.
func (t *Template) Functions() (Functions, error) {
	var out Functions
	for _, id := range t.Resources("AWS::Serverless::Function") {
		f, err := t.function(id)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func (t *Template) function(id string) (Function, error) {
	f := Function{ID: id, Env: map[string]string{}}
	f.Role = target(t.Property(id, "Role"))
	if t.TypeOf(f.Role) != "AWS::IAM::Role" {
		return f, errors.New("its Role is not a GetAtt of an AWS::IAM::Role of the template")
	}
	arn, err := t.ResolveString(t.Property(id, "Role"))
	if err != nil {
		return f, err
	}
	f.RoleArn = arn
	vars := maps.Clone(cfnyaml.Map(cfnyaml.Dig(t.doc, "Globals", "Function", "Environment", "Variables")))
	if vars == nil {
		vars = map[string]any{}
	}
	maps.Copy(vars, cfnyaml.Map(t.Property(id, "Environment", "Variables")))
	for k, v := range vars {
		s, err := t.ResolveString(v)
		if err != nil {
			return f, fmt.Errorf("environment %s: %w", k, err)
		}
		f.Env[k] = s
	}
	if lg := t.Property(id, "LoggingConfig", "LogGroup"); lg != nil {
		if f.LogGroup, err = t.ResolveString(lg); err != nil {
			return f, err
		}
	} else {
		f.LogGroup = "/aws/lambda/" + id
	}
	queue := func(dest any) error {
		if dest == nil {
			return nil
		}
		d, err := t.ResolveString(dest)
		if err != nil {
			return err
		}
		if !strings.Contains(d, ":sqs:") {
			return fmt.Errorf("failure destination %s: only SQS queues are modelled", d)
		}
		if !slices.Contains(f.FailureQueues, d) {
			f.FailureQueues = append(f.FailureQueues, d)
		}
		return nil
	}
	if err := queue(t.Property(id, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination")); err != nil {
		return f, err
	}
	names := slices.Sorted(maps.Keys(cfnyaml.Map(t.Property(id, "Events"))))
	for _, name := range names {
		ev := cfnyaml.Map(cfnyaml.Map(t.Property(id, "Events"))[name])
		props := cfnyaml.Map(ev["Properties"])
		switch typ := cfnyaml.String(ev["Type"]); typ {
		case "HttpApi":
			f.Routes = append(f.Routes, Route{Method: strings.ToUpper(cfnyaml.String(props["Method"])), Path: cfnyaml.String(props["Path"])})
		case "DynamoDB":
			table := target(props["Stream"])
			stream, err := t.ResolveString(props["Stream"])
			if err != nil {
				return f, fmt.Errorf("event %s: %w", name, err)
			}
			f.Streams = append(f.Streams, table)
			f.StreamArns = append(f.StreamArns, stream)
			if err := queue(cfnyaml.Dig(props, "DestinationConfig", "OnFailure", "Destination")); err != nil {
				return f, fmt.Errorf("event %s: %w", name, err)
			}
		case "SNS":
			f.Topics = append(f.Topics, target(props["Topic"]))
		case "Schedule", "ScheduleV2":
			f.Schedules = append(f.Schedules, cfnyaml.String(props["Input"]))
		default:
			return f, fmt.Errorf("event %s: type %s is not modelled (which calls does Lambda make for it?)", name, typ)
		}
	}
	return f, nil
}

// ByID returns the function with logical id id.
func (fs Functions) ByID(id string) (Function, bool) {
	for _, f := range fs {
		if f.ID == id {
			return f, true
		}
	}
	return Function{}, false
}

// ForRoute returns the function API Gateway would invoke for a request, as
// an HTTP API selects its route: the most specific path (literal segments
// before variables, a greedy {proxy+} last), then a route of the request's
// method before ANY. HEAD falls back to GET. It returns "" when no route
// matches (API Gateway would answer 404 itself).
func (fs Functions) ForRoute(method, path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	best, bestScore := "", -1
	for _, f := range fs {
		for _, r := range f.Routes {
			score, ok := r.match(method, segs)
			if ok && score > bestScore {
				best, bestScore = f.ID, score
			}
		}
	}
	return best
}

// match reports whether the route takes a request, and how specifically.
func (r Route) match(method string, segs []string) (int, bool) {
	methodScore := 0
	switch {
	case r.Method == method:
		methodScore = 2
	case method == http.MethodHead && r.Method == http.MethodGet:
		methodScore = 1
	case r.Method == "ANY":
	default:
		return 0, false
	}
	pat := strings.Split(strings.Trim(r.Path, "/"), "/")
	literals, greedy := 0, false
	for i, p := range pat {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}") {
			if i != len(pat)-1 || len(segs) <= i {
				return 0, false
			}
			greedy = true
			break
		}
		if i >= len(segs) {
			return 0, false
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return 0, false
			}
			continue
		}
		if p != segs[i] {
			return 0, false
		}
		literals++
	}
	if !greedy && len(pat) != len(segs) {
		return 0, false
	}
	score := literals*10 + methodScore
	if !greedy {
		score += 1000
	}
	return score, true
}

// ForStream returns the function the stream of table (a logical id) invokes.
func (fs Functions) ForStream(table string) string {
	for _, f := range fs {
		if slices.Contains(f.Streams, table) {
			return f.ID
		}
	}
	return ""
}

// ForTopic returns the function subscribed to an SNS topic (a logical id).
func (fs Functions) ForTopic(topic string) string {
	for _, f := range fs {
		if slices.Contains(f.Topics, topic) {
			return f.ID
		}
	}
	return ""
}

// ForSchedule returns the function a schedule invokes with input (JSON,
// compared by value).
func (fs Functions) ForSchedule(input string) string {
	var want any
	if json.Unmarshal([]byte(input), &want) != nil {
		return ""
	}
	for _, f := range fs {
		for _, s := range f.Schedules {
			var got any
			if json.Unmarshal([]byte(s), &got) == nil && fmt.Sprint(got) == fmt.Sprint(want) {
				return f.ID
			}
		}
	}
	return ""
}

// Environment returns every variable any function gets, resolved: what one
// process serving every function (the test harness, the local stack) is
// configured with.
func (fs Functions) Environment() map[string]string {
	env := map[string]string{}
	for _, f := range fs {
		maps.Copy(env, f.Env)
	}
	return env
}

type functionKey struct{}

// WithFunction returns ctx marked as running function fn's code (a logical
// id): the AWS calls made with it are the function's.
func WithFunction(ctx context.Context, fn string) context.Context {
	return context.WithValue(ctx, functionKey{}, fn)
}

// FunctionOf returns the function ctx runs the code of, or "".
func FunctionOf(ctx context.Context) string {
	fn, _ := ctx.Value(functionKey{}).(string)
	return fn
}

// unroutedPrefix marks, in place of a function, a request that no route of
// the template takes: AWS calls made for it would have no function to make
// them in AWS.
const unroutedPrefix = "no route: "

// Handler marks each request's context with the function the template
// routes it to (see ForRoute), so that the AWS calls made while serving it
// are attributed to that function. A request no route takes is marked as
// such, and a call made for it is reported by the check.
func (fs Functions) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// API Gateway routes on the path as sent, still escaped (an id
		// with "%2F" in it is one segment).
		p := r.URL.EscapedPath()
		fn := fs.ForRoute(r.Method, p)
		if fn == "" {
			fn = unroutedPrefix + r.Method + " " + shortSegments(p)
		}
		next.ServeHTTP(w, r.WithContext(WithFunction(r.Context(), fn)))
	})
}

var sampleCache sync.Map // template path → *sampled

type sampled struct {
	once sync.Once
	t    *Template
	fns  Functions
	err  error
}

// LoadSample reads the template at path for the Sample deployment and its
// functions, once per process and path.
func LoadSample(path string) (*Template, Functions, error) {
	v, _ := sampleCache.LoadOrStore(path, &sampled{})
	s := v.(*sampled)
	s.once.Do(func() {
		s.t, s.err = Load(path, Sample)
		if s.err == nil {
			s.fns, s.err = s.t.Functions()
		}
	})
	return s.t, s.fns, s.err
}

// shortSegments cuts long path segments (tokens, hostile test ids) so that a
// path reported as unrouted is short and names no token.
func shortSegments(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if len(s) > 24 {
			segs[i] = s[:8] + "…"
		}
	}
	return strings.Join(segs, "/")
}
