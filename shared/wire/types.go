package wire

import "github.com/handoff-health/handoff/shared/mail"

type sesMessage = mail.Message
