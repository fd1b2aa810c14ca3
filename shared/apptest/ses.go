package apptest

import (
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go/middleware"

	"github.com/handoff-health/handoff/shared/ses"
	"github.com/handoff-health/handoff/shared/ses/sestest"
)

func sesSender(e *sestest.Emulator, from, configurationSet string, options []func(*middleware.Stack) error) *ses.Sender {
	return ses.NewSender(e.Client(func(o *sesv2.Options) { o.APIOptions = append(o.APIOptions, options...) }), from, configurationSet)
}
