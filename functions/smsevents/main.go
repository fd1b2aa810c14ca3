// Command smsevents is the smsevents Lambda: it takes the delivery events of
// texts from SNS and, when a text could not be delivered, moves the referral
// to the patient's other channel or makes it unreachable.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/smsevents"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	wire.Main("smsevents", nil, func(a *app.App, log *slog.Logger) {
		h := &smsevents.Handler{App: a, Log: log}
		lambda.Start(h.Handle)
	})
}
