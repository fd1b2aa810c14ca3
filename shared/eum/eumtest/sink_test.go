package eumtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/handoff-health/handoff/shared/eum"
	"github.com/handoff-health/handoff/shared/eum/eumtest"
	"github.com/handoff-health/handoff/shared/sms"
)

// start runs a sink and returns a real SDK client's sender pointed at it.
func start(t *testing.T, sink *eumtest.Sink) (*httptest.Server, *eum.Sender) {
	t.Helper()
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: 1}
	return srv, eum.New(cfg, aws.String(srv.URL), "+12065550100", "handoff")
}

func TestSendTextMessage(t *testing.T) {
	var mu sync.Mutex
	var got []events.SNSEvent
	sink := &eumtest.Sink{NotifyAfter: time.Millisecond, Notify: func(_ context.Context, ev events.SNSEvent) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		return nil
	}}
	srv, s := start(t, sink)
	ctx := context.Background()
	before := time.Now().UnixMilli()

	id, err := s.Send(ctx, sms.Text{To: "+12065550123", Body: "hello", Context: map[string]string{"referral": "r1"}})
	if err != nil || id == "" {
		t.Fatalf("send: %q, %v", id, err)
	}

	_, err = s.Send(ctx, sms.Text{To: "+1206555" + eumtest.OptedOutSuffix, Body: "hello"})
	var un *sms.Unreachable
	if !errors.As(err, &un) || un.Reason != "DESTINATION_PHONE_NUMBER_OPTED_OUT" {
		t.Fatalf("opted out: got %v, want an Unreachable with DESTINATION_PHONE_NUMBER_OPTED_OUT", err)
	}
	if strings.Contains(err.Error(), "0198") {
		t.Errorf("the error names the number: %v", err)
	}

	_, err = s.Send(ctx, sms.Text{To: "555-0123", Body: "hello"})
	if !errors.As(err, &un) || un.Reason != "INVALID_PARAMETER" {
		t.Fatalf("not E.164: got %v, want an Unreachable with INVALID_PARAMETER", err)
	}

	if _, err := s.Send(ctx, sms.Text{To: "+1206555" + eumtest.UndeliverableSuffix, Body: "hello",
		Context: map[string]string{"referral": "r2", "event": "e2"}}); err != nil {
		t.Fatalf("undeliverable number: the send itself succeeds, got %v", err)
	}
	sink.Wait()
	mu.Lock()
	if len(got) != 1 {
		t.Fatalf("delivery events: got %d, want 1 (for the undeliverable number only)", len(got))
	}
	var ev struct {
		EventType   string            `json:"eventType"`
		MessageType string            `json:"messageType"`
		Context     map[string]string `json:"context"`
	}
	if err := json.Unmarshal([]byte(got[0].Records[0].SNS.Message), &ev); err != nil {
		t.Fatal(err)
	}
	mu.Unlock()
	if ev.EventType != "TEXT_BLOCKED" || ev.MessageType != "TRANSACTIONAL" || ev.Context["event"] != "e2" {
		t.Errorf("delivery event: %+v", ev)
	}

	res, err := http.Get(srv.URL + "/store?since=" + itoa(before))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var store struct {
		Messages []struct {
			ID, To, Body string
			At           int64
		} `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&store); err != nil {
		t.Fatal(err)
	}
	if len(store.Messages) != 2 || store.Messages[0].To != "+12065550123" || store.Messages[0].At < before {
		t.Errorf("store: %+v, want the 2 accepted texts", store.Messages)
	}
	res2, err := http.Get(srv.URL + "/store?since=" + itoa(time.Now().Add(time.Hour).UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if len(sink.Messages(time.Now().Add(time.Hour).UnixMilli())) != 0 {
		t.Error("since in the future lists texts")
	}
}

func TestUnknownOperationAndUnsigned(t *testing.T) {
	srv, _ := start(t, &eumtest.Sink{})
	for _, c := range []struct {
		target, auth, want string
	}{
		{"PinpointSMSVoiceV2.SendVoiceMessage", "AWS4-HMAC-SHA256 x", "UnknownOperationException"},
		{"PinpointSMSVoiceV2.SendTextMessage", "", "MissingAuthenticationTokenException"},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{}`))
		req.Header.Set("X-Amz-Target", c.target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("X-Amzn-ErrorType") != c.want {
			t.Errorf("%s: %d %s, want 400 %s", c.target, res.StatusCode, res.Header.Get("X-Amzn-ErrorType"), c.want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPageEscapesAndLinks(t *testing.T) {
	srv, s := start(t, &eumtest.Sink{})
	if _, err := s.Send(context.Background(), sms.Text{To: "+12065550123",
		Body: `<script>x</script> see http://127.0.0.1:3000/c/abc?x="y" Reply STOP`}); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, res.Body); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script>") {
		t.Error("the page shows a text's markup unescaped")
	}
	if !strings.Contains(page, `<a href="http://127.0.0.1:3000/c/abc?x=&#34;y&#34;">`) {
		t.Errorf("the text's link is not an escaped anchor:\n%s", page)
	}
	if !strings.Contains(page, `<h2 id="n-12065550123">&#43;12065550123</h2>`) {
		t.Errorf("the phone's number does not head its texts:\n%s", page)
	}
}
