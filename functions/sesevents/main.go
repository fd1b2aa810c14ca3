// Command sesevents is the sesevents Lambda: it takes SES bounce and complaint
// notifications from SNS, pauses groups whose contact bounces and flags
// referrals whose patient address bounces.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/sesevents"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	wire.Main("sesevents", nil, func(a *app.App, log *slog.Logger) {
		h := &sesevents.Handler{App: a, Log: log}
		lambda.Start(h.Handle)
	})
}
