// Command admin is the admin Lambda: it serves the operator API (clinics and their staff, groups, imports, match, an EHR's keys), the operator's page and /healthz through API Gateway.
package main

import (
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/apigw"
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/ehrapi"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	wire.Main("admin", nil, func(a *app.App, log *slog.Logger) {
		s := &httpapi.Server{App: a, Log: log, Room: room.New(a, nil, nil)}
		mux := http.NewServeMux()
		mux.Handle("/", s.Admin())
		ehrapi.New(a, log).MountAdmin(mux)
		lambda.Start(apigw.Handler{HTTP: mux}.Handle)
	})
}
