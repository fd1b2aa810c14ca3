package wire

import "github.com/handoff-health/handoff/shared/ses"

type sesMessage = ses.Message
