// Command ehr is the ehr Lambda: it serves a clinic's EHR through API
// Gateway: the SMART Backend Services token endpoint (/oauth/token), its
// configuration (/.well-known/smart-configuration) and the FHIR R4 API
// (/fhir). It is apart from intake, so the function every signed referral
// webhook wakes carries no JOSE, no OAuth and no FHIR search.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/apigw"
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/ehrapi"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	wire.Main("ehr", nil, func(a *app.App, log *slog.Logger) {
		lambda.Start(apigw.Handler{HTTP: ehrapi.New(a, log).Handler()}.Handle)
	})
}
