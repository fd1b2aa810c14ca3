package room

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	mailmsg "github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// The pages' own events. Staff events live in the member's partition
// (dynamo.StaffPartition); a QR code opened in the referral's. (The consent
// link sent instead of the QR code is the referral's own consent-requested
// event, with the channel chosen.)
const (
	EventStaffInvited referral.EventType = "staff-invited"     // email the invitation
	EventSignInLink   referral.EventType = "staff-signin-link" // email a sign-in link
	EventQROpened     referral.EventType = "qr-opened"         // the patient opened a QR code: counted contacted
)

// Kinds of one-time staff links, and of the link tokens behind them.
const (
	linkInvite = "invite"
	linkSignIn = "signin"
)

// staffEventLife is how long a staff event is kept after it is due.
const staffEventLife = 30 * 24 * time.Hour

// Invitation is the operator's request to add a staff member to a clinic.
type Invitation struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Language string `json:"language,omitempty"` // of the emails: en (default) or es
}

// emailKey is the stored form of an address.
func emailKey(addr string) dynamo.EmailKey {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return dynamo.EmailKey(hex.EncodeToString(sum[:]))
}

// validAddress reports whether s is one plain email address.
func validAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

// Invite adds a staff member to a clinic and emails them an invitation
// (InviteTTL) to register a passkey. It returns the member's id. Errors:
// problem.Invalid (fields name, email, language), problem.NotFound (no
// such clinic), problem.Conflict (the address is staff already).
func (r *Room) Invite(ctx context.Context, clinicID string, in Invitation) (string, error) {
	id, _, err := r.InviteWithLink(ctx, clinicID, in)
	return id, err
}

// InviteWithLink is Invite, also returning the invitation's link: for the
// local stack, which prints it for its demo clinic. The API never shows it
// (it goes by email only).
func (r *Room) InviteWithLink(ctx context.Context, clinicID string, in Invitation) (string, string, error) {
	in.Name, in.Email = strings.TrimSpace(in.Name), strings.TrimSpace(in.Email)
	var fields []problem.FieldError
	if in.Name == "" || len(in.Name) > 100 || strings.IndexFunc(in.Name, unicode.IsControl) >= 0 {
		fields = append(fields, problem.FieldError{Field: "name", Detail: "is required: a name of at most 100 characters on one line"})
	}
	if !validAddress(in.Email) {
		fields = append(fields, problem.FieldError{Field: "email", Detail: "must be one email address"})
	}
	if in.Language == "" {
		in.Language = pages.English
	}
	if in.Language != pages.English && in.Language != pages.Spanish {
		fields = append(fields, problem.FieldError{Field: "language", Detail: "must be en or es"})
	}
	if len(fields) > 0 {
		return "", "", problem.Invalidf(fields, "The invitation has %d invalid fields.", len(fields))
	}
	if !app.ValidClinicID(clinicID) {
		return "", "", problem.Errorf(problem.NotFound, "clinic not found")
	}
	now := r.now()
	m := dynamo.Member{ID: app.NewID(now), ClinicID: clinicID, Name: in.Name, Email: in.Email, CreatedAt: now}
	ev := r.staffEvent(m.ID, clinicID, EventStaffInvited, now, in.Language)
	tok, hash, err := r.App.LinkToken(ctx, linkInvite, ev.ID, 0)
	if err != nil {
		return "", "", err
	}
	exp := now.Add(InviteTTL)
	err = r.Staff.Invite(ctx, dynamo.NewStaff{
		Member: m, Email: emailKey(in.Email), Event: ev,
		Token: dynamo.Token{Hash: hash, Kind: linkInvite, ClinicID: clinicID, StaffID: m.ID, ExpiresAt: exp, TTL: exp.Add(staffEventLife).Unix()},
	})
	if err != nil {
		return "", "", err
	}
	r.App.Log.InfoContext(ctx, "staff invited", "clinic", clinicID, "staff", m.ID)
	return m.ID, r.Origin + "/s/" + tok, nil
}

// staffEvent is an email event of a staff member, due now, carrying the
// email's language.
func (r *Room) staffEvent(staffID, clinicID string, t referral.EventType, now time.Time, lang string) referral.Event {
	return referral.Event{
		ID: app.NewID(now), Partition: dynamo.StaffPartition(staffID), ClinicID: clinicID, Type: t,
		At: now, Due: now, TTL: now.Add(staffEventLife).Unix(), Data: map[string]string{"staff": staffID, "lang": lang},
	}
}

// Remove removes a staff member from a clinic: their passkeys stop working
// and every session of theirs ends. Errors: problem.NotFound (no such
// member of that clinic).
func (r *Room) Remove(ctx context.Context, clinicID, staffID string) error {
	m, err := r.Staff.Member(ctx, staffID)
	if err != nil {
		return err
	}
	if m.ClinicID != clinicID {
		return problem.Errorf(problem.NotFound, "staff member not found")
	}
	if err := r.Staff.Remove(ctx, clinicID, staffID, emailKey(m.Email)); err != nil {
		return err
	}
	r.App.Log.InfoContext(ctx, "staff removed", "clinic", clinicID, "staff", staffID)
	return nil
}

// RemoveAll removes every staff member of a clinic (see Remove), as the
// clinic's removal does before it removes the clinic: their sessions end
// and their passkeys and links stop working. It returns how many were
// removed; removing again after a failure finishes the job.
func (r *Room) RemoveAll(ctx context.Context, clinicID string) (int, error) {
	if !app.ValidClinicID(clinicID) {
		return 0, nil
	}
	staff, err := r.Staff.List(ctx, clinicID)
	if err != nil {
		return 0, err
	}
	for i, m := range staff {
		if err := r.Staff.Remove(ctx, clinicID, m.ID, emailKey(m.Email)); err != nil && !problem.Is(err, problem.NotFound) {
			return i, err
		}
	}
	if len(staff) > 0 {
		r.App.Log.InfoContext(ctx, "staff removed with their clinic", "clinic", clinicID, "staff", len(staff))
	}
	return len(staff), nil
}

// onInvited emails a staff member their invitation.
func (r *Room) onInvited(ctx context.Context, ev referral.Event) error {
	return r.sendStaffLink(ctx, ev, linkInvite, InviteTTL, pages.StaffInviteEmail)
}

// onSignInLink emails a staff member a sign-in link.
func (r *Room) onSignInLink(ctx context.Context, ev referral.Event) error {
	return r.sendStaffLink(ctx, ev, linkSignIn, SignInTTL, pages.SignInEmail)
}

// sendStaffLink emails the one-time link of ev (its token derived again
// from the event, never stored), once; a member removed meanwhile gets
// nothing.
func (r *Room) sendStaffLink(ctx context.Context, ev referral.Event, kind string, ttl time.Duration,
	render func(lang, clinic, name, link string, expires time.Time) (pages.Email, error),
) error {
	m, err := r.Staff.Member(ctx, ev.Data["staff"])
	if problem.Is(err, problem.NotFound) {
		return r.App.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	clinic, err := r.App.Clinic(ctx, m.ClinicID)
	if err != nil {
		return err
	}
	err = r.App.SendOnce(ctx, ev, "email", func() (mailmsg.Message, error) {
		tok, _, err := r.App.LinkToken(ctx, kind, ev.ID, 0)
		if err != nil {
			return mailmsg.Message{}, err
		}
		e, err := render(ev.Data["lang"], clinic.Name, m.Name, r.Origin+"/s/"+tok, ev.At.Add(ttl))
		return mailmsg.Message{To: m.Email, Subject: e.Subject, Text: e.Text, HTML: e.HTML}, err
	})
	if err != nil {
		return err
	}
	return r.App.Referrals.Finish(ctx, ev)
}
