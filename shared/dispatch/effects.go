package dispatch

import (
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/ehr"
	"github.com/handoff-health/handoff/shared/imports"
	"github.com/handoff-health/handoff/shared/listing"
	"github.com/handoff-health/handoff/shared/meeting"
	"github.com/handoff-health/handoff/shared/room"
)

// Effects adds to a the effects of the events that the packages beside the
// core write: the clinic pages' emails and QR openings (room), a FHIR
// Subscription's handshakes, heartbeats and notifications (ehr), the first
// contact's and the first meeting's messages (meeting), the listing
// checks and hand-overs (listing), and an asynchronous import's chunks and
// finish (imports, with its default options). Every process that runs a Dispatcher
// calls it — the dispatch function, the local stack and the test harness —
// so that none of them leaves an event pending for want of its effect
// (TestEveryEventHasItsEffect holds each event type of the code to it).
func Effects(a *app.App) {
	room.Register(a)
	(&ehr.Service{App: a}).Register()
	meeting.Register(a)
	listing.Register(a)
	imports.New(a, imports.Options{}).Register()
}
