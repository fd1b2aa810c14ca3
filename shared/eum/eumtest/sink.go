package eumtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Simulated destinations, by their last four digits.
const (
	OptedOutSuffix      = "0198"
	UndeliverableSuffix = "0199"
)

// Message is one text the sink accepted.
type Message struct {
	ID      string            `json:"id"`
	To      string            `json:"to"`
	Body    string            `json:"body"`
	At      int64             `json:"at"` // unix ms
	From    string            `json:"-"`
	Context map[string]string `json:"-"`
}

// Sink is the phone sink, a local stand-in for AWS End User Messaging SMS.
// The zero value works; set Notify to receive delivery events.
type Sink struct {
	// Notify receives delivery events as the event destination's SNS topic
	// would deliver them to a subscribed Lambda. A failed delivery is tried
	// again, as SNS does, a few times.
	Notify func(context.Context, events.SNSEvent) error
	// NotifyAfter is how long after the send the event comes (default 200 ms).
	NotifyAfter time.Duration
	Log         *slog.Logger
	Now         func() time.Time

	mu   sync.Mutex
	msgs []Message
	wg   sync.WaitGroup
}

const target = "PinpointSMSVoiceV2.SendTextMessage"

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// maxBody is the service's limit on MessageBody.
const maxBody = 1600

func (s *Sink) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ServeHTTP serves the API (POST /), the store and the page.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/":
		s.api(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/store":
		s.store(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/":
		s.page(w)
	default:
		http.NotFound(w, r)
	}
}

// sendInput is the part of SendTextMessageInput the sink reads.
type sendInput struct {
	DestinationPhoneNumber string
	OriginationIdentity    string
	MessageBody            string
	MessageType            string
	ConfigurationSetName   string
	Context                map[string]string
	DryRun                 bool
}

// awsError writes an AWS JSON 1.0 error: the type in the body's __type and in
// X-Amzn-ErrorType, and the exception's members.
func awsError(w http.ResponseWriter, status int, typ string, members map[string]any) {
	body := map[string]any{"__type": "com.amazonaws.pinpointsmsvoicev2#" + typ}
	for k, v := range members {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func invalid(w http.ResponseWriter, field, msg string) {
	awsError(w, http.StatusBadRequest, "ValidationException", map[string]any{
		"Message": msg, "Reason": "INVALID_PARAMETER",
		"Fields": []map[string]string{{"Name": field, "Message": msg}},
	})
}

func (s *Sink) api(w http.ResponseWriter, r *http.Request) {
	if t := r.Header.Get("X-Amz-Target"); t != target {
		awsError(w, http.StatusBadRequest, "UnknownOperationException", map[string]any{
			"Message": "the phone sink answers only " + target + ", not " + strconv.Quote(t)})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		awsError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", map[string]any{
			"Message": "Missing Authentication Token"})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		awsError(w, http.StatusBadRequest, "SerializationException", map[string]any{"Message": "cannot read the request"})
		return
	}
	var in sendInput
	if err := json.Unmarshal(raw, &in); err != nil {
		awsError(w, http.StatusBadRequest, "SerializationException", map[string]any{"Message": "the request is not JSON"})
		return
	}
	switch {
	case !e164.MatchString(in.DestinationPhoneNumber):
		invalid(w, "DestinationPhoneNumber", "must be a phone number in E.164 format")
		return
	case in.MessageBody == "":
		invalid(w, "MessageBody", "must not be empty")
		return
	case len([]rune(in.MessageBody)) > maxBody:
		invalid(w, "MessageBody", "must be at most 1600 characters")
		return
	case in.MessageType != "" && in.MessageType != "TRANSACTIONAL" && in.MessageType != "PROMOTIONAL":
		invalid(w, "MessageType", "must be TRANSACTIONAL or PROMOTIONAL")
		return
	case len(in.Context) > 5:
		invalid(w, "Context", "holds at most 5 entries")
		return
	}
	if strings.HasSuffix(in.DestinationPhoneNumber, OptedOutSuffix) {
		awsError(w, http.StatusBadRequest, "ConflictException", map[string]any{
			"Message": "The destination phone number is opted out.", "Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT",
			"ResourceType": "opt-out-list", "ResourceId": "Default",
		})
		return
	}
	id := newID()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(map[string]string{"MessageId": id})
	if in.DryRun {
		return
	}
	m := Message{ID: id, To: in.DestinationPhoneNumber, Body: in.MessageBody, At: s.now().UnixMilli(),
		From: in.OriginationIdentity, Context: in.Context}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	if strings.HasSuffix(m.To, UndeliverableSuffix) && s.Notify != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.deliver(m, in.MessageType, "TEXT_BLOCKED", "BLOCKED", "The carrier blocked the message.")
		}()
	}
}

// deliver sends a delivery event the way an SNS event destination brings it
// to a subscribed Lambda: an SNS record whose Message is the event's JSON.
func (s *Sink) deliver(m Message, messageType, eventType, status, description string) {
	after := s.NotifyAfter
	if after == 0 {
		after = 200 * time.Millisecond
	}
	time.Sleep(after)
	if messageType == "" {
		messageType = "TRANSACTIONAL"
	}
	now := s.now()
	body, _ := json.Marshal(map[string]any{
		"eventType": eventType, "eventVersion": "1.0", "eventTimestamp": now.UnixMilli(), "isFinal": true,
		"originationPhoneNumber": m.From, "destinationPhoneNumber": m.To, "isInternationalSend": false,
		"messageId": m.ID, "messageRequestTimestamp": m.At, "messageEncoding": "GSM", "messageType": messageType,
		"messageStatus": status, "messageStatusDescription": description, "context": m.Context,
		"totalMessageParts": 1, "totalMessagePrice": 0.00581, "totalCarrierFee": 0.003,
	})
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{
		EventVersion: "1.0", EventSource: "aws:sns",
		EventSubscriptionArn: "arn:aws:sns:us-east-1:000000000000:handoff-sms-events:local",
		SNS: events.SNSEntity{
			Type: "Notification", MessageID: newID(), TopicArn: "arn:aws:sns:us-east-1:000000000000:handoff-sms-events",
			Message: string(body), Timestamp: now.UTC(),
		},
	}}}
	for attempt := range 3 {
		err := s.Notify(context.Background(), ev)
		if err == nil {
			return
		}
		if s.Log != nil {
			s.Log.Warn("phone sink: delivery event refused, trying again", "attempt", attempt+1, "error", err)
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
}

// Wait waits for the delivery events already started.
func (s *Sink) Wait() { s.wg.Wait() }

// Messages returns the texts accepted at or after since (unix ms).
func (s *Sink) Messages(since int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Message{}
	for _, m := range s.msgs {
		if m.At >= since {
			out = append(out, m)
		}
	}
	return out
}

func (s *Sink) store(w http.ResponseWriter, r *http.Request) {
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, `{"error": "since must be unix milliseconds"}`)
			return
		}
		since = n
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"messages": s.Messages(since)})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
