// Package sesevents reads SES bounce and complaint notifications that arrive
// through SNS and hands each bounced message to shared/undelivered, which
// knows from the message's tags (referral, event, effect; never an address)
// who it was for.
package sesevents

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/snsin"
	"github.com/handoff-health/handoff/shared/undelivered"
)

// Handler handles SNS events from the SES notification topic.
type Handler struct {
	App *app.App
	Log *slog.Logger
}

// notification is the part of an SES event notification handoff reads.
type notification struct {
	EventType        string `json:"eventType"`        // configuration-set events
	NotificationType string `json:"notificationType"` // identity notifications
	Mail             struct {
		MessageID string              `json:"messageId"`
		Tags      map[string][]string `json:"tags"`
	} `json:"mail"`
	Bounce *struct {
		BounceType string `json:"bounceType"` // Permanent, Transient, Undetermined
	} `json:"bounce"`
	Complaint *struct{} `json:"complaint"`
}

// Handle processes one SNS batch. A SubscriptionConfirmation is logged and
// never followed: the subscription is made by the template, and following a URL
// from a message would let anyone who can publish make this function call out.
// A message that cannot be read is logged and dropped (retrying cannot help);
// a failure to record a bounce is returned, so SNS retries.
func (h *Handler) Handle(ctx context.Context, ev events.SNSEvent) error {
	for _, msg := range snsin.Notifications(ctx, h.Log, ev) {
		var n notification
		if err := json.Unmarshal([]byte(msg.Message), &n); err != nil {
			h.Log.WarnContext(ctx, "SES notification not readable", "sns_message", msg.MessageID)
			continue
		}
		kind := n.EventType
		if kind == "" {
			kind = n.NotificationType
		}
		var b undelivered.Bounce
		switch kind {
		case "Bounce":
			if n.Bounce == nil || n.Bounce.BounceType != "Permanent" {
				h.Log.InfoContext(ctx, "transient bounce ignored", "message", n.Mail.MessageID)
				continue
			}
			b.Kind = "bounce"
		case "Complaint":
			b.Kind = "complaint"
		default:
			continue
		}
		b.ReferralID, b.EventID, b.Effect = tag(n, "referral"), tag(n, "event"), tag(n, "effect")
		if b.ReferralID == "" || b.EventID == "" {
			h.Log.WarnContext(ctx, "SES notification without handoff tags", "message", n.Mail.MessageID)
			continue
		}
		if err := undelivered.New(h.App).RecordBounce(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func tag(n notification, name string) string {
	if v := n.Mail.Tags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
