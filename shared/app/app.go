// Package app holds handoff's core use cases: a referral's intake, the
// patient's consent, the routing to groups and their answers, the clinic's
// reads, cancels and status webhooks, and the effect of each of their
// events, with the kernel every use case shares: the one dispatcher's
// effects (Handle, OnStatus), the one ledger (SendOnce, TextOnce, Claim,
// Record), one transaction per change with its events and outcome counts
// (Apply), link tokens and the clinic cache. It sits between the HTTP
// handlers (shared/httpapi) and the stores (shared/dynamo), and decides;
// handlers only translate. It speaks the domain only: no protocol, no HTTP
// client, no AWS SDK.
//
// A concern of its own is a package beside this one, on an *App, adding
// its events' effects with Handle: the first contact and first meeting
// (shared/meeting), listing checks (shared/listing), outcome reports
// (shared/outcomes), delivery reports (shared/undelivered), the clinic's
// pages (shared/room) and the EHR's Tasks and Subscriptions (shared/ehr).
// This package imports none of them.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/ulids"
)

// Mailer sends one email and returns the provider's message id.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) (string, error)
}

// App is handoff's core, built once per process and shared by all requests.
type App struct {
	Config    config.Config
	Referrals *dynamo.Referrals
	Clinics   *dynamo.Clinics
	Directory *dynamo.Directory
	Mailer    Mailer
	// Texter sends texts: only the dispatcher has one (nil elsewhere).
	Texter Texter
	// Metrics receives CloudWatch metrics (nil: none).
	Metrics *metrics.Emitter
	// Poster posts to clinics' endpoints: status webhooks, and what
	// packages beside this one post (Subscription notifications).
	Poster Poster
	Log    *slog.Logger
	Now    func() time.Time
	// LinkKey returns the key that binds page forms to their links.
	LinkKey func(ctx context.Context) ([]byte, error)
	// CacheScope, when set, names the cache a request's process-level
	// reads (the clinic cache) use: one process serving several functions
	// (a test harness) keeps one cache per function, as separate Lambdas do.
	CacheScope func(ctx context.Context) string

	clinicsMu sync.Mutex
	clinics   map[string]cachedClinic

	// effects and statusHooks are what use-case packages beside this one
	// added (Handle, OnStatus), set while the process is wired, before it
	// serves.
	effects     map[referral.EventType]Effect
	statusHooks []StatusHook
}

type cachedClinic struct {
	c  dynamo.Clinic
	at time.Time
}

// clinicCacheTTL bounds how long a warm process trusts a clinic it read.
const clinicCacheTTL = time.Minute

func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// Clinic returns a clinic, from the process cache when fresh.
func (a *App) Clinic(ctx context.Context, id string) (dynamo.Clinic, error) {
	now := a.now()
	key := id
	if a.CacheScope != nil {
		key = a.CacheScope(ctx) + "\x00" + id
	}
	a.clinicsMu.Lock()
	c, ok := a.clinics[key]
	a.clinicsMu.Unlock()
	if ok && now.Sub(c.at) < clinicCacheTTL {
		return c.c, nil
	}
	cl, err := a.Clinics.Get(ctx, id)
	if err != nil {
		return dynamo.Clinic{}, err
	}
	a.clinicsMu.Lock()
	if a.clinics == nil {
		a.clinics = map[string]cachedClinic{}
	}
	a.clinics[key] = cachedClinic{c: cl, at: now}
	a.clinicsMu.Unlock()
	return cl, nil
}

// ForgetClinic drops a clinic from the cache (every scope's) after it
// changed.
func (a *App) ForgetClinic(id string) {
	a.clinicsMu.Lock()
	for k, c := range a.clinics {
		if c.c.ID == id {
			delete(a.clinics, k)
		}
	}
	a.clinicsMu.Unlock()
}

// CheckAdmin verifies the operator's bearer token in constant time, against
// HANDOFF_ADMIN_TOKEN or, in AWS, its SHA-256 (HANDOFF_ADMIN_TOKEN_SHA256), so
// the token itself is kept nowhere.
func (a *App) CheckAdmin(_ context.Context, bearer string) error {
	want := a.AdminBind()
	if want == "" || bearer == "" || subtle.ConstantTimeCompare([]byte(HashToken(bearer)), []byte(want)) != 1 {
		return problem.Errorf(problem.Unauthorized, "a valid admin bearer token is required (Authorization: Bearer <token>)")
	}
	return nil
}

// AdminBind is what an operator session is bound to: the SHA-256 of the
// admin token (HANDOFF_ADMIN_TOKEN, or in AWS HANDOFF_ADMIN_TOKEN_SHA256),
// so that a new token ends every session opened with the old one.
func (a *App) AdminBind() string {
	if a.Config.AdminToken != "" {
		return HashToken(a.Config.AdminToken)
	}
	return a.Config.AdminTokenSHA256
}

// NewID returns a new time-ordered id (a ULID). Ids made in one process in
// the same millisecond still sort in the order they were made, even with
// ids for other times made between (see ulids), so a referral's events keep
// their order.
func NewID(now time.Time) string { return ulids.New(now) }

// LinkToken returns the link token of a referral's consent page (kind
// "consent") or of one route's group page (kind "group", seq the route): 256
// bits, HMAC-SHA256 under the link key, base64url (43 characters). Kind
// "text" is the consent page's token for texts: 128 bits (22 characters), so
// that a text with its link fits one SMS segment; it opens the same page.
// Kind "group-text" is the group page's token for texts, as short. Kind
// "office" is a route's link for the group's service office.
// Only a token's SHA-256 is stored; the dispatcher derives the token again
// when it writes the message, so the token itself is never written anywhere
// but into that message.
func (a *App) LinkToken(ctx context.Context, kind, referralID string, seq int) (token, hash string, err error) {
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", "", err
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s|%s|%d", kind, referralID, seq)
	sum := m.Sum(nil)
	if kind == "text" || kind == "group-text" {
		sum = sum[:16]
	}
	token = base64.RawURLEncoding.EncodeToString(sum)
	return token, HashToken(token), nil
}

// HashToken is the stored form of a link token or api key.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidToken reports whether s looks like a link token, before any lookup.
func ValidToken(s string) bool {
	if len(s) != 43 && len(s) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func itoa(n int) string { return strconv.Itoa(n) }
