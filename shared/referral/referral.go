// Package referral is handoff's domain at the centre: a referral, its routes to
// groups, its lifecycle and the events that drive every side effect.
//
// It imports nothing from AWS. Stores (shared/dynamo) persist these types and
// functions translate HTTP and Lambda events into calls on them.
package referral

import "time"

// Status is a referral's place in its lifecycle (see Transitions).
type Status string

// Referral statuses, as published in the contract.
const (
	AwaitingConsent   Status = "awaiting-consent"
	Consented         Status = "consented"
	Declined          Status = "declined"
	Expired           Status = "expired"
	Cancelled         Status = "cancelled"
	Revoked           Status = "revoked"
	Routed            Status = "routed"
	SharedWithPatient Status = "shared-with-patient"
	Unmatched         Status = "unmatched"
	Accepted          Status = "accepted"
	Connected         Status = "connected"
	NotConnected      Status = "not-connected"
	// Unreachable: no channel handoff may use reaches the patient (the
	// consent link's email bounced and there is no other).
	Unreachable Status = "unreachable"
	// Attended: the patient or the group said the patient went to the
	// first meeting the group chose.
	Attended Status = "attended"
)

// RouteStatus is the state of one approach to one group.
type RouteStatus string

// Route statuses, as published in the contract.
const (
	RouteNotified     RouteStatus = "notified"
	RouteAccepted     RouteStatus = "accepted"
	RouteDeclined     RouteStatus = "declined"
	RouteTimedOut     RouteStatus = "timed-out"
	RouteConnected    RouteStatus = "connected"
	RouteNotConnected RouteStatus = "not-connected"
	RouteWithdrawn    RouteStatus = "withdrawn"
)

// DeclineReasons are the reasons a group may give for declining.
var DeclineReasons = []string{"no-capacity", "not-a-fit", "out-of-area", "other"}

// Patient holds the minimum kept about a patient. Contact fields are sealed at
// rest by the store; nothing clinical is ever held here.
type Patient struct {
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name,omitempty"` // consent record only (42 CFR Part 2 §2.31)
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	// Mobile tells that Phone takes texts: always for a native referral's
	// phone; for FHIR, a telecom with system sms, or phone and use mobile.
	Mobile   bool   `json:"mobile,omitempty"`
	Language string `json:"preferred_language,omitempty"` // BCP-47; "en" when not given
	// PreferredChannel is how the patient would rather get the consent link:
	// "email", "sms" or "" (no preference).
	PreferredChannel string `json:"preferred_channel,omitempty"`
}

// Location is a coarse location: a postal code and a geohash cell, never a street.
type Location struct {
	PostalCode string  `json:"postal_code,omitempty"`
	Country    string  `json:"country,omitempty"`
	Geohash    string  `json:"geohash"` // precision 6 (about 1.2 km)
	Lat        float64 `json:"lat"`     // the cell's centre, not the patient's point
	Lon        float64 `json:"lon"`
}

// Preferences say what kind of group suits the patient.
type Preferences struct {
	Formats       []string `json:"formats,omitempty"`      // in-person, online, hybrid
	Spirituality  string   `json:"spirituality,omitempty"` // secular, spiritual, or "" for either
	Languages     []string `json:"languages,omitempty"`
	Days          []string `json:"days,omitempty"`  // mon..sun
	Times         []string `json:"times,omitempty"` // morning, afternoon, evening
	Accessibility []string `json:"accessibility,omitempty"`
	Audience      []string `json:"audience,omitempty"`
}

// Clinician is who referred, for the clinic's own loop.
type Clinician struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Intake is a decoded, validated and minimized referral as it arrives from a
// clinic: clinical codes are already mapped to Topics and dropped.
type Intake struct {
	ExternalID  string      `json:"external_id,omitempty"`
	Patient     Patient     `json:"patient"`
	Location    Location    `json:"location"`
	Topics      []string    `json:"topics"`
	Preferences Preferences `json:"preferences"`
	Clinician   Clinician   `json:"clinician"`
}

// Referral is a stored referral.
type Referral struct {
	ID        string    `json:"id"`
	ClinicID  string    `json:"clinic_id"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Intake
	Consent *Consent `json:"consent,omitempty"`
	// Offers are the groups offered on the consent page; Matched tells that
	// matching ran (an empty list then means nothing was in reach).
	Offers  []Offer `json:"offers,omitempty"`
	Matched bool    `json:"matched,omitempty"`
	// Source is "fhir" for a referral an EHR created as a FHIR Task (its
	// clinic can then search it), SourceClinicPages for one made on the
	// clinic's own pages, else "".
	Source string `json:"source,omitempty"`
	// PatientKey is the keyed hash under which the clinic's EHR knows the
	// patient (a SMART launch's), when the referral came from one: while
	// the referral is open it tells the EHR's CDS Hooks call that the
	// patient has one. Never the EHR's id itself.
	PatientKey string `json:"patient_key,omitempty"`
	// FirstChannel is the channel the consent link was to go by first
	// (email or sms), fixed at intake: the funnel is counted per channel by it.
	FirstChannel string `json:"first_channel,omitempty"`
	// ViewedAt is when the patient first opened the consent page.
	ViewedAt time.Time `json:"viewed_at,omitzero"`
	// Flags are operational marks, e.g. "patient-email-bounced".
	Flags []string `json:"flags,omitempty"`
	// Volunteer is who from the accepting group will reach out, when the
	// group named them. Sealed at rest like the patient's contact.
	Volunteer *Volunteer `json:"-"`
	// FirstMeeting is the meeting the accepting group chose for the
	// patient's first, when it chose one.
	FirstMeeting *FirstMeeting `json:"first_meeting,omitempty"`
	// Version increases on each write; stores use it for optimistic locking.
	Version int `json:"version"`
}

// SourceClinicPages is the Source of a referral a clinic's staff made on
// the clinic's own pages (/clinic): its patient may have given no contact at
// all, the QR code the page shows being the way to the consent page.
const SourceClinicPages = "clinic-pages"

// Volunteer is the person a group names when it accepts: a first name and a
// short note to the patient.
type Volunteer struct {
	Name    string    `json:"name"`
	Note    string    `json:"note,omitempty"`
	GroupID string    `json:"group_id"`
	At      time.Time `json:"at"`
}

// FirstMeeting is one dated meeting of a group, chosen as a patient's
// first when the group accepted, and the word on it. It holds the
// listing's public facts as they were when chosen (a later change to the
// listing does not move a plan), never anything about the patient.
type FirstMeeting struct {
	GroupID string `json:"group_id"`
	Route   int    `json:"route"` // the route of the group that chose it
	// Value is the occurrence's form value: its local start,
	// "2026-03-10T19:00" (see shared/occurrence).
	Value string `json:"value"`
	// Start and End are instants; Zone is the meeting's IANA time zone,
	// in which they are shown.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Zone  string    `json:"zone"`
	// Meeting is the index of the weekly meeting in the group's listing.
	Meeting  int    `json:"meeting"`
	InPerson bool   `json:"in_person,omitempty"`
	Place    string `json:"place,omitempty"`
	Online   bool   `json:"online,omitempty"`
	JoinURL  string `json:"join_url,omitempty"`
	// JoinInstructions say how to join an online meeting without a link.
	JoinInstructions string `json:"join_instructions,omitempty"`
	// At is when the plan was made.
	At time.Time `json:"at"`
	// Attendance is the word on it: "attended", "missed" or "" (none yet);
	// AnsweredAt when it came.
	Attendance string    `json:"attendance,omitempty"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	// Settled: a week after the meeting nobody had said the patient went;
	// the referral no longer waits for it.
	Settled bool `json:"settled,omitempty"`
}

// Words on a first meeting (FirstMeeting.Attendance).
const (
	AttendanceAttended = "attended"
	AttendanceMissed   = "missed"
)

// MeetingSettleAfter is how long after a first meeting's end a referral
// waits for the word that the patient went.
const MeetingSettleAfter = 7 * 24 * time.Hour

// Consent is the patient's answer and the 42 CFR Part 2 §2.31 record of it.
type Consent struct {
	Mode string `json:"mode"` // introduce or self
	// Channel is the contact channel the patient agreed to share with groups:
	// "email" or "phone".
	Channel string   `json:"channel,omitempty"`
	Groups  []string `json:"groups"` // chosen group ids, in the patient's order
	// §2.31 elements.
	PatientName  string    `json:"patient_name"`
	Discloser    string    `json:"discloser"`    // the clinic's name
	Disclosed    string    `json:"disclosed"`    // what is disclosed, in words
	Recipients   []string  `json:"recipients"`   // group names
	Purpose      string    `json:"purpose"`      //
	RevokeHow    string    `json:"revoke_how"`   // the right to revoke and how
	ExpiresAt    time.Time `json:"expires_at"`   // when the consent ends
	Signature    string    `json:"signature"`    // e.g. "clicked Confirm"
	SignedAt     time.Time `json:"signed_at"`    // time and date of the signature
	Redisclosure string    `json:"redisclosure"` // the notice shown
	TextSHA256   string    `json:"text_sha256"`  // hash of the exact text shown
	Language     string    `json:"language"`     //
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	DeclinedAt   time.Time `json:"declined_at,omitzero"`
}

// Route is one approach to one group: the FHIR Task per target.
type Route struct {
	ReferralID string `json:"referral_id"`
	Seq        int    `json:"seq"` // order in the patient's choices, from 1
	GroupID    string `json:"group_id"`
	GroupName  string `json:"group_name"`
	// GroupLanguage is the language the group's page and emails use.
	GroupLanguage string `json:"group_language,omitempty"`
	// GroupTimezone is the IANA zone the group meets in, for the dates its
	// page and emails show.
	GroupTimezone string      `json:"group_timezone,omitempty"`
	Status        RouteStatus `json:"status"`
	Reason        string      `json:"reason,omitempty"`
	At            time.Time   `json:"at"`
	Deadline      time.Time   `json:"deadline,omitzero"`
}

// Offer is a group offered to the patient on the consent page, fixed when the
// consent link is sent so that the page, and the consent text, stay the same.
type Offer struct {
	GroupID    string        `json:"group_id"`
	Name       string        `json:"name"`
	Format     string        `json:"format"` // in-person, online or hybrid
	Meetings   []MeetingTime `json:"meetings,omitempty"`
	City       string        `json:"city,omitempty"`
	PostalCode string        `json:"postal_code,omitempty"`
	OnlineURL  string        `json:"online_url,omitempty"`
	DistanceKm float64       `json:"distance_km,omitempty"`
	Reasons    []string      `json:"reasons,omitempty"`
}

// MeetingTime is when a group meets, in its own time zone.
type MeetingTime struct {
	Day      string `json:"day"`  // mon..sun
	Time     string `json:"time"` // HH:MM, 24-hour
	Timezone string `json:"timezone,omitempty"`
}
