// Command consent is the consent Lambda: it serves the patient consent pages through API Gateway.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/apigw"
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	wire.Main("consent", nil, func(a *app.App, log *slog.Logger) {
		s := &httpapi.Server{App: a, Log: log}
		lambda.Start(apigw.Handler{HTTP: s.Consent()}.Handle)
	})
}
