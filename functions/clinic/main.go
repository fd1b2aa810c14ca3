// Command clinic is the clinic pages' Lambda: /clinic (passkey sign-in, the
// referral form, the clinic's referrals and their timelines), the one-time
// staff links /s/{token} and the patient's QR links /q/{token}, through API
// Gateway. It is the only function that links WebAuthn and the QR drawing.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/handoff-health/handoff/shared/apigw"
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/passkey"
	"github.com/handoff-health/handoff/shared/qr"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/wire"
)

func main() {
	wire.Main("clinic", nil, func(a *app.App, log *slog.Logger) {
		keys, err := passkey.New(room.Origin(a.Config.PublicURL), "handoff")
		if err != nil {
			fmt.Fprintf(os.Stderr, "clinic: %v\n", err)
			os.Exit(1)
		}
		s := &httpapi.Server{App: a, Log: log, Room: room.New(a, keys, qr.SVG)}
		lambda.Start(apigw.Handler{HTTP: s.Clinic()}.Handle)
	})
}
