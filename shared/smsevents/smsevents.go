// Package smsevents reads the delivery events of texts that AWS End User
// Messaging SMS publishes to SNS through the configuration set's event
// destination, and hands each to shared/undelivered, which knows from the
// text's context (referral, event, effect; never a number) whom it was for.
package smsevents

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/snsin"
	"github.com/handoff-health/handoff/shared/undelivered"
)

// Handler handles SNS events from the texting event topic.
type Handler struct {
	App *app.App
	Log *slog.Logger
}

// event is the part of an SMS event handoff reads. The event also carries
// both phone numbers: they are never read or logged.
type event struct {
	EventType string            `json:"eventType"`
	MessageID string            `json:"messageId"`
	Context   map[string]string `json:"context"`
}

// Handle processes one SNS batch. Subscription messages are logged and never
// followed (the template makes the subscription); an unreadable event or one
// without handoff's context is logged by type only and dropped; a failure to
// record an event is returned, so SNS retries.
func (h *Handler) Handle(ctx context.Context, ev events.SNSEvent) error {
	for _, msg := range snsin.Notifications(ctx, h.Log, ev) {
		var e event
		if err := json.Unmarshal([]byte(msg.Message), &e); err != nil {
			h.Log.WarnContext(ctx, "SMS event not readable", "sns_message", msg.MessageID)
			continue
		}
		te := undelivered.TextEvent{Type: e.EventType, ReferralID: e.Context["referral"], EventID: e.Context["event"]}
		if te.ReferralID == "" || te.EventID == "" {
			h.Log.WarnContext(ctx, "SMS event without handoff context", "type", e.EventType, "message", e.MessageID)
			continue
		}
		h.Log.InfoContext(ctx, "SMS event", "type", e.EventType, "referral", te.ReferralID, "event", te.EventID)
		if err := undelivered.New(h.App).RecordTextEvent(ctx, te); err != nil {
			return err
		}
	}
	return nil
}
