package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dispatch"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/ses"
)

// Fault kinds, as DynamoFaults.Injected and SESFaults.Injected count them.
const (
	FaultDynamoInternal = "dynamodb 500 InternalServerError"
	FaultDynamoThrottle = "dynamodb 400 ProvisionedThroughputExceededException"
	FaultSESInternal    = "ses 500 InternalFailure"
	FaultSESThrottle    = "ses 429 TooManyRequestsException"
	FaultSESRejected    = "ses 400 MessageRejected (unverified recipient)"
)

// fastRetryer is the SDK's standard retryer (three attempts, the retry quota
// of its token bucket) with its back-off shortened to milliseconds, so that
// tests under injected faults do not sleep for real seconds.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
			return time.Duration(attempt) * time.Millisecond, nil
		})
	})
}

// faultDice is a seeded random source shared by concurrent requests.
type faultDice struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newDice(seed uint64) *faultDice {
	return &faultDice{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// roll returns a number in [0, 1).
func (d *faultDice) roll() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.Float64()
}

// faults is what both fault fronts keep: the seeded dice, the share of calls
// refused, and how many faults of each kind were injected. Its mutex also
// guards the fields of the front that embeds it.
type faults struct {
	dice *faultDice

	mu       sync.Mutex
	rate     float64
	injected map[string]int
}

func newFaults(seed uint64, rate float64) faults {
	return faults{dice: newDice(seed), rate: rate, injected: map[string]int{}}
}

// SetRate changes the share of calls refused (0 turns faults off).
func (f *faults) SetRate(rate float64) {
	f.mu.Lock()
	f.rate = rate
	f.mu.Unlock()
}

// Injected returns how many faults of each kind were injected so far.
func (f *faults) Injected() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.injected)
}

// refuse rolls the dice against the current rate.
func (f *faults) refuse() bool {
	f.mu.Lock()
	rate := f.rate
	f.mu.Unlock()
	return rate > 0 && f.dice.roll() < rate
}

func (f *faults) count(kind string) {
	f.mu.Lock()
	f.injected[kind]++
	f.mu.Unlock()
}

// FailedCall is a DynamoDB call that failed for the core after the SDK's own
// retries: what the code above the client had to cope with.
type FailedCall struct {
	Operation string // e.g. "TransactWriteItems"
	// LedgerKey is the effect key (event id and effect name) of a write to a
	// LEDGER# item, or "".
	LedgerKey string
	// Killed is set when the call failed because its caller's context ended
	// (a killed sweep), not because of an injected fault.
	Killed bool
}

// DynamoFaults sits in front of the harness's embedded DynamoDB and answers a
// share of the core's calls with the errors DynamoDB gives under trouble: a
// 500 InternalServerError or a 400 ProvisionedThroughputExceededException. A
// refused call never reaches the tables. The core's three stores get a client
// pointed at it, with the SDK's standard retryer.
type DynamoFaults struct {
	// Counter counts the core's calls through the faulty client by
	// operation (each call once, after the SDK's retries).
	Counter *dynamo.Counter

	faults
	calls  int
	failed []FailedCall
	// lostResponse, when set for an operation, applies the call and then
	// answers 500, as when DynamoDB's answer is lost after the write.
	lostResponse map[string]int
}

// InjectDynamoFaults points the core's stores at a faulty front of the
// embedded DynamoDB, refusing a seeded-random share rate (0 to 1) of calls.
// The harness's own client, h.DB.Client, still reaches the tables directly.
func (h *Harness) InjectDynamoFaults(seed uint64, rate float64) *DynamoFaults {
	f := &DynamoFaults{Counter: &dynamo.Counter{}, faults: newFaults(seed, rate), lostResponse: map[string]int{}}
	srv := httptest.NewUnstartedServer(f.handler(h.DB.Server))
	// The embedded server complains when a killed caller hangs up mid-answer.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	h.T.Cleanup(srv.Close)
	client := dynamotest.Client(srv.URL, f.Counter.Middleware(), func(o *dynamodb.Options) {
		o.Retryer = fastRetryer()
		o.APIOptions = append(o.APIOptions, f.recordFailures)
		o.APIOptions = append(o.APIOptions, h.awsOptions...)
	})
	h.App.Referrals.DB = client
	h.App.Clinics.DB = client
	h.App.Directory.DB = client
	return f
}

// LoseResponses makes the next n calls of an operation (e.g.
// "TransactWriteItems") be applied and then answered with a 500, as when
// DynamoDB's answer is lost on the way back.
func (f *DynamoFaults) LoseResponses(operation string, n int) {
	f.mu.Lock()
	f.lostResponse[operation] = n
	f.mu.Unlock()
}

// Calls returns how many requests reached the faulty front.
func (f *DynamoFaults) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Failed returns the calls that failed for the core after the SDK's retries,
// and those a killed sweep abandoned.
func (f *DynamoFaults) Failed() []FailedCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FailedCall(nil), f.failed...)
}

func (f *DynamoFaults) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndexByte(op, '.'); i >= 0 {
			op = op[i+1:]
		}
		f.mu.Lock()
		f.calls++
		lose := f.lostResponse[op] > 0
		if lose {
			f.lostResponse[op]--
		}
		f.mu.Unlock()
		if lose {
			next.ServeHTTP(httptest.NewRecorder(), r)
			f.count(FaultDynamoInternal)
			writeDynamoError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
			return
		}
		if f.refuse() {
			_, _ = io.Copy(io.Discard, r.Body)
			if f.dice.roll() < 0.5 {
				f.count(FaultDynamoInternal)
				writeDynamoError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
			} else {
				f.count(FaultDynamoThrottle)
				writeDynamoError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException",
					"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeDynamoError answers as DynamoDB's JSON protocol does.
func writeDynamoError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-RequestId", "FAULT0000000000000000000000000000000000000000000000000")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"__type":  "com.amazonaws.dynamodb.v20120810#" + code,
		"message": msg,
	})
}

// recordFailures adds SDK middleware that notes every call that still failed
// after the retryer gave up, or that its killed caller abandoned.
func (f *DynamoFaults) recordFailures(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("handoffFaultRecord",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			killed := ctx.Err() != nil
			if err != nil && (killed || injectedError(err)) {
				fc := FailedCall{Operation: middleware.GetOperationName(ctx), LedgerKey: ledgerKeyOf(in.Parameters), Killed: killed}
				f.mu.Lock()
				f.failed = append(f.failed, fc)
				f.mu.Unlock()
			}
			return out, md, err
		}), middleware.After)
}

// injectedError reports whether err is one of the errors DynamoFaults
// answers (not, say, a failed condition, which is the core's business).
func injectedError(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "InternalServerError", "ProvisionedThroughputExceededException":
		return true
	}
	return false
}

// ledgerKeyOf returns the effect key of a write to a ledger item: an
// UpdateItem, PutItem or DeleteItem of one, or a transaction that records
// one done with the counts of its effect.
func ledgerKeyOf(params any) string {
	var k map[string]types.AttributeValue
	switch in := params.(type) {
	case *dynamodb.UpdateItemInput:
		k = in.Key
	case *dynamodb.PutItemInput:
		k = in.Item
	case *dynamodb.DeleteItemInput:
		k = in.Key
	case *dynamodb.TransactWriteItemsInput:
		if len(in.TransactItems) > 0 && in.TransactItems[0].Update != nil {
			k = in.TransactItems[0].Update.Key
		}
	}
	pk, ok := k["PK"].(*types.AttributeValueMemberS)
	if !ok || !strings.HasPrefix(pk.Value, "LEDGER#") {
		return ""
	}
	return strings.TrimPrefix(pk.Value, "LEDGER#")
}

// SESFaults is a reverse proxy in front of the harness's SES emulator that
// refuses a share of SendEmail calls with a 500 InternalFailure or a 429
// TooManyRequestsException, before they reach the emulator.
type SESFaults struct {
	url string
	// configurationSet and options are the harness's (its configuration
	// set, the IAM recorders).
	configurationSet string
	options          []func(*middleware.Stack) error

	faults
	// unverified is how many coming sends to refuse as SES's sandbox does.
	unverified int
}

// NewSESFaults starts the proxy, refusing a seeded-random share rate (0 to 1)
// of SendEmail calls. Install it with h.App.Mailer = f.Sender(from), possibly
// behind a MailTap.
func (h *Harness) NewSESFaults(seed uint64, rate float64) *SESFaults {
	target, err := url.Parse(h.SES.URL)
	if err != nil {
		h.T.Fatalf("SES emulator address: %v", err)
	}
	f := &SESFaults{faults: newFaults(seed, rate)}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/outbound-emails") && f.takeUnverified() {
			var in struct {
				Destination struct{ ToAddresses []string }
			}
			_ = json.NewDecoder(r.Body).Decode(&in)
			f.count(FaultSESRejected)
			writeSESError(w, http.StatusBadRequest, "MessageRejected",
				"Email address is not verified. The following identities failed the check in region US-EAST-1: "+strings.Join(in.Destination.ToAddresses, ", "))
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/outbound-emails") && f.refuse() {
			_, _ = io.Copy(io.Discard, r.Body)
			if f.dice.roll() < 0.5 {
				f.count(FaultSESInternal)
				writeSESError(w, http.StatusInternalServerError, "InternalFailure", "An internal error occurred.")
			} else {
				f.count(FaultSESThrottle)
				writeSESError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Too many requests.")
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	h.T.Cleanup(srv.Close)
	f.url = srv.URL
	f.configurationSet, f.options = h.App.Config.SESConfigurationSet, h.awsOptions
	return f
}

// RejectUnverified makes the next n sends fail as SES does for a recipient
// its sandbox has not verified: a 400 MessageRejected whose message names the
// recipient's address.
func (f *SESFaults) RejectUnverified(n int) {
	f.mu.Lock()
	f.unverified = n
	f.mu.Unlock()
}

func (f *SESFaults) takeUnverified() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unverified <= 0 {
		return false
	}
	f.unverified--
	return true
}

// Sender returns an SES sender whose client goes through the proxy, with the
// SDK's standard retryer.
func (f *SESFaults) Sender(from string) *ses.Sender {
	client := sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.url),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:      fastRetryer(),
		APIOptions:   f.options,
	})
	return ses.NewSender(client, from, f.configurationSet)
}

// writeSESError answers as SES v2's REST-JSON protocol does.
func writeSESError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("X-Amzn-RequestId", "fault-00000000-0000-0000-0000-000000000000")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// Sent is one email a MailTap passed on, and what became of it.
type Sent struct {
	Message ses.Message
	// Key is the effect that sent it: the message's event and effect tags.
	Key string
	// Delivered is set when the next mailer accepted the email.
	Delivered bool
	// CallerDied is set when the sender's process "died" after the email was
	// accepted and before it could record that: killed during the send, or
	// crashed on purpose by the tap. This is the window in which an effect
	// may repeat.
	CallerDied bool
}

// killKey carries a sweep's kill switch in its context.
type killKey struct{}

// errCrashed is what a crashed send returns to the (dead) caller.
var errCrashed = errors.New("the process died after the email was sent")

// MailTap sits between the core and its mailer. It records every email, and
// plays a process that dies: a send whose sweep was killed finishes at SES but
// reports failure (the caller is gone), and with CrashRate a successful send
// kills its sweep at once. Sends outside a KillableSweep never crash.
type MailTap struct {
	next app.Mailer
	dice *faultDice

	mu        sync.Mutex
	crashRate float64
	sent      []Sent
	crashes   int
}

// NewMailTap wraps next; crashRate (0 to 1) is the seeded-random share of
// successful sends after which the sending sweep dies.
func NewMailTap(next app.Mailer, seed uint64, crashRate float64) *MailTap {
	return &MailTap{next: next, dice: newDice(seed), crashRate: crashRate}
}

// SetCrashRate changes the share of sends after which the sweep dies.
func (m *MailTap) SetCrashRate(rate float64) {
	m.mu.Lock()
	m.crashRate = rate
	m.mu.Unlock()
}

// Send passes the email on. It returns the context's error, without sending,
// when the caller is already dead, and an error when the caller died during
// or right after the send (the email went out all the same).
func (m *MailTap) Send(ctx context.Context, msg ses.Message) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	key := msg.Tags["event"] + "#" + msg.Tags["effect"]
	// The send itself completes even if the caller dies meanwhile: the
	// request has left the process.
	id, err := m.next.Send(context.WithoutCancel(ctx), msg)
	rec := Sent{Message: msg, Key: key, Delivered: err == nil}
	kill, _ := ctx.Value(killKey{}).(context.CancelFunc)
	m.mu.Lock()
	crash := err == nil && kill != nil && m.crashRate > 0 && m.dice.roll() < m.crashRate
	if crash {
		m.crashes++
	}
	rec.CallerDied = err == nil && (crash || ctx.Err() != nil)
	m.sent = append(m.sent, rec)
	m.mu.Unlock()
	switch {
	case err != nil:
		return "", err
	case crash:
		kill()
		return "", errCrashed
	case ctx.Err() != nil:
		return "", ctx.Err()
	}
	return id, nil
}

// Sent returns every email passed on so far, in order.
func (m *MailTap) Sent() []Sent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Sent(nil), m.sent...)
}

// Find returns the first email passed on and delivered that match accepts.
func (m *MailTap) Find(match func(Sent) bool) (Sent, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sent {
		if s.Delivered && match(s) {
			return s, true
		}
	}
	return Sent{}, false
}

// Crashes returns how many sweeps the tap killed after a send.
func (m *MailTap) Crashes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashes
}

// KillableSweep runs one sweep as a process that may die: its context is
// cancelled after killAfter (0: never by time), and a MailTap in the core's
// mailer chain may kill it right after a send. It returns the sweep's stats
// and error (a killed sweep's error, if any, is the context's).
func (h *Harness) KillableSweep(ctx context.Context, killAfter time.Duration) (dispatch.Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if killAfter > 0 {
		t := time.AfterFunc(killAfter, cancel)
		defer t.Stop()
	}
	return h.Dispatcher.Sweep(context.WithValue(ctx, killKey{}, context.CancelFunc(cancel)))
}

// TextFaults makes the texting service refuse calls as AWS does when it is
// overloaded: throttling and internal errors, alternately.
type TextFaults struct {
	mu             sync.Mutex
	left, injected int
	rate           float64
	dice           *faultDice
}

// InjectTextFaultRate makes SendTextMessage calls fail at rate, with a
// seeded dice.
func (h *Harness) InjectTextFaultRate(seed uint64, rate float64) *TextFaults {
	f := &h.textFaults
	f.mu.Lock()
	f.rate, f.dice = rate, newDice(seed)
	f.mu.Unlock()
	return f
}

// SetRate changes the fault rate (0 turns the faults off).
func (f *TextFaults) SetRate(rate float64) {
	f.mu.Lock()
	f.rate = rate
	f.mu.Unlock()
}

// InjectTextFaults makes the next n SendTextMessage calls fail.
func (h *Harness) InjectTextFaults(n int) *TextFaults {
	h.textFaults.mu.Lock()
	h.textFaults.left = n
	h.textFaults.mu.Unlock()
	return &h.textFaults
}

// Injected counts the faults injected so far.
func (f *TextFaults) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

func (f *TextFaults) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fail := r.Method == http.MethodPost && (f.left > 0 || f.rate > 0 && f.dice.roll() < f.rate)
		if fail {
			f.left = max(f.left-1, 0)
			f.injected++
		}
		n := f.injected
		f.mu.Unlock()
		if !fail {
			next.ServeHTTP(w, r)
			return
		}
		status, typ := http.StatusBadRequest, "ThrottlingException"
		if n%2 == 0 {
			status, typ = http.StatusInternalServerError, "InternalServerException"
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":"com.amazonaws.pinpointsmsvoicev2#%s","Message":"injected"}`, typ)
	})
}
