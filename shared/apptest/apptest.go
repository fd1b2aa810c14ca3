// Package apptest assembles handoff's real parts for end-to-end tests: the
// embedded DynamoDB server behind the real SDK client, the SES emulator, the
// phone sink (texts through the real End User Messaging SMS client), the
// HTTP handlers on an httptest server, and the dispatcher — with an injected
// clock, so deadlines are tested by moving time, not by waiting.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/handoff-health/handoff/infra/iamcheck"
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dispatch"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/ehrapi"
	"github.com/handoff-health/handoff/shared/eum"
	"github.com/handoff-health/handoff/shared/eum/eumtest"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/imports"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/passkey"
	"github.com/handoff-health/handoff/shared/qr"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/seal"
	"github.com/handoff-health/handoff/shared/ses/sestest"
	"github.com/handoff-health/handoff/shared/smsevents"
	"github.com/handoff-health/handoff/shared/testenv"
	"github.com/handoff-health/handoff/shared/webhook"
	"github.com/handoff-health/handoff/shared/wire"
)

// TextingNumber is the harness's texting number.
const TextingNumber = "+12065550100"

// StartHour is the time of day (UTC) a harness's clock starts at: 10:00
// or 11:00 in Los Angeles, where the test directory's groups meet.
const StartHour = 18 * time.Hour

// AdminToken is the harness's operator token.
const AdminToken = "test-admin-token"

// Harness is one whole handoff with its own tables, mailbox and clock.
type Harness struct {
	T          testing.TB
	DB         *dynamotest.DB
	SES        *sestest.Emulator
	Phones     *eumtest.Sink
	PhonesURL  string
	App        *app.App
	Room       *room.Room     // the clinic's pages
	EHR        *ehrapi.Server // the EHR's surface: SMART tokens, FHIR
	Server     *httptest.Server
	Dispatcher *dispatch.Dispatcher
	Logs       *bytes.Buffer // every log line the system wrote
	Metrics    *bytes.Buffer // every CloudWatch metric line (EMF) it wrote
	// IAM records the IAM requests of every AWS call the harness's
	// functions made (see infra/iamcheck); Functions are the template's
	// functions, which say whose calls they are.
	IAM       *iamcheck.Recorder
	Functions iamcheck.Functions
	// Imports are the asynchronous imports of the admin API and the
	// dispatcher.
	Imports *imports.Service

	textFaults TextFaults
	// awsOptions record AWS calls (see IAM); clients a test makes for the
	// core add them.
	awsOptions []func(*middleware.Stack) error

	mu         sync.Mutex
	now        time.Time
	adminToken string
	mailFrom   string // the address its emails come from: its own
}

// Option adjusts a harness's configuration before it is built.
type Option func(*config.Config)

// sharing tells New that the package's TestMain runs Main: harnesses then
// share the test binary's SES emulator (see Main).
var sharing atomic.Bool

// harnesses numbers the harnesses a test binary builds.
var harnesses atomic.Int64

// Main runs a package's tests with the stacks they can share, and stops
// those once the tests have run; it returns m.Run's exit code. A package
// whose tests build harnesses calls it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
//
// Its harnesses then share one SES emulator (one Node process for the
// package, not one per test), each sending from an address of its own so
// that its mailbox holds its own mail only. Without it each harness starts
// an emulator of its own, as before.
func Main(m *testing.M) int {
	sharing.Store(true)
	defer sharing.Store(false)
	defer sestest.StopShared()
	return m.Run()
}

// New builds a harness. The clock starts on today's date (UTC) at
// StartHour and moves only by Advance: a test runs the same at any hour
// of the day (a text to a patient waits for the morning, see
// shared/textlimit).
func New(t testing.TB, opts ...Option) *Harness {
	t.Helper()
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(StartHour)
	h := &Harness{T: t, now: start, Logs: &bytes.Buffer{}, Metrics: &bytes.Buffer{}}
	iam := loadIAM(t, testenv.RepoRoot(t), h)
	h.awsOptions = iam.options
	h.DB = dynamotest.New(t)
	h.mailFrom = "handoff@test.example"
	if sharing.Load() {
		h.SES = sestest.Shared(t)
		h.mailFrom = fmt.Sprintf("handoff+%d@test.example", harnesses.Add(1))
	} else {
		h.SES = sestest.Start(t)
	}
	phones := eumtest.Start(t, h.textFaults.handler)
	h.Phones, h.PhonesURL = phones.Sink, phones.URL
	h.Server = httptest.NewUnstartedServer(nil)
	base := "http://" + h.Server.Listener.Addr().String()
	// The template's environment for the sample deployment names the
	// tables, the sender, the configuration sets, the texting origin and
	// the keys.
	cfg, err := config.FromEnv(func(k string) string {
		switch k {
		case "HANDOFF_REFERRALS_TABLE", "HANDOFF_DIRECTORY_TABLE", "HANDOFF_MAIL_FROM", "HANDOFF_SES_CONFIGURATION_SET",
			"HANDOFF_SMS_ORIGIN", "HANDOFF_SMS_CONFIGURATION_SET":
			return iam.env[k]
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.PublicURL, cfg.AdminToken, cfg.LinkKey = base, AdminToken, strings.Repeat("k", 40)
	if cfg.ReferralsTable != h.DB.Tables.Referrals || cfg.DirectoryTable != h.DB.Tables.Directory {
		t.Fatalf("the template names the tables %s and %s, the embedded server has %s and %s",
			cfg.ReferralsTable, cfg.DirectoryTable, h.DB.Tables.Referrals, h.DB.Tables.Directory)
	}
	// Each harness sends from an address of its own (the emulator it may
	// share keeps their mail apart); its IAM requests are recorded from the
	// deployment's MailFrom, which is what the dispatch function sends as.
	cfg.MailFrom = h.mailFrom
	iam.sendsAs(h.mailFrom, iam.env["HANDOFF_MAIL_FROM"])
	for _, o := range opts {
		o(&cfg)
	}
	h.adminToken = cfg.AdminToken
	awsCfg := wire.AWS{Config: aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		APIOptions:  iam.options,
	}}
	var sealer seal.Sealer
	sealer, linkKey, viaKMS := h.kmsParts(iam)
	if !viaKMS {
		if sealer, _, err = seal.NewRandomLocalKey(); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: h.Logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := wire.BuildWith(awsCfg, cfg, log, wire.Options{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	if viaKMS {
		a.LinkKey = linkKey
	}
	a.CacheScope = iamcheck.FunctionOf // each function has its own cache, as each Lambda does
	// Point the clients at the embedded services.
	h.DB.Client = dynamotest.Client(h.DB.URL, h.DB.Counter.Middleware(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, iam.options...)
	})
	a.Referrals.DB = h.DB.Client
	a.Clinics.DB = h.DB.Client
	a.Directory.DB = h.DB.Client
	a.Mailer = sesSender(h.SES, cfg.MailFrom, cfg.SESConfigurationSet, iam.options)
	if cfg.Texts() {
		a.Texter = eum.New(awsCfg.Config, aws.String(h.PhonesURL), cfg.SMSOrigin, cfg.SMSConfigurationSet)
	}
	a.Now = h.Now
	a.Metrics = &metrics.Emitter{W: &lockedWriter{w: h.Metrics}, Function: "test", Now: h.Now}
	a.Directory.Now = h.Now
	a.Referrals.Now = h.Now
	h.App = a
	keys, err := passkey.New(room.Origin(cfg.PublicURL), "handoff")
	if err != nil {
		t.Fatal(err)
	}
	dispatch.Effects(a) // as the dispatch function wires it
	h.Room = room.New(a, keys, qr.SVG)
	// One import service for the admin API and the dispatcher, so a test
	// can change its options (ChunkBytes) for both.
	h.Imports = imports.New(a, imports.Options{})
	h.Imports.Register()
	srv := &httpapi.Server{App: a, Log: log, Room: h.Room, Imports: h.Imports}
	h.EHR = ehrapi.New(a, log)
	// Each request is served as the function the template routes it to.
	h.Server.Config.Handler = h.Functions.Handler(h.EHR.With(srv.All()))
	h.Server.Start()
	t.Cleanup(h.Server.Close)
	h.Dispatcher = &dispatch.Dispatcher{App: a, Log: log, Now: h.Now}
	// Delivery events reach the app as SNS brings them to the smsevents
	// function.
	texts := &smsevents.Handler{App: a, Log: log}
	textsFn := h.Functions.ForTopic("SmsEventsTopic")
	h.Phones.Notify = func(ctx context.Context, ev events.SNSEvent) error {
		return texts.Handle(As(ctx, textsFn), ev)
	}
	return h
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Now is the harness's clock.
func (h *Harness) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

// Advance moves the clock.
func (h *Harness) Advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// Settle runs due events until none is left (at most 50 sweeps).
func (h *Harness) Settle() {
	h.T.Helper()
	for range 50 {
		st, err := h.Dispatcher.Sweep(h.SweepContext())
		if err != nil {
			h.T.Fatalf("sweep: %v", err)
		}
		if st.Ran+st.Failed == 0 {
			return
		}
	}
	h.T.Fatal("events still due after 50 sweeps")
}

// Do sends a request to the stack and returns the status and body.
func (h *Harness) Do(method, path string, body []byte, header http.Header) (int, http.Header, []byte) {
	h.T.Helper()
	req, err := http.NewRequest(method, h.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		h.T.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		h.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// Admin sends an admin API request.
func (h *Harness) Admin(method, path string, body any) (int, []byte) {
	h.T.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			h.T.Fatal(err)
		}
	}
	st, _, out := h.Do(method, path, b, http.Header{"Authorization": {"Bearer " + h.adminToken}, "Content-Type": {"application/json"}})
	return st, out
}

// Clinic is a clinic made through the admin API, with its secrets.
type Clinic = app.ClinicSecrets

// NewClinic creates a clinic; settings (e.g. "clinician_emails": true) are
// added to the request.
func (h *Harness) NewClinic(id, callbackURL string, settings ...map[string]any) Clinic {
	h.T.Helper()
	body := map[string]any{
		"id": id, "name": "Lakeside Health Center", "contact_email": "desk@clinic.example", "callback_url": callbackURL,
	}
	for _, s := range settings {
		maps.Copy(body, s)
	}
	st, b := h.Admin(http.MethodPost, "/v1/admin/clinics", body)
	if st != http.StatusCreated {
		h.T.Fatalf("create clinic: %d %s", st, b)
	}
	var c Clinic
	if err := json.Unmarshal(b, &c); err != nil {
		h.T.Fatal(err)
	}
	return c
}

// PutGroup stores a group listing through the admin API.
func (h *Harness) PutGroup(g any, id string) {
	h.T.Helper()
	st, b := h.Admin(http.MethodPut, "/v1/admin/groups/"+id, g)
	if st != http.StatusCreated && st != http.StatusOK {
		h.T.Fatalf("put group %s: %d %s", id, st, b)
	}
}

// Refer sends a signed referral with a new webhook id.
func (h *Harness) Refer(c Clinic, ctype string, body []byte) (int, []byte) {
	h.T.Helper()
	return h.ReferAs(c, "msg_"+fmt.Sprint(time.Now().UnixNano()), ctype, body)
}

// ReferAs sends a signed referral with a given webhook id.
func (h *Harness) ReferAs(c Clinic, webhookID, ctype string, body []byte) (int, []byte) {
	h.T.Helper()
	key, err := webhook.ParseSecret(c.WebhookSecret)
	if err != nil {
		h.T.Fatal(err)
	}
	hdr := webhook.SignHeaders(key, webhookID, h.Now(), body)
	hdr.Set("Content-Type", ctype)
	st, _, b := h.Do(http.MethodPost, "/v1/clinics/"+c.ID+"/referrals", body, hdr)
	return st, b
}

// Mails returns the mailbox: the emails this harness sent.
func (h *Harness) Mails() []sestest.Mail {
	h.T.Helper()
	all, err := h.SES.Mails(context.Background())
	if err != nil {
		h.T.Fatal(err)
	}
	mine := all[:0]
	for _, m := range all {
		if m.From == h.mailFrom {
			mine = append(mine, m)
		}
	}
	return mine
}

// MailsTo returns the emails to one address.
func (h *Harness) MailsTo(addr string) []sestest.Mail { return sestest.To(h.Mails(), addr) }

// LastMailTo settles due events and returns the last email to addr; none
// fails t.
func (h *Harness) LastMailTo(t testing.TB, addr string) sestest.Mail {
	t.Helper()
	h.Settle()
	mails := h.MailsTo(addr)
	if len(mails) == 0 {
		t.Fatalf("no email to %s", addr)
	}
	return mails[len(mails)-1]
}

// LinkPattern matches a patient's or a group's page link, /c/, /g/ or /l/ and its
// token.
var LinkPattern = regexp.MustCompile(`/(c|g|l)/(?:[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{22}\b)`)

// Link returns the path of the first /c/ or /g/ link in an email.
func (h *Harness) Link(m sestest.Mail, kind string) string {
	h.T.Helper()
	for _, l := range LinkPattern.FindAllString(m.Body.Text+m.Body.HTML, -1) {
		if strings.HasPrefix(l, "/"+kind+"/") {
			return l
		}
	}
	h.T.Fatalf("no /%s/ link in email %q", kind, m.Subject)
	return ""
}

var hiddenRE = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

// HiddenFields returns the hidden form fields of a page (the CSRF token).
func HiddenFields(page []byte) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(string(page), -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// Form posts a page's form: the hidden fields the page carries plus fields.
func (h *Harness) Form(path string, fields url.Values) (int, string) {
	h.T.Helper()
	st, _, page := h.Do(http.MethodGet, path, nil, nil)
	if st != http.StatusOK {
		h.T.Fatalf("GET %s before posting: %d", Redact(path), st)
	}
	v := HiddenFields(page)
	for k, vs := range fields {
		v[k] = vs
	}
	st, hdr, _ := h.Do(http.MethodPost, path, []byte(v.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {h.Server.URL},
	})
	return st, hdr.Get("Location")
}

// Texts returns every text the phone sink took, once the delivery events
// of the undeliverable ones have been handled.
func (h *Harness) Texts() []eumtest.Message {
	h.Phones.Wait()
	return h.Phones.Messages(0)
}

// TextsTo returns the texts to one number.
func (h *Harness) TextsTo(number string) []eumtest.Message {
	h.Phones.Wait()
	return h.Phones.To(number)
}

// TextLink returns the path of the consent link in a text.
func (h *Harness) TextLink(m eumtest.Message) string {
	h.T.Helper()
	l := LinkPattern.FindString(m.Body)
	if !strings.HasPrefix(l, "/c/") {
		h.T.Fatalf("no /c/ link in a text of %d characters", len(m.Body))
	}
	return l
}

// Redact hides the tokens of page links in test messages.
func Redact(s string) string { return LinkPattern.ReplaceAllString(s, "/$1/…") }

// Status reads a referral's status view as its clinic.
func (h *Harness) Status(c Clinic, id string) app.StatusView {
	h.T.Helper()
	st, _, b := h.Do(http.MethodGet, "/v1/clinics/"+c.ID+"/referrals/"+id, nil, http.Header{"Authorization": {"Bearer " + c.APIKey}})
	if st != http.StatusOK {
		h.T.Fatalf("status: %d %s", st, b)
	}
	var v app.StatusView
	if err := json.Unmarshal(b, &v); err != nil {
		h.T.Fatal(err)
	}
	return v
}

// SetNow sets the clock.
func (h *Harness) SetNow(t time.Time) {
	h.mu.Lock()
	h.now = t.UTC()
	h.mu.Unlock()
}
