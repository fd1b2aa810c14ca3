package wire

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/metrics"
)

// Main is a Lambda's main: it reads the configuration, builds the core once
// (no network at start-up) and hands it to start, which calls lambda.Start.
// options, when not nil, adds what only that function needs (a mailer). A
// failure before start is printed with the function's name and the process
// exits 1, so Lambda reports an init error.
func Main(name string, options func(config.Config) Options, start func(a *app.App, log *slog.Logger)) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	a, err := build(options, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	a.Metrics = &metrics.Emitter{W: os.Stdout, Function: name}
	start(a, log)
}

func build(options func(config.Config) Options, log *slog.Logger) (*app.App, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	var opt Options
	if options != nil {
		opt = options(cfg)
	}
	return Build(context.Background(), cfg, log, opt)
}
