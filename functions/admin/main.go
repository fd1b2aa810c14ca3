// Command admin is the admin Lambda: it serves the operator API (clinics, groups, imports, match) and /healthz through API Gateway.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/apigw"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "admin:", err)
		os.Exit(1)
	}
}

func run() error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	a, err := wire.Build(context.Background(), cfg, log, wire.Options{})
	if err != nil {
		return err
	}
	s := &httpapi.Server{App: a, Log: log}
	lambda.Start(apigw.Handler{HTTP: s.Admin()}.Handle)
	return nil
}
