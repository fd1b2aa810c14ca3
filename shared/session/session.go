// Package session keeps the signed-in browsers of the operator's page
// (/admin) and of the clinic's pages (/clinic) on the server: a cookie
// carries a random token, and only its SHA-256 is stored, with the session's
// expiry. A clinic's pages are signed in to by its staff, or by a clinician
// its EHR launched handoff for (StartEHR: a session of the EHR's user, bound
// to the clinic's SMART app registration, holding what the launch brought). Signing out deletes the record, so a copy of the cookie taken
// before stops working at once; removing a staff member ends their sessions
// (a staff session is read with the member); a new admin token ends every
// operator session (an operator session is bound to the token it was opened
// with).
//
// The cookies follow one rule for both: HttpOnly, SameSite=Strict, Secure
// when the stack is served over https, at most TTL; but an EHR launch
// inside a frame of the EHR's page, a cross-site context, gets a
// partitioned cookie (PartitionedCookie) for a session of at most
// EmbeddedTTL. Forms of a signed-in
// page carry an anti-CSRF token bound to the session (FormToken).
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
)

// TTL is the longest a session lasts.
const TTL = 12 * time.Hour

// EmbeddedTTL is the longest an embedded session lasts (StartEHR): a
// referral made in the room, its QR code and the patient's consent.
const EmbeddedTTL = time.Hour

// operator is the owner part of an operator session's cookie.
const operator = "admin"

// Store keeps session records (dynamo.Staff is one).
type Store interface {
	PutSession(ctx context.Context, hash string, v dynamo.Session) error
	Session(ctx context.Context, staffID, hash string) (dynamo.Session, dynamo.Member, error)
	EndSession(ctx context.Context, staffID, hash string) error
	ForgetLaunch(ctx context.Context, hash, referralID string) error
}

// StoreFuncs is a Store made of a store's method values: a store behind
// the interface itself would keep every one of its methods, and of the
// DynamoDB client it holds, in each binary that links sessions.
type StoreFuncs struct {
	Put    func(ctx context.Context, hash string, v dynamo.Session) error
	Get    func(ctx context.Context, staffID, hash string) (dynamo.Session, dynamo.Member, error)
	End    func(ctx context.Context, staffID, hash string) error
	Forget func(ctx context.Context, hash, referralID string) error
}

// StoreOf is s as a Store of its method values.
func StoreOf(s *dynamo.Staff) StoreFuncs {
	return StoreFuncs{Put: s.PutSession, Get: s.Session, End: s.EndSession, Forget: s.ForgetLaunch}
}

// PutSession calls f.Put.
func (f StoreFuncs) PutSession(ctx context.Context, hash string, v dynamo.Session) error {
	return f.Put(ctx, hash, v)
}

// Session calls f.Get.
func (f StoreFuncs) Session(ctx context.Context, staffID, hash string) (dynamo.Session, dynamo.Member, error) {
	return f.Get(ctx, staffID, hash)
}

// EndSession calls f.End.
func (f StoreFuncs) EndSession(ctx context.Context, staffID, hash string) error {
	return f.End(ctx, staffID, hash)
}

// ForgetLaunch calls f.Forget.
func (f StoreFuncs) ForgetLaunch(ctx context.Context, hash, referralID string) error {
	return f.Forget(ctx, hash, referralID)
}

// Manager starts, checks and ends sessions.
type Manager struct {
	Store Store
	// LinkKey is the key behind form tokens (app.App.LinkKey).
	LinkKey func(ctx context.Context) ([]byte, error)
	Now     func() time.Time
	// EHRBind returns what an EHR user's session of a clinic must be bound
	// to now (a digest of the clinic's SMART app registration): a session
	// an EHR launch opened is live only while it is the one it was opened
	// with. Without it, no EHR user's session is.
	EHRBind func(ctx context.Context, clinicID string) (string, error)
}

// Current is a checked session: a staff member's (Member set) or the
// operator's.
type Current struct {
	Hash    string // the SHA-256 of the cookie's token: what forms bind to
	Session dynamo.Session
	Member  dynamo.Member
}

var errNoSession = problem.Errorf(problem.Unauthorized, "sign in first")

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// Start opens a session — a staff member's (m a member) or, with a zero
// member, the operator's bound to bind (the SHA-256 of the admin token) —
// and returns the cookie's value and its expiry. Errors: problem.NotFound
// when the member is no longer staff.
func (m *Manager) Start(ctx context.Context, member dynamo.Member, bind string) (string, time.Time, error) {
	secret := rand.Text() + rand.Text() // 260 bits
	now := m.now()
	exp := now.Add(TTL).Truncate(time.Second)
	v := dynamo.Session{Clinic: member.ClinicID, Staff: member.ID, Bind: bind, Created: now, Expires: exp, TTL: exp.Unix()}
	if err := m.Store.PutSession(ctx, hash(secret), v); err != nil {
		return "", time.Time{}, err
	}
	owner := member.ID
	if owner == "" {
		owner = operator
	}
	return owner + "." + secret, exp, nil
}

// StartEHR opens the session of a clinician an EHR launch signed in to a
// clinic's pages: no registered staff member, but the EHR's user ehrUser
// (their fhirUser), bound to bind (see EHRBind), keeping launch (the
// caller's record of the launch, sealed at rest) until ForgetLaunch. An
// embedded session (a launch inside a frame of the EHR's page: its cookie
// is PartitionedCookie) lasts at most EmbeddedTTL and is marked so; what
// it may reach is the caller's rule. It returns the cookie's value and its
// expiry.
func (m *Manager) StartEHR(ctx context.Context, clinicID, ehrUser, bind string, launch []byte, embedded bool) (string, time.Time, error) {
	secret := rand.Text() + rand.Text()
	now := m.now()
	ttl := TTL
	if embedded {
		ttl = EmbeddedTTL
	}
	exp := now.Add(ttl).Truncate(time.Second)
	v := dynamo.Session{Clinic: clinicID, Staff: dynamo.EHRUser, Bind: bind, EHRUser: ehrUser, Launch: launch,
		Embedded: embedded, Created: now, Expires: exp, TTL: exp.Unix()}
	if err := m.Store.PutSession(ctx, hash(secret), v); err != nil {
		return "", time.Time{}, err
	}
	return dynamo.EHRUser + "." + secret, exp, nil
}

// parse splits a cookie value into the staff id ("" for the operator's,
// dynamo.EHRUser for an EHR user's) and the token's hash.
func parse(value string) (staffID, h string, ok bool) {
	owner, secret, ok := strings.Cut(value, ".")
	if !ok || len(value) > 128 || len(secret) < 32 || strings.ContainsAny(secret, ".") {
		return "", "", false
	}
	switch owner {
	case operator:
		return "", hash(secret), true
	case dynamo.EHRUser:
		return dynamo.EHRUser, hash(secret), true
	}
	if len(owner) != 26 || strings.IndexFunc(owner, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') }) >= 0 {
		return "", "", false
	}
	return owner, hash(secret), true
}

// Check returns the live session a cookie value names. An operator
// session is live only while bind (the SHA-256 of the admin token now) is
// the one it was opened with; an EHR user's only while EHRBind answers
// what it was opened with. Errors: problem.Unauthorized for none (a
// value that does not parse, a session ended, expired, of a removed staff
// member, or of an old admin token).
func (m *Manager) Check(ctx context.Context, value, bind string) (Current, error) {
	staffID, h, ok := parse(value)
	if !ok {
		return Current{}, errNoSession
	}
	v, member, err := m.Store.Session(ctx, staffID, h)
	if problem.Is(err, problem.NotFound) {
		return Current{}, errNoSession
	}
	if err != nil {
		return Current{}, err
	}
	if !m.now().Before(v.Expires) || v.Expires.After(m.now().Add(TTL)) {
		return Current{}, errNoSession
	}
	if staffID == "" && (bind == "" || subtle.ConstantTimeCompare([]byte(v.Bind), []byte(bind)) != 1) {
		return Current{}, errNoSession
	}
	if staffID == dynamo.EHRUser {
		if m.EHRBind == nil || v.Clinic == "" {
			return Current{}, errNoSession
		}
		now, err := m.EHRBind(ctx, v.Clinic)
		if err != nil {
			return Current{}, err
		}
		if now == "" || subtle.ConstantTimeCompare([]byte(v.Bind), []byte(now)) != 1 {
			return Current{}, errNoSession
		}
	}
	return Current{Hash: h, Session: v, Member: member}, nil
}

// ForgetLaunch drops what an EHR launch left with its session (the form's
// prefill, once the referral referralID was made from it) and keeps that
// referral's id with the session.
func (m *Manager) ForgetLaunch(ctx context.Context, sessionHash, referralID string) error {
	return m.Store.ForgetLaunch(ctx, sessionHash, referralID)
}

// End ends the session a cookie value names; ending one that is gone, or a
// value that does not parse, is harmless.
func (m *Manager) End(ctx context.Context, value string) error {
	staffID, h, ok := parse(value)
	if !ok {
		return nil
	}
	return m.Store.EndSession(ctx, staffID, h)
}

// FormToken is the anti-CSRF token of the forms of a page: bound to form (a
// fixed name per page family) and the session's hash ("" before signing
// in).
func (m *Manager) FormToken(ctx context.Context, form, sessionHash string) (string, error) {
	key, err := m.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	return pages.CSRF{Key: key}.Token(form + "|" + sessionHash), nil
}

// CheckForm reports whether a posted anti-CSRF token is FormToken's.
func (m *Manager) CheckForm(ctx context.Context, form, sessionHash, got string) bool {
	key, err := m.LinkKey(ctx)
	return err == nil && (pages.CSRF{Key: key}).Check(form+"|"+sessionHash, got)
}

// Cookie is a session cookie of name for path: HttpOnly, SameSite=Strict,
// Secure when secure, expiring at exp (at most TTL away).
func Cookie(name, path, value string, exp time.Time, secure bool) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: path, Expires: exp, MaxAge: int(TTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
	}
}

// PartitionedCookie is the cookie of an embedded session (StartEHR), for
// a page inside a frame of the EHR's page — a cross-site context, where a
// browser keeps only a SameSite=None cookie, and, where third-party cookies
// are blocked, only a partitioned one: HttpOnly, Secure, SameSite=None,
// Partitioned (CHIPS: kept under the top-level site, the EHR's, and sent
// under no other), expiring at exp (at most EmbeddedTTL away). A
// SameSite=None cookie goes with cross-site requests: the pages it reaches
// check their forms' anti-CSRF token (FormToken) and refuse cross-site
// posts.
func PartitionedCookie(name, path, value string, exp time.Time) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: path, Expires: exp, MaxAge: int(EmbeddedTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteNoneMode, Secure: true, Partitioned: true,
	}
}

// Clear is the cookie that drops a session cookie from the browser.
func Clear(name, path string, secure bool) *http.Cookie {
	return &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure}
}

// hash is the stored form of a token.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Token returns a new random token of 256 bits, base64url (43 characters),
// and its stored form: for one-time links and ceremony ids.
func Token() (token, h string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hash(token)
}

// Hash is the stored form of a token Token made.
func Hash(token string) string { return hash(token) }
