package referral

import (
	"fmt"
	"slices"
	"time"
)

// transitions is the referral lifecycle, in one place. A change not listed here
// is an error.
var transitions = map[Status][]Status{
	AwaitingConsent: {Consented, Declined, Expired, Cancelled, Unmatched, Unreachable},
	Consented:       {Routed, SharedWithPatient, Unmatched, Cancelled, Revoked},
	Routed:          {Accepted, Unmatched, Cancelled, Revoked},
	Accepted:        {Connected, NotConnected, Attended, Cancelled, Revoked},
	// Closed statuses lead nowhere, except that a patient who chose to contact
	// groups themselves may still revoke their consent. (A connected
	// referral with a first meeting still waits for it: see
	// Referral.CanMove.)
	SharedWithPatient: {Revoked},
}

// awaitingMeeting is where a connected referral may still go while its
// first meeting is not settled (see Referral.AwaitsMeeting).
var awaitingMeeting = []Status{Attended, Cancelled, Revoked}

// CanMove reports whether a referral may move from one status to another.
func CanMove(from, to Status) bool { return slices.Contains(transitions[from], to) }

// Move checks a transition and returns an error naming it when it is not allowed.
func Move(from, to Status) error {
	if !CanMove(from, to) {
		return fmt.Errorf("referral: no transition from %q to %q", from, to)
	}
	return nil
}

// Open reports whether a referral in this status can still change (be cancelled
// by the clinic or revoked by the patient).
func (s Status) Open() bool {
	return CanMove(s, Cancelled) || CanMove(s, Revoked)
}

// AwaitsMeeting reports whether the referral waits for the word on its
// first meeting: a group chose one, nobody has said the patient went, and
// the week after the meeting has not run out (FirstMeeting.Settled).
func (r *Referral) AwaitsMeeting() bool {
	return r.FirstMeeting != nil && !r.FirstMeeting.Settled &&
		(r.Status == Accepted || r.Status == Connected)
}

// CanMove reports whether r may move to status to: as the lifecycle's
// table says, and, for a connected referral that still awaits its first
// meeting, to attended, cancelled or revoked. Attended needs a first
// meeting that awaits its word.
func (r *Referral) CanMove(to Status) bool {
	if to == Attended && !r.AwaitsMeeting() {
		return false
	}
	if CanMove(r.Status, to) {
		return true
	}
	return r.Status == Connected && r.AwaitsMeeting() && slices.Contains(awaitingMeeting, to)
}

// Open reports whether the referral can still change: its status is open,
// or it is connected and still awaits its first meeting (a referral with a
// first meeting stays open until attended, or a week after the meeting).
func (r *Referral) Open() bool {
	return r.Status.Open() || r.Status == Connected && r.AwaitsMeeting()
}

// routeTransitions is the lifecycle of one route.
var routeTransitions = map[RouteStatus][]RouteStatus{
	RouteNotified: {RouteAccepted, RouteDeclined, RouteTimedOut, RouteWithdrawn},
	RouteAccepted: {RouteConnected, RouteNotConnected, RouteWithdrawn},
}

// CanMoveRoute reports whether a route may move from one status to another.
func CanMoveRoute(from, to RouteStatus) bool {
	return slices.Contains(routeTransitions[from], to)
}

// EventType names what happened; each type has one effect in the dispatcher.
type EventType string

// Event types. Scheduled ones (deadlines, retries) carry a Due time in the future.
const (
	ConsentRequested EventType = "consent-requested" // email the consent link
	ConsentGiven     EventType = "consent-given"     // route, or share details with the patient
	ConsentDeclined  EventType = "consent-declined"
	ConsentRevoked   EventType = "consent-revoked"    // tell notified groups, stop disclosure
	ConsentDeadline  EventType = "consent-deadline"   // scheduled: expire if still awaiting consent
	ConsentReminder  EventType = "consent-reminder"   // scheduled: the one reminder if still awaiting consent
	VolunteerNamed   EventType = "volunteer-named"    // tell the patient who from the group will reach out
	GroupNotified    EventType = "group-notified"     // email the group's contact
	GroupDeadline    EventType = "group-deadline"     // scheduled: time the route out if unanswered
	RouteAnswered    EventType = "route-answered"     // a group answered: a record, written done (its counts ride in the answer's write)
	Withdrawn        EventType = "referral-withdrawn" // tell a notified group the referral is off
	StatusChanged    EventType = "status-changed"     // timeline entry; clinician webhook and email
	CallbackAttempt  EventType = "callback-attempt"   // scheduled: one try of a status webhook
	ReceiptRequested EventType = "consent-receipt"    // email the patient a receipt of their consent
	Closed           EventType = "referral-closed"    // set the retention TTL on everything of the referral
	ListingCheck     EventType = "listing-check"      // a group's partition: ask its contact to check the listing
	ListingHandover  EventType = "listing-handover"   // a group's partition: ask the new contact to confirm, tell the old one
	Heartbeat        EventType = "heartbeat"          // a subscription's partition: post a heartbeat if it was quiet
	Handshake        EventType = "handshake"          // a subscription's partition: shake hands with its endpoint
	// Noted is a timeline entry of a step that changes no status (a
	// reminder sent, the patient missed the first meeting): Status is the
	// referral's status then, Detail the words. It has no effect.
	Noted EventType = "noted"
	// The first contact and the first meeting.
	GroupText       EventType = "group-text"       // text the notice to a group contact who agreed to texts
	GroupWindow     EventType = "group-window"     // scheduled: the first-contact window ran out: remind the group, tell its office
	OfficeNotified  EventType = "office-notified"  // email the group's service office the notice, with its own link
	MeetingPlanned  EventType = "meeting-planned"  // bring the patient the first meeting a group chose
	MeetingReminder EventType = "meeting-reminder" // scheduled: the one reminder before the first meeting
	MeetingCheckIn  EventType = "meeting-checkin"  // scheduled: ask the patient, after the meeting, whether they went
	MeetingClose    EventType = "meeting-close"    // scheduled: a week after the meeting, stop waiting for the word on it
	ImportChunk     EventType = "import-chunk"     // an import's partition: store one chunk, then start the next
	ImportFinish    EventType = "import-finish"    // an import's partition: withdraw what the feed dropped; done
)

// Event is an item written in the same transaction as the state change that
// causes it. It holds ids and statuses, never personal data: events are also the
// clinician's timeline and the audit trail.
type Event struct {
	ID string `json:"id"` // ULID: sorts by time
	// Partition is the id of what the event belongs to: a referral's id for
	// a referral's events, "group-<id>" for a group's (listing checks),
	// "sub-<id>" for a FHIR Subscription's (handshakes, heartbeats) and
	// "import-<id>" for an asynchronous import's. The
	// stored attribute keeps its first name, referral_id.
	Partition string            `json:"referral_id"`
	ClinicID  string            `json:"clinic_id"`
	Type      EventType         `json:"type"`
	At        time.Time         `json:"at"`
	Due       time.Time         `json:"due"` // when it may run; At unless scheduled
	Status    Status            `json:"status,omitempty"`
	Detail    string            `json:"detail,omitempty"`
	Data      map[string]string `json:"data,omitempty"`
	Attempt   int               `json:"attempt,omitempty"`
	// TTL is when the store may delete the event (epoch seconds), set once
	// the referral has closed; 0 while it is open.
	TTL int64 `json:"expires_at,omitempty"`
}
