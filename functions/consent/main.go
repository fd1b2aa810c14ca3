// Command consent is the consent Lambda: it serves the patient consent pages through API Gateway.
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
		fmt.Fprintln(os.Stderr, "consent:", err)
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
	lambda.Start(apigw.Handler{HTTP: s.Consent()}.Handle)
	return nil
}
