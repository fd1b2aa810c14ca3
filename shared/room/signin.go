package room

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/session"
)

var (
	errLinkNotFound = problem.Errorf(problem.NotFound, "this link does not work")
	errLinkGone     = problem.Errorf(problem.Gone, "this link has expired or was used")
	errTooMany      = problem.Errorf(problem.TooManyRequests, "too many sign-in links were asked for: try again in an hour")
)

// RequestSignInLink emails a one-time sign-in link (SignInTTL) to addr when
// it belongs to a staff member, in the language lang; source is the
// client's address. It answers the same — nil — whether or not the address
// is staff's, and sends nothing to an unknown one. Errors:
// problem.TooManyRequests past SignInPerAddress links an hour for one
// address or SignInPerSource for one source (the same for any address).
func (r *Room) RequestSignInLink(ctx context.Context, addr, source, lang string) error {
	addr = strings.TrimSpace(addr)
	now := r.now()
	ok, err := r.Staff.Count(ctx, "signin-source#"+app.HashToken(source), now, SignInWindow, SignInPerSource)
	if err != nil || !ok {
		return firstErr(err, errTooMany)
	}
	if !validAddress(addr) {
		return nil
	}
	key := emailKey(addr)
	if ok, err = r.Staff.Count(ctx, "signin-address#"+string(key), now, SignInWindow, SignInPerAddress); err != nil || !ok {
		return firstErr(err, errTooMany)
	}
	m, err := r.Staff.ByEmail(ctx, key)
	if problem.Is(err, problem.NotFound) {
		r.App.Log.InfoContext(ctx, "sign-in link asked for an unknown address")
		return nil
	}
	if err != nil {
		return err
	}
	ev := r.staffEvent(m.ID, m.ClinicID, EventSignInLink, now, pages.Lang(lang))
	_, hash, err := r.App.LinkToken(ctx, linkSignIn, ev.ID, 0)
	if err != nil {
		return err
	}
	exp := now.Add(SignInTTL)
	t := dynamo.Token{Hash: hash, Kind: linkSignIn, ClinicID: m.ClinicID, StaffID: m.ID, ExpiresAt: exp, TTL: exp.Add(staffEventLife).Unix()}
	if err := r.Staff.PutToken(ctx, t, ev); err != nil {
		return err
	}
	r.App.Log.InfoContext(ctx, "sign-in link requested", "clinic", m.ClinicID, "staff", m.ID)
	return nil
}

func firstErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// Link is a one-time staff link as its page shows it.
type Link struct {
	Kind   string // "invite" or "signin"
	Member dynamo.Member
	Clinic string // the clinic's name
}

// OpenLink returns the one-time staff link a /s/ token names, unused and in
// time. Errors: problem.NotFound (unknown), problem.Gone (expired or used,
// or its member removed).
func (r *Room) OpenLink(ctx context.Context, token string) (Link, error) {
	t, err := r.link(ctx, token)
	if err != nil {
		return Link{}, err
	}
	m, err := r.Staff.Member(ctx, t.StaffID)
	if problem.Is(err, problem.NotFound) {
		return Link{}, errLinkGone
	}
	if err != nil {
		return Link{}, err
	}
	c, err := r.App.Clinic(ctx, m.ClinicID)
	if err != nil {
		return Link{}, err
	}
	return Link{Kind: t.Kind, Member: m, Clinic: c.Name}, nil
}

func (r *Room) link(ctx context.Context, token string) (dynamo.Token, error) {
	if !app.ValidToken(token) {
		return dynamo.Token{}, errLinkNotFound
	}
	t, err := r.Staff.Token(ctx, app.HashToken(token))
	if problem.Is(err, problem.NotFound) {
		return t, errLinkNotFound
	}
	if err != nil {
		return t, err
	}
	if !t.OpenedAt.IsZero() || !r.now().Before(t.ExpiresAt) {
		return t, errLinkGone
	}
	return t, nil
}

// SignInByLink uses a sign-in link, once, and opens a session: it returns
// the session cookie's value and expiry. Errors: those of OpenLink, and
// problem.NotFound for an invitation (which registers a passkey instead).
func (r *Room) SignInByLink(ctx context.Context, token string) (string, time.Time, error) {
	l, err := r.OpenLink(ctx, token)
	if err != nil {
		return "", time.Time{}, err
	}
	if l.Kind != linkSignIn {
		return "", time.Time{}, errLinkNotFound
	}
	if err := r.Staff.UseToken(ctx, app.HashToken(token), r.now()); err != nil {
		return "", time.Time{}, err
	}
	return r.startSession(ctx, l.Member, "email link")
}

func (r *Room) startSession(ctx context.Context, m dynamo.Member, how string) (string, time.Time, error) {
	value, exp, err := r.Sessions.Start(ctx, m, "")
	if problem.Is(err, problem.NotFound) {
		return "", time.Time{}, errSignIn // removed meanwhile
	}
	if err != nil {
		return "", time.Time{}, err
	}
	r.App.Log.InfoContext(ctx, "staff signed in", "clinic", m.ClinicID, "staff", m.ID, "by", how)
	return value, exp, nil
}

// Ceremony is what the browser gets to start a passkey ceremony: the id to
// send back with its answer, and the options of navigator.credentials.
type Ceremony struct {
	ID        string          `json:"ceremony"`
	PublicKey json.RawMessage `json:"publicKey"`
}

// Answer is the browser's answer to a ceremony.
type Answer struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
}

// BeginRegistration starts registering a passkey from an invitation link.
// Errors: those of OpenLink; problem.NotFound for a sign-in link.
func (r *Room) BeginRegistration(ctx context.Context, token string) (Ceremony, error) {
	l, err := r.OpenLink(ctx, token)
	if err != nil {
		return Ceremony{}, err
	}
	if l.Kind != linkInvite {
		return Ceremony{}, errLinkNotFound
	}
	_, have, err := r.Staff.MemberWithPasskeys(ctx, l.Member.ID)
	if err != nil {
		return Ceremony{}, err
	}
	options, state, err := r.Passkeys.BeginRegistration([]byte(l.Member.ID), l.Member.Email, have)
	if err != nil {
		return Ceremony{}, err
	}
	return r.keepCeremony(ctx, "register", l.Member, options, state)
}

// FinishRegistration checks the browser's answer, stores the passkey, uses
// the invitation and opens a session (the cookie's value and expiry).
// Errors: those of OpenLink; problem.Unauthorized for an answer that does
// not verify or a ceremony unknown, used or of another invitation.
func (r *Room) FinishRegistration(ctx context.Context, token string, a Answer) (string, time.Time, error) {
	l, err := r.OpenLink(ctx, token)
	if err != nil {
		return "", time.Time{}, err
	}
	c, err := r.takeCeremony(ctx, a.Ceremony, "register")
	if err != nil || c.Staff != l.Member.ID || l.Kind != linkInvite {
		return "", time.Time{}, firstErr(err, errSignIn)
	}
	k, err := r.Passkeys.FinishRegistration([]byte(l.Member.ID), l.Member.Email, c.State, a.Credential)
	if err != nil {
		return "", time.Time{}, r.refused(ctx, err, l.Member.ClinicID)
	}
	if err := r.Staff.AddPasskey(ctx, l.Member.ID, k, r.now()); err != nil {
		return "", time.Time{}, err
	}
	if err := r.Staff.UseToken(ctx, app.HashToken(token), r.now()); err != nil {
		return "", time.Time{}, err
	}
	r.App.Log.InfoContext(ctx, "passkey registered", "clinic", l.Member.ClinicID, "staff", l.Member.ID)
	return r.startSession(ctx, l.Member, "passkey")
}

// BeginSignIn starts a sign-in with any passkey of the clinic's pages.
func (r *Room) BeginSignIn(ctx context.Context) (Ceremony, error) {
	options, state, err := r.Passkeys.BeginLogin()
	if err != nil {
		return Ceremony{}, err
	}
	return r.keepCeremony(ctx, "login", dynamo.Member{}, options, state)
}

// FinishSignIn checks the browser's answer and opens a session (the
// cookie's value and expiry). Every refusal — an unknown, used or expired
// ceremony (a replayed answer), another origin, a passkey of nobody on the
// staff (removed), a sign count that did not grow — is one
// problem.Unauthorized error; the log line says why, by code.
func (r *Room) FinishSignIn(ctx context.Context, a Answer) (string, time.Time, error) {
	c, err := r.takeCeremony(ctx, a.Ceremony, "login")
	if err != nil {
		return "", time.Time{}, err
	}
	var (
		m    dynamo.Member
		keys []dynamo.Passkey
	)
	handle, k, err := r.Passkeys.FinishLogin(c.State, a.Credential, func(handle []byte) (string, []dynamo.Passkey, error) {
		var err error
		m, keys, err = r.Staff.MemberWithPasskeys(ctx, string(handle))
		return m.Email, keys, err
	})
	if err != nil {
		return "", time.Time{}, r.refused(ctx, err, m.ClinicID)
	}
	if string(handle) != m.ID {
		return "", time.Time{}, errSignIn
	}
	var prev uint32
	for _, key := range keys {
		if string(key.ID) == string(k.ID) {
			prev = key.SignCount
		}
	}
	// Stored only while the count is still the one read: of two sign-ins
	// with one answer, one wins.
	if err := r.Staff.UsePasskey(ctx, m.ID, k, prev); err != nil {
		return "", time.Time{}, r.refused(ctx, err, m.ClinicID)
	}
	return r.startSession(ctx, m, "passkey")
}

// refused logs why a ceremony was refused and gives the one answer; a
// failure of handoff's own is returned as it is.
func (r *Room) refused(ctx context.Context, err error, clinicID string) error {
	switch problem.CodeOf(err) {
	case problem.Unauthorized, problem.Malformed, problem.NotFound, problem.Conflict:
		var pe *problem.Error
		reason := "refused"
		if errors.As(err, &pe) {
			reason = pe.Message // the library's reason: no name, no secret
		}
		r.App.Log.WarnContext(ctx, "passkey refused", "clinic", clinicID, "reason", reason)
		return errSignIn
	}
	return err
}

func (r *Room) keepCeremony(ctx context.Context, kind string, m dynamo.Member, options, state []byte) (Ceremony, error) {
	id, hash := session.Token()
	exp := r.now().Add(CeremonyTTL)
	err := r.Staff.PutCeremony(ctx, hash, dynamo.Ceremony{Kind: kind, Clinic: m.ClinicID, Staff: m.ID, State: state, Expires: exp, TTL: exp.Unix()})
	if err != nil {
		return Ceremony{}, err
	}
	var o struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return Ceremony{}, err
	}
	return Ceremony{ID: id, PublicKey: o.PublicKey}, nil
}

// takeCeremony takes a ceremony once; an unknown, expired or used one (a
// replayed answer) is refused.
func (r *Room) takeCeremony(ctx context.Context, id, kind string) (dynamo.Ceremony, error) {
	if !app.ValidToken(id) {
		return dynamo.Ceremony{}, errSignIn
	}
	c, err := r.Staff.TakeCeremony(ctx, session.Hash(id))
	if problem.Is(err, problem.NotFound) || err == nil && (c.Kind != kind || !r.now().Before(c.Expires)) {
		r.App.Log.WarnContext(ctx, "passkey refused", "reason", "the ceremony is unknown, expired or used (a replayed answer?)")
		return dynamo.Ceremony{}, errSignIn
	}
	return c, err
}
