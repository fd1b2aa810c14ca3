// Package sms defines the text message handoff sends and counts what it costs
// on the air. It holds no sending code, so the functions that never text do
// not link a messaging client (the sender is shared/eum).
package sms

import "errors"

// Text is one text message.
type Text struct {
	To   string // E.164
	Body string
	// Context comes back in delivery events: ids only, never a name, a
	// number or a topic.
	Context map[string]string
}

// ErrThrottled is returned (wrapped) when the service refuses for rate or
// quota: the caller should retry later.
var ErrThrottled = errors.New("sms: throttled")

// Unreachable is a refusal that no retry can change: the number opted out
// of texts, or it cannot take them.
type Unreachable struct {
	Reason string // the service's reason, e.g. DESTINATION_PHONE_NUMBER_OPTED_OUT
}

func (e *Unreachable) Error() string { return "sms: number unreachable: " + e.Reason }
