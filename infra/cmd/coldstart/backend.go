package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/handoff-health/handoff/infra/local"
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
)

// The sample events in events/ are signed for this clinic with this secret
// (events/README.md).
const (
	sampleClinic = "clinic-demo"
	sampleSecret = "whsec_aGFuZG9mZi1zYW1wbGUtc2VjcmV0LW5vdC1mb3ItdXNl"
)

// backend is the local stack the measured functions talk to, so a cold start
// is timed through its real first calls rather than through connection
// errors: the embedded DynamoDB server with the template's tables, the SES
// emulator, and local-kms when it is installed (make tools).
type backend struct {
	stack *local.Stack
	env   []string
}

// startBackend starts the stack on free loopback ports, with the sample
// clinic in it; on fresh ones if a port it drew was taken before the stack
// bound it.
func startBackend(ctx context.Context, root string) (*backend, error) {
	st, err := local.StartDrawn(func() (*local.Stack, error) { return startStack(ctx, root) })
	if err != nil {
		return nil, fmt.Errorf("start the local stack the functions talk to (make node_modules tools): %w", err)
	}
	cfg := st.Config
	env := append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_EC2_METADATA_DISABLED=true",
		"HANDOFF_PUBLIC_URL=" + cfg.PublicURL,
		"HANDOFF_REFERRALS_TABLE=" + cfg.ReferralsTable,
		"HANDOFF_DIRECTORY_TABLE=" + cfg.DirectoryTable,
		"HANDOFF_MAIL_FROM=" + cfg.MailFrom,
		// The sample referral was signed at a fixed time; a window of a
		// century lets its signature verify, so intake does its real work.
		"HANDOFF_WEBHOOK_TOLERANCE=876000h",
	}, st.Env()...) // endpoints, local credentials, the admin token and keys
	return &backend{stack: st, env: env}, nil
}

// startStack is one try of startBackend, on ports drawn now.
func startStack(ctx context.Context, root string) (*local.Stack, error) {
	addr := unusedAddr()
	return local.Start(ctx, local.Options{
		Root: root,
		Getenv: func(k string) string {
			if k == "HANDOFF_ADDR" {
				return addr
			}
			return ""
		},
		Out:        io.Discard,
		Log:        slog.New(slog.DiscardHandler),
		DynamoAddr: unusedAddr(), SESAddr: unusedAddr(), KMSAddr: unusedAddr(), PhoneAddr: unusedAddr(),
		SweepEvery: time.Hour, // the functions under test run the events, not the stack
		Seed: func(ctx context.Context, a *app.App) (local.SeedInfo, error) {
			return local.SeedInfo{ClinicID: sampleClinic}, a.Clinics.Create(ctx, dynamo.Clinic{
				ID: sampleClinic, Name: "Sample Clinic", ContactEmail: "desk@clinic.example",
				APIKeyHash: "unused", WebhookSecret: sampleSecret, CreatedAt: time.Now().UTC(),
			})
		},
	})
}

func (b *backend) stop() { b.stack.Stop() }
