// Package snsin reads the SNS records a subscribed Lambda receives: it keeps
// the notifications and drops, with a log line, subscription messages (the
// template makes the subscriptions; following a URL from a message would let
// anyone who can publish make the function call out) and unknown types.
package snsin

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
)

// Notifications returns the batch's notification messages, in order.
func Notifications(ctx context.Context, log *slog.Logger, ev events.SNSEvent) []events.SNSEntity {
	var out []events.SNSEntity
	for _, rec := range ev.Records {
		msg := rec.SNS
		switch msg.Type {
		case "Notification", "":
			out = append(out, msg)
		case "SubscriptionConfirmation", "UnsubscribeConfirmation":
			log.InfoContext(ctx, "SNS subscription message ignored", "type", msg.Type, "topic", msg.TopicArn)
		default:
			log.WarnContext(ctx, "unknown SNS message type", "type", msg.Type)
		}
	}
	return out
}
