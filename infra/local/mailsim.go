package local

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/mail"
)

// The addresses of SES's mailbox simulator
// (https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html):
// SES accepts a message to them, then reports what its name says.
const (
	SimulatorSuccess   = "success@simulator.amazonses.com"
	SimulatorBounce    = "bounce@simulator.amazonses.com"
	SimulatorComplaint = "complaint@simulator.amazonses.com"
)

// mailboxSimulator does for the local stack what SES's mailbox simulator
// does in AWS: a message to the bounce or complaint address is sent (it
// lands in the emulator's mailbox), and a moment later the bounce or
// complaint comes back as the configuration set's event destination brings
// it, an SNS notification to the sesevents function's handler, with the
// message's tags. Other addresses are sent as they are.
type mailboxSimulator struct {
	next   app.Mailer
	notify func(context.Context, events.SNSEvent) error
	after  time.Duration
	log    *slog.Logger
	wg     sync.WaitGroup
}

func (s *mailboxSimulator) Send(ctx context.Context, m mail.Message) (string, error) {
	id, err := s.next.Send(ctx, m)
	if err != nil {
		return id, err
	}
	var kind string
	switch strings.ToLower(m.To) {
	case SimulatorBounce:
		kind = "Bounce"
	case SimulatorComplaint:
		kind = "Complaint"
	default:
		return id, nil
	}
	ev := simulatorEvent(kind, id, m)
	s.wg.Go(func() {
		time.Sleep(s.after)
		if err := s.notify(context.Background(), ev); err != nil {
			s.log.Warn("the simulated "+strings.ToLower(kind)+" was not handled", "error", err.Error())
		}
	})
	return id, nil
}

// wait returns once every simulated notification was handed over.
func (s *mailboxSimulator) wait() { s.wg.Wait() }

// simulatorEvent is the SNS record SES's event destination sends for a
// bounce (permanent, as the simulator's is) or a complaint of message id.
func simulatorEvent(kind, id string, m mail.Message) events.SNSEvent {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	tags := map[string][]string{}
	for k, v := range m.Tags {
		tags[k] = []string{v}
	}
	body := map[string]any{
		"eventType": kind,
		"mail":      map[string]any{"timestamp": now, "messageId": id, "destination": []string{m.To}, "tags": tags},
	}
	switch kind {
	case "Bounce":
		body["bounce"] = map[string]any{
			"bounceType": "Permanent", "bounceSubType": "General", "timestamp": now,
			"bouncedRecipients": []map[string]string{{"emailAddress": m.To, "action": "failed", "status": "5.1.1"}},
		}
	case "Complaint":
		body["complaint"] = map[string]any{"timestamp": now, "complainedRecipients": []map[string]string{{"emailAddress": m.To}}}
	}
	msg, _ := json.Marshal(body)
	return events.SNSEvent{Records: []events.SNSEventRecord{{
		EventSource: "aws:sns",
		SNS:         events.SNSEntity{Type: "Notification", MessageID: id, Message: string(msg)},
	}}}
}
