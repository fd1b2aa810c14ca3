// Command dispatch is the dispatch Lambda: it runs the effects of pending
// events from the ReferralsTable stream, and sweeps for due and stuck events on
// a schedule. It is the only function that sends email and texts.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dispatch"
	"github.com/handoff-health/handoff/shared/eum"
	"github.com/handoff-health/handoff/shared/ses"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	withSES := func(cfg config.Config) wire.Options {
		return wire.Options{
			Mailer: func(aw wire.AWS) app.Mailer {
				return ses.New(aw.Config, aw.Endpoint("SESV2"), cfg.MailFrom, cfg.SESConfigurationSet)
			},
			Texter: func(aw wire.AWS) app.Texter {
				return eum.New(aw.Config, aw.Endpoint("PINPOINT_SMS_VOICE_V2"), cfg.SMSOrigin, cfg.SMSConfigurationSet)
			},
		}
	}
	wire.Main("dispatch", withSES, func(a *app.App, log *slog.Logger) {
		dispatch.Effects(a) // the effects of the events the packages beside the core write
		d := &dispatch.Dispatcher{App: a, Log: log}
		lambda.Start(d.Handle)
	})
}
