package templatetest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/handoff-health/handoff/infra/cfnyaml"
)

// sampleEvents lists every file of events/ with the function it is for and
// the shape of its payload.
var sampleEvents = []struct {
	file, function, kind string
}{
	{"intake-post-referral.json", "IntakeFunction", "http"},
	{"intake-get-referral.json", "IntakeFunction", "http"},
	{"ehr-token.json", "EhrFunction", "http"},
	{"ehr-fhir-metadata.json", "EhrFunction", "http"},
	{"consent-get.json", "ConsentFunction", "http"},
	{"consent-post.json", "ConsentFunction", "http"},
	{"respond-get.json", "RespondFunction", "http"},
	{"respond-post.json", "RespondFunction", "http"},
	{"admin-create-clinic.json", "AdminFunction", "http"},
	{"admin-match.json", "AdminFunction", "http"},
	{"admin-healthz.json", "AdminFunction", "http"},
	{"dispatch-stream.json", "DispatchFunction", "stream"},
	{"dispatch-schedule.json", "DispatchFunction", "sweep"},
	{"sesevents-bounce.json", "SesEventsFunction", "sns"},
	{"sesevents-complaint.json", "SesEventsFunction", "sns"},
	{"sesevents-subscription-confirmation.json", "SesEventsFunction", "sns"},
	{"smsevents-blocked.json", "SmsEventsFunction", "sns"},
	{"clinic-get.json", "ClinicFunction", "http"},
	{"clinic-qr.json", "ClinicFunction", "http"},
}

// sampleWebhookSecret signs intake-post-referral.json (see events/README.md).
const sampleWebhookSecret = "whsec_aGFuZG9mZi1zYW1wbGUtc2VjcmV0LW5vdC1mb3ItdXNl"

func TestSampleEvents(t *testing.T) {
	s := loadStack(t)
	dir := filepath.Join(root, "events")

	t.Run("every file is listed and every function has one", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		covered := map[string]bool{}
		for _, e := range sampleEvents {
			listed[e.file] = true
			covered[e.function] = true
		}
		for _, f := range files {
			if !listed[filepath.Base(f)] {
				t.Errorf("events/%s is not listed in sampleEvents", filepath.Base(f))
			}
		}
		for _, fn := range s.functions() {
			if !covered[fn] {
				t.Errorf("%s has no sample event", fn)
			}
		}
	})

	for _, e := range sampleEvents {
		t.Run(e.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, e.file))
			if err != nil {
				t.Fatal(err)
			}
			switch e.kind {
			case "http":
				checkHTTPEvent(t, s, e.function, e.file, data)
			case "stream":
				checkStreamEvent(t, s, data)
			case "sweep":
				if !jsonEqual(string(data), sweepInput) {
					t.Errorf("payload %s, want the schedule's Input %s", data, sweepInput)
				}
			case "sns":
				checkSNSEvent(t, e.file, data)
			default:
				t.Fatalf("unknown kind %q", e.kind)
			}
			checkNoPersonalData(t, data)
		})
	}
}

// decodeStrict decodes data into v, refusing fields v does not have: a
// misspelt field name fails instead of being dropped.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

var (
	pathParam  = regexp.MustCompile(`\{([a-z_]+)\+?\}`)
	linkToken  = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	tokenRoute = regexp.MustCompile(`^/[cg]/\{token\}$`)
)

func checkHTTPEvent(t *testing.T, s stack, fn, file string, data []byte) {
	var req events.APIGatewayV2HTTPRequest
	if err := decodeStrict(data, &req); err != nil {
		t.Fatalf("not an events.APIGatewayV2HTTPRequest: %v", err)
	}
	if req.Version != "2.0" {
		t.Errorf("version %q, want 2.0 (HTTP API payload format)", req.Version)
	}
	if req.RouteKey != req.RequestContext.RouteKey {
		t.Errorf("routeKey %q but requestContext.routeKey %q", req.RouteKey, req.RequestContext.RouteKey)
	}
	method, path, _ := strings.Cut(req.RouteKey, " ")
	if _, ok := httpRoutes(s, fn)[req.RouteKey]; !ok {
		t.Fatalf("route %q is not a route of %s in template.yaml", req.RouteKey, fn)
	}
	if req.RequestContext.HTTP.Method != method {
		t.Errorf("requestContext.http.method %q, want %s", req.RequestContext.HTTP.Method, method)
	}
	if req.RequestContext.HTTP.Path != req.RawPath {
		t.Errorf("requestContext.http.path %q differs from rawPath %q", req.RequestContext.HTTP.Path, req.RawPath)
	}
	if req.RequestContext.RequestID == "" || req.RequestContext.TimeEpoch == 0 || req.RequestContext.Stage == "" {
		t.Error("requestContext lacks requestId, timeEpoch or stage")
	}
	// The raw path is the route with its parameters filled in.
	want := pathParam.ReplaceAllStringFunc(path, func(m string) string {
		name := pathParam.FindStringSubmatch(m)[1]
		v, ok := req.PathParameters[name]
		if !ok {
			t.Errorf("pathParameters lacks %q", name)
		}
		return v
	})
	if req.RawPath != want {
		t.Errorf("rawPath %q, want %q from the route and pathParameters", req.RawPath, want)
	}
	if tokenRoute.MatchString(path) && !linkToken.MatchString(req.PathParameters["token"]) {
		t.Errorf("token %q is not 43 base64url characters (32 random bytes)", req.PathParameters["token"])
	}
	q, err := url.ParseQuery(req.RawQueryString)
	if err != nil {
		t.Errorf("rawQueryString: %v", err)
	}
	for k, v := range req.QueryStringParameters {
		if q.Get(k) != v {
			t.Errorf("queryStringParameters[%s] %q disagrees with rawQueryString", k, v)
		}
	}
	if len(q) != len(req.QueryStringParameters) {
		t.Errorf("rawQueryString %q and queryStringParameters %v differ", req.RawQueryString, req.QueryStringParameters)
	}

	body := []byte(req.Body)
	if req.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			t.Fatalf("isBase64Encoded but body is not base64: %v", err)
		}
	}
	if len(body) == 0 {
		if method == "POST" || method == "PUT" {
			t.Errorf("%s without a body", method)
		}
		return
	}
	switch ct := req.Headers["content-type"]; ct {
	case "application/json":
		if !json.Valid(body) {
			t.Errorf("content-type %s but the body is not JSON", ct)
		}
	case "application/x-www-form-urlencoded":
		// A page's form says its action; the token endpoint's, its grant.
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("action") == "" && form.Get("grant_type") == "" {
			t.Errorf("form body %q has no action or grant_type (%v)", body, err)
		}
	default:
		t.Errorf("body with content-type %q", ct)
	}
	if got := req.Headers["content-length"]; got != fmt.Sprint(len(body)) {
		t.Errorf("content-length %s, body is %d bytes", got, len(body))
	}
	if file == "intake-post-referral.json" {
		checkSignature(t, req.Headers, body)
	}
}

// checkSignature verifies the Standard Webhooks signature of the sample
// referral with the secret events/README.md documents.
func checkSignature(t *testing.T, headers map[string]string, body []byte) {
	id, ts, sigs := headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
	if id == "" || ts == "" || sigs == "" {
		t.Fatalf("webhook-id, webhook-timestamp or webhook-signature missing: %q", headers)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sampleWebhookSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !slices.Contains(strings.Fields(sigs), want) {
		t.Errorf("webhook-signature does not verify with the sample secret of events/README.md")
	}
}

func checkStreamEvent(t *testing.T, s stack, data []byte) {
	var ev events.DynamoDBEvent
	if err := decodeStrict(data, &ev); err != nil {
		t.Fatalf("not an events.DynamoDBEvent: %v", err)
	}
	if len(ev.Records) == 0 {
		t.Fatal("no records")
	}
	for i, r := range ev.Records {
		img := r.Change.NewImage
		str := func(name string) string {
			v, ok := img[name]
			if !ok {
				t.Errorf("record %d: NewImage lacks %s", i, name)
				return ""
			}
			return v.String()
		}
		if r.EventSource != "aws:dynamodb" || r.EventName != "INSERT" {
			t.Errorf("record %d: %s %s, want an aws:dynamodb INSERT", i, r.EventSource, r.EventName)
		}
		if r.Change.StreamViewType != "NEW_IMAGE" {
			t.Errorf("record %d: StreamViewType %q, want NEW_IMAGE as the table streams", i, r.Change.StreamViewType)
		}
		pk, sk, id := str("PK"), str("SK"), str("id")
		if !strings.HasPrefix(pk, "REF#") || sk != "EVT#"+id || str("referral_id") != strings.TrimPrefix(pk, "REF#") {
			t.Errorf("record %d: keys %s/%s do not match an event item (REF#<referral>/EVT#<id>)", i, pk, sk)
		}
		if !strings.HasPrefix(str("GSI1PK"), "DUE#") || !strings.HasSuffix(str("GSI1SK"), "#"+id) {
			t.Errorf("record %d: not a pending event (GSI1PK DUE#…, GSI1SK …#<id>)", i)
		}
		if got := str("type"); got != "consent-requested" {
			t.Errorf("record %d: type %q, want consent-requested", i, got)
		}
		if r.Change.Keys["PK"].String() != pk || r.Change.Keys["SK"].String() != sk {
			t.Errorf("record %d: Keys disagree with NewImage", i)
		}
	}

	// The record passes the dispatcher's stream filter; the same record
	// without GSI1PK (a finished event) does not.
	pattern := streamFilter(t, s)
	var raw struct{ Records []map[string]any }
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for i, r := range raw.Records {
		if !matchesFilter(pattern, r) {
			t.Errorf("record %d does not pass the template's FilterCriteria", i)
		}
		done := cfnyaml.Copy(r).(map[string]any)
		delete(asMap(dig(done, "dynamodb", "NewImage")), "GSI1PK")
		if matchesFilter(pattern, done) {
			t.Errorf("record %d without GSI1PK still passes the filter", i)
		}
	}
}

func streamFilter(t *testing.T, s stack) map[string]any {
	t.Helper()
	for _, ev := range s.events("DispatchFunction") {
		if cfnyaml.String(ev["Type"]) != "DynamoDB" {
			continue
		}
		filters := cfnyaml.List(dig(ev, "Properties", "FilterCriteria", "Filters"))
		if len(filters) == 0 {
			break
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(cfnyaml.String(dig(filters[0], "Pattern"))), &p); err != nil {
			t.Fatalf("filter pattern: %v", err)
		}
		return p
	}
	t.Fatal("DispatchFunction has no stream filter")
	return nil
}

// matchesFilter evaluates the subset of Lambda event-filter syntax the
// template uses: nested objects, lists of literal values, and
// {"exists": true|false}.
func matchesFilter(pattern, event map[string]any) bool {
	for k, p := range pattern {
		v, present := event[k]
		switch p := p.(type) {
		case map[string]any:
			if !present || !matchesFilter(p, asMap(v)) {
				return false
			}
		case []any:
			ok := false
			for _, alt := range p {
				if cond, isCond := alt.(map[string]any); isCond {
					if exists, has := cond["exists"].(bool); has && exists == present {
						ok = true
					}
				} else if present && v == alt {
					ok = true
				}
			}
			if !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// sesEvent is the part of an SES event-publishing record sesevents reads.
type sesEvent struct {
	EventType string `json:"eventType"`
	Mail      struct {
		MessageID   string              `json:"messageId"`
		Source      string              `json:"source"`
		Destination []string            `json:"destination"`
		Tags        map[string][]string `json:"tags"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string `json:"bounceType"`
		BouncedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
}

func checkSNSEvent(t *testing.T, file string, data []byte) {
	var ev events.SNSEvent
	if err := decodeStrict(data, &ev); err != nil {
		t.Fatalf("not an events.SNSEvent: %v", err)
	}
	if len(ev.Records) != 1 {
		t.Fatalf("%d records, want 1 (SNS delivers one message per invocation)", len(ev.Records))
	}
	r := ev.Records[0]
	if r.EventSource != "aws:sns" || r.SNS.MessageID == "" || r.SNS.TopicArn == "" || r.SNS.Timestamp.IsZero() {
		t.Errorf("record lacks EventSource aws:sns, MessageId, TopicArn or Timestamp")
	}
	if strings.HasSuffix(file, "subscription-confirmation.json") {
		if r.SNS.Type != "SubscriptionConfirmation" {
			t.Errorf("Type %q, want SubscriptionConfirmation", r.SNS.Type)
		}
		return
	}
	if r.SNS.Type != "Notification" {
		t.Errorf("Type %q, want Notification", r.SNS.Type)
	}
	if strings.HasPrefix(file, "smsevents-") {
		checkSMSEvent(t, r.SNS.Message)
		return
	}
	var msg sesEvent
	if err := json.Unmarshal([]byte(r.SNS.Message), &msg); err != nil {
		t.Fatalf("Message is not an SES event record: %v", err)
	}
	if msg.Mail.MessageID == "" || msg.Mail.Source == "" || len(msg.Mail.Destination) == 0 {
		t.Error("mail lacks messageId, source or destination")
	}
	// handoff tags every message with ids (never addresses); sesevents finds
	// the referral and event by them.
	for _, tag := range []string{"referral", "event", "effect"} {
		if len(msg.Mail.Tags[tag]) != 1 || msg.Mail.Tags[tag][0] == "" {
			t.Errorf("mail.tags lacks handoff's %q tag", tag)
		}
	}
	switch msg.EventType {
	case "Bounce":
		if msg.Bounce == nil || msg.Bounce.BounceType != "Permanent" || len(msg.Bounce.BouncedRecipients) == 0 {
			t.Errorf("want a permanent bounce with recipients, got %+v", msg.Bounce)
		}
	case "Complaint":
		if msg.Complaint == nil || len(msg.Complaint.ComplainedRecipients) == 0 {
			t.Errorf("want a complaint with recipients, got %+v", msg.Complaint)
		}
	default:
		t.Errorf("eventType %q, want Bounce or Complaint", msg.EventType)
	}
}

// smsEvent is an End User Messaging SMS event as its event destination
// publishes it.
type smsEvent struct {
	EventType              string            `json:"eventType"`
	EventVersion           string            `json:"eventVersion"`
	EventTimestamp         int64             `json:"eventTimestamp"`
	IsFinal                bool              `json:"isFinal"`
	OriginationPhoneNumber string            `json:"originationPhoneNumber"`
	DestinationPhoneNumber string            `json:"destinationPhoneNumber"`
	IsInternationalSend    bool              `json:"isInternationalSend"`
	MCC                    string            `json:"mcc"`
	MNC                    string            `json:"mnc"`
	MessageID              string            `json:"messageId"`
	MessageRequestTS       int64             `json:"messageRequestTimestamp"`
	MessageEncoding        string            `json:"messageEncoding"`
	MessageType            string            `json:"messageType"`
	MessageStatus          string            `json:"messageStatus"`
	MessageStatusDesc      string            `json:"messageStatusDescription"`
	Context                map[string]string `json:"context"`
	TotalMessageParts      int               `json:"totalMessageParts"`
	TotalMessagePrice      float64           `json:"totalMessagePrice"`
	TotalCarrierFee        float64           `json:"totalCarrierFee"`
}

func checkSMSEvent(t *testing.T, message string) {
	var msg smsEvent
	if err := decodeStrict([]byte(message), &msg); err != nil {
		t.Fatalf("Message is not an SMS event: %v", err)
	}
	if !strings.HasPrefix(msg.EventType, "TEXT_") || msg.MessageID == "" || msg.EventTimestamp == 0 || msg.MessageType != "TRANSACTIONAL" {
		t.Errorf("want a TEXT_ event of a transactional message with id and time, got %+v", msg)
	}
	for _, k := range []string{"referral", "event", "effect"} {
		if msg.Context[k] == "" {
			t.Errorf("context lacks handoff's %q", k)
		}
	}
	if len(msg.Context) != 3 {
		t.Errorf("context holds %d entries, want handoff's 3 ids only", len(msg.Context))
	}
}

var (
	emailAddr = regexp.MustCompile(`[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)`)
	usPhone   = regexp.MustCompile(`\+1(\d{3})(\d{3})(\d{4})\b`)
	ipv4      = regexp.MustCompile(`\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b`)
)

// checkNoPersonalData fails on addresses outside the reserved example
// domains, phone numbers outside 555-01xx, and IP addresses outside the
// documentation ranges, in the file and in any base64 body.
func checkNoPersonalData(t *testing.T, data []byte) {
	text := string(data)
	var req struct {
		Body            string `json:"body"`
		IsBase64Encoded bool   `json:"isBase64Encoded"`
	}
	if json.Unmarshal(data, &req) == nil && req.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(req.Body); err == nil {
			text += "\n" + string(b)
		}
	}
	for _, m := range emailAddr.FindAllStringSubmatch(text, -1) {
		domain := strings.ToLower(m[1])
		if domain != "example.org" && !strings.HasSuffix(domain, ".example.org") &&
			domain != "example.com" && domain != "example.net" {
			t.Errorf("address %s is outside the example domains", m[0])
		}
	}
	for _, m := range usPhone.FindAllStringSubmatch(text, -1) {
		if m[2] != "555" || !strings.HasPrefix(m[3], "01") {
			t.Errorf("phone number %s is not a fictional 555-01xx number", m[0])
		}
	}
	for _, m := range ipv4.FindAllStringSubmatch(text, -1) {
		prefix := m[1] + "." + m[2] + "." + m[3]
		if prefix != "192.0.2" && prefix != "198.51.100" && prefix != "203.0.113" {
			t.Errorf("IP address %s is outside the documentation ranges", m[0])
		}
	}
}
