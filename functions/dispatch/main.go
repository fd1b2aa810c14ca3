// Command dispatch is the dispatch Lambda: it runs the effects of pending
// events from the ReferralsTable stream, and sweeps for due and stuck events on
// a schedule.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dispatch"
	"github.com/handoff-health/handoff/shared/ses"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dispatch:", err)
		os.Exit(1)
	}
}

func run() error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	a, err := wire.Build(context.Background(), cfg, log, wire.Options{
		Mailer: func(aw wire.AWS) app.Mailer {
			return ses.New(aw.Config, aw.Endpoint("SESV2"), cfg.MailFrom, cfg.SESConfigurationSet)
		},
	})
	if err != nil {
		return err
	}
	d := &dispatch.Dispatcher{App: a, Log: log}
	lambda.Start(d.Handle)
	return nil
}
