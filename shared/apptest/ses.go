package apptest

import (
	"github.com/handoff-health/handoff/shared/ses"
	"github.com/handoff-health/handoff/shared/ses/sestest"
)

func sesSender(e *sestest.Emulator, from string) *ses.Sender {
	return ses.NewSender(e.Client(), from, "")
}
