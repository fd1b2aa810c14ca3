// Command sesevents is the sesevents Lambda: it takes SES bounce and complaint
// notifications from SNS, pauses groups whose contact bounces and flags
// referrals whose patient address bounces.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/sesevents"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sesevents:", err)
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
	h := &sesevents.Handler{App: a, Log: log}
	lambda.Start(h.Handle)
	return nil
}
