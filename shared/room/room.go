// Package room holds the use cases of the clinic's own pages (/clinic, and
// the links /s/ and /q/): the operator invites staff, who register a passkey
// from the invitation and sign in with it (or with a one-time link by email);
// signed-in staff refer a patient in the room through the one intake path,
// and show the patient a QR code that opens the consent page on the
// patient's own phone; they see their clinic's referrals and each one's
// timeline. Staff see only their own clinic.
//
// It sits beside shared/app and uses its kernel (the referral intake, the
// ledger, events, link tokens): every email it causes — an invitation, a
// sign-in link, the consent link sent "instead" of the QR code — is an event
// of its own whose effect it adds to the one dispatcher (Register), sent
// through App.SendOnce or App.TextOnce. WebAuthn is behind Passkeys and the
// QR drawing behind Room.DrawQR, so that only the process serving the pages
// links their libraries.
package room

import (
	"context"
	"net/url"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/session"
)

// Lifetimes of the links and ceremonies.
const (
	InviteTTL   = 72 * time.Hour   // an invitation to register a passkey
	SignInTTL   = 15 * time.Minute // a sign-in link by email
	QRTTL       = 15 * time.Minute // a QR code's /q/ link
	CeremonyTTL = 5 * time.Minute  // a passkey ceremony
)

// Rate limits of "email me a sign-in link", per address and per source (the
// client's address), counted in DynamoDB so that every instance shares them.
const (
	SignInWindow     = time.Hour
	SignInPerAddress = 5
	SignInPerSource  = 20
)

// Passkeys is the WebAuthn relying party (shared/passkey). Options and
// answers are the JSON the browser's navigator.credentials calls take and
// give; state is what a ceremony keeps between them.
type Passkeys interface {
	// BeginRegistration: options for a new passkey of the person with user
	// handle handle, excluding the passkeys they have.
	BeginRegistration(handle []byte, name string, have []dynamo.Passkey) (options, state []byte, err error)
	// FinishRegistration: the new passkey, or problem.Unauthorized /
	// problem.Malformed for an answer that does not verify.
	FinishRegistration(handle []byte, name string, state, response []byte) (dynamo.Passkey, error)
	// BeginLogin: options for any passkey of this relying party.
	BeginLogin() (options, state []byte, err error)
	// FinishLogin: the handle and passkey of a verified answer (find gives
	// a handle's name and passkeys, problem.NotFound for nobody), or
	// problem.Unauthorized / problem.Malformed.
	FinishLogin(state, response []byte, find func(handle []byte) (string, []dynamo.Passkey, error)) ([]byte, dynamo.Passkey, error)
}

// Room is the clinic pages' use cases, built once per process.
type Room struct {
	App      *app.App
	Staff    *dynamo.Staff
	Sessions *session.Manager
	// Passkeys is nil in a process that serves no ceremony (the operator's
	// API, the dispatcher).
	Passkeys Passkeys
	// DrawQR draws a link as an inline SVG QR code (shared/qr.SVG); nil in
	// a process that shows none.
	DrawQR func(text, label string) (string, error)
	// Origin is where the clinic's pages are served (see Origin); their
	// links, and passkeys, are bound to it.
	Origin string
}

// New builds the use cases on a's stores and clock. Call it once a's stores
// are set.
func New(a *app.App, keys Passkeys, drawQR func(text, label string) (string, error)) *Room {
	staff := newStaff(a)
	r := &Room{
		App: a, Staff: staff, Passkeys: keys, DrawQR: drawQR, Origin: Origin(a.Config.PublicURL),
		Sessions: &session.Manager{Store: session.StoreOf(staff), LinkKey: a.LinkKey, Now: a.Clock},
	}
	r.Sessions.EHRBind = r.ehrBind
	return r
}

// Origin is the origin of the clinic's pages for a deployment's public URL:
// its scheme, host and port. A browser takes no passkey for an address
// (127.0.0.1, ::1), so a stack on loopback serves these pages as localhost —
// the same machine, by name.
func Origin(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return publicURL
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1":
		host := "localhost"
		if p := u.Port(); p != "" {
			host += ":" + p
		}
		u.Host = host
	}
	return u.Scheme + "://" + u.Host
}

// Register adds the effects of the pages' events (their emails, the
// counting of a QR code opened) to a's
// dispatcher: call it in every process that dispatches, while wiring, once
// a's stores are set. It builds only what the effects use, so a dispatcher
// links little of the pages.
func Register(a *app.App) {
	r := &Room{App: a, Staff: newStaff(a), Origin: Origin(a.Config.PublicURL)}
	r.register()
}

func newStaff(a *app.App) *dynamo.Staff {
	return &dynamo.Staff{DB: a.Clinics.DB, Table: a.Clinics.Table, Referrals: a.Referrals, Now: a.Referrals.Now}
}

// Register adds the effects of the pages' events to the dispatcher (see
// the function Register).
func (r *Room) Register() { r.register() }

func (r *Room) register() {
	r.App.Handle(EventStaffInvited, r.onInvited)
	r.App.Handle(EventSignInLink, r.onSignInLink)
	r.App.Handle(EventQROpened, r.onQROpened)
}

// Staff is a signed-in staff member, or the clinician an EHR launch signed
// in (EHRUser set: their fhirUser; Member holds their clinic and a name,
// see ehr.go): who, and the session's hash their forms are bound to.
type Staff struct {
	Member      dynamo.Member
	SessionHash string
	EHRUser     string
	// Launch is what the EHR launch that opened the session brought, until
	// a referral is made from it; nil otherwise.
	Launch *Launch
	// Embedded: the session of a launch inside a frame of the EHR's page.
	// It reaches its launch's form and, once made (Referral), the referral
	// made from it: no other referral, list or setting of the clinic.
	Embedded bool
	// Referral is the referral an EHR user's session made from its
	// launch's form.
	Referral string
}

// errSignIn is the one answer to a refused sign-in, whatever the reason.
var errSignIn = problem.Errorf(problem.Unauthorized, "The passkey was not accepted. Try again, or ask for a sign-in link by email.")

// Session returns the staff member a session cookie's value names.
// Errors: problem.Unauthorized when there is none (signed out, expired,
// removed from the staff).
func (r *Room) Session(ctx context.Context, value string) (Staff, error) {
	cur, err := r.Sessions.Check(ctx, value, "")
	if err != nil {
		return Staff{}, err
	}
	if cur.Session.Staff == dynamo.EHRUser {
		return ehrStaff(cur.Session, cur.Hash)
	}
	return Staff{Member: cur.Member, SessionHash: cur.Hash}, nil
}

// SignOut ends a session: every copy of its cookie stops working.
func (r *Room) SignOut(ctx context.Context, value string) error {
	return r.Sessions.End(ctx, value)
}

func (r *Room) now() time.Time { return r.App.Clock() }
