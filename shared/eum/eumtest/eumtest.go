// Package eumtest is the phone sink, a local stand-in for AWS End User
// Messaging SMS, and the test kit that starts it, as sestest and kmstest
// are for SES and KMS. The sink answers SendTextMessage (AWS JSON 1.0,
// PinpointSMSVoiceV2) the way AWS does, keeps every text, lists them on GET
// /store and shows them on GET / grouped by phone number, like a row of
// phones. No maintained emulator of this API runs offline; this one does
// only what handoff calls. `make run` serves it; tests start one with Start.
//
// Simulated numbers: a destination ending in 0198 has opted out (the call
// fails with ConflictException, reason DESTINATION_PHONE_NUMBER_OPTED_OUT);
// one ending in 0199 is accepted, then reported undeliverable: a TEXT_BLOCKED
// delivery event goes to Notify as SNS would bring it.
package eumtest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/handoff-health/handoff/shared/eum"
)

// Phones is a phone sink a test serves.
type Phones struct {
	*Sink
	URL string // e.g. http://127.0.0.1:41234
}

// Start serves a new sink on a loopback port until the test ends; its
// delivery events come a millisecond after the send, to Notify once it is
// set. wrap, when not nil, stands in front of the sink (a test's faults).
// The test's cleanup waits for the delivery events under way.
func Start(t testing.TB, wrap func(http.Handler) http.Handler) *Phones {
	t.Helper()
	s := &Sink{NotifyAfter: time.Millisecond}
	var h http.Handler = s
	if wrap != nil {
		h = wrap(s)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); s.Wait() })
	return &Phones{Sink: s, URL: srv.URL}
}

// Sender returns a Sender that texts from origin through the real End User
// Messaging SMS client, pointed at the sink.
func (p *Phones) Sender(origin string) *eum.Sender {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	return eum.New(cfg, aws.String(p.URL), origin, "")
}

// To returns the texts the sink took for one number, oldest first.
func (s *Sink) To(number string) []Message {
	var out []Message
	for _, m := range s.Messages(0) {
		if m.To == number {
			out = append(out, m)
		}
	}
	return out
}
