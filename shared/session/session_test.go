package session_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/seal"
	"github.com/handoff-health/handoff/shared/session"
)

// world is a session manager on the embedded DynamoDB, with a clock the
// test moves, and one staff member of one clinic.
type world struct {
	m      *session.Manager
	staff  *dynamo.Staff
	member dynamo.Member
	now    time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := dynamotest.New(t)
	sealer, _, err := seal.NewRandomLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{now: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	refs := &dynamo.Referrals{DB: db.Client, Table: db.Tables.Referrals, Sealer: sealer, Now: clock}
	w.staff = &dynamo.Staff{DB: db.Client, Table: db.Tables.Directory, Referrals: refs, Now: clock}
	clinics := &dynamo.Clinics{DB: db.Client, Table: db.Tables.Directory, Sealer: sealer}
	ctx := context.Background()
	if err := clinics.Create(ctx, dynamo.Clinic{ID: "lakeside", Name: "Lakeside", CreatedAt: w.now}); err != nil {
		t.Fatal(err)
	}
	w.member = dynamo.Member{ID: "01KSTAFF000000000000000000", ClinicID: "lakeside", Name: "Jan Rivera", Email: "rivera@clinic.example", CreatedAt: w.now}
	err = w.staff.Invite(ctx, dynamo.NewStaff{
		Member: w.member, Email: "h-rivera",
		Token: dynamo.Token{Hash: "invite-hash", Kind: "invite", ClinicID: "lakeside", StaffID: w.member.ID, ExpiresAt: w.now.Add(time.Hour)},
		Event: referral.Event{ID: "01KEVENT000000000000000000", Partition: dynamo.StaffPartition(w.member.ID), ClinicID: "lakeside", Type: "staff-invited", At: w.now, Due: w.now},
	})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte(strings.Repeat("k", 32))
	w.m = &session.Manager{Store: w.staff, LinkKey: func(context.Context) ([]byte, error) { return key, nil }, Now: clock}
	return w
}

// A staff session and an operator session each open a cookie that Check
// accepts until the session is ended, expires, its member is removed, or
// (the operator's) the admin token changes; a value that was never a
// session is refused without a read.
func TestSessions(t *testing.T) {
	const bind, rotated = "sha-of-admin-token", "sha-of-new-admin-token"
	tests := []struct {
		name    string
		member  bool   // a staff session (else the operator's)
		check   string // the bind Check is given
		between func(t *testing.T, w *world, value string)
		live    bool
	}{
		{name: "staff: live", member: true, live: true},
		{name: "operator: live", check: bind, live: true},
		{name: "staff: signed out", member: true, between: end},
		{name: "operator: signed out", check: bind, between: end},
		{name: "staff: almost 12 hours later", member: true, live: true, between: advance(session.TTL - time.Second)},
		{name: "staff: 12 hours later", member: true, between: advance(session.TTL)},
		{name: "operator: 12 hours later", check: bind, between: advance(session.TTL)},
		{name: "staff: removed from the staff", member: true, between: func(t *testing.T, w *world, _ string) {
			if err := w.staff.Remove(context.Background(), "lakeside", w.member.ID, "h-rivera"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "operator: a new admin token", check: rotated},
		{name: "operator: no admin token", check: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			who := dynamo.Member{}
			b := bind
			if tc.member {
				who, b = w.member, ""
			}
			value, exp, err := w.m.Start(ctx, who, b)
			if err != nil {
				t.Fatal(err)
			}
			if want := w.now.Add(session.TTL); !exp.Equal(want) {
				t.Errorf("expires %s, want %s", exp, want)
			}
			if tc.between != nil {
				tc.between(t, w, value)
			}
			cur, err := w.m.Check(ctx, value, tc.check)
			switch {
			case tc.live && err != nil:
				t.Fatalf("a live session refused: %v", err)
			case !tc.live && !problem.Is(err, problem.Unauthorized):
				t.Fatalf("got %v, want Unauthorized", err)
			case tc.live && tc.member && (cur.Member.ID != w.member.ID || cur.Member.ClinicID != "lakeside"):
				t.Errorf("the session's member %+v", cur.Member)
			case tc.live && cur.Hash == "":
				t.Error("no hash for forms to bind to")
			}
		})
	}
}

func end(t *testing.T, w *world, value string) {
	if err := w.m.End(context.Background(), value); err != nil {
		t.Fatal(err)
	}
}

func advance(d time.Duration) func(*testing.T, *world, string) {
	return func(_ *testing.T, w *world, _ string) { w.now = w.now.Add(d) }
}

// Values that are no session are refused (and ending one is harmless).
func TestCheckRefusesValuesThatAreNoSession(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	good, _, err := w.m.Start(ctx, w.member, "")
	if err != nil {
		t.Fatal(err)
	}
	owner, secret, _ := strings.Cut(good, ".")
	tests := []struct{ name, value string }{
		{name: "empty", value: ""},
		{name: "no separator", value: owner + secret},
		{name: "a short secret", value: owner + ".abc"},
		{name: "two separators", value: owner + "." + secret[:20] + "." + secret[20:]},
		{name: "too long", value: owner + "." + strings.Repeat("A", 200)},
		{name: "an owner in lower case", value: strings.ToLower(owner) + "." + secret},
		{name: "another owner", value: "01KOTHER000000000000000000." + secret},
		{name: "the operator's owner", value: "admin." + secret},
		{name: "another secret", value: owner + "." + strings.Repeat("B", len(secret))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.m.Check(ctx, tc.value, "bind"); !problem.Is(err, problem.Unauthorized) {
				t.Errorf("Check = %v, want Unauthorized", err)
			}
			if err := w.m.End(ctx, tc.value); err != nil {
				t.Errorf("End = %v, want harmless", err)
			}
		})
	}
	if _, err := w.m.Check(ctx, good, ""); err != nil {
		t.Errorf("the good session after all that: %v", err)
	}
}

// Only the token's SHA-256 is stored: the cookie's secret is nowhere in
// the table.
func TestOnlyTheHashIsStored(t *testing.T) {
	db := dynamotest.New(t)
	s := &dynamo.Staff{DB: db.Client, Table: db.Tables.Directory}
	m := &session.Manager{Store: s}
	value, _, err := m.Start(context.Background(), dynamo.Member{}, "bind")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(value, ".")
	if dump := dynamotest.Dump(t, db, db.Tables.Directory); strings.Contains(dump, secret) || !strings.Contains(dump, session.Hash(secret)) {
		t.Error("the table holds the cookie's secret, or not its hash")
	}
}

// A form token is bound to its form and to the session: another form's,
// another session's, or one before signing in is refused.
func TestFormTokens(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tok, err := w.m.FormToken(ctx, "clinic", "session-a")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, form, hash, got string
		ok                    bool
	}{
		{name: "its own", form: "clinic", hash: "session-a", got: tok, ok: true},
		{name: "another form", form: "staff-link", hash: "session-a", got: tok},
		{name: "another session", form: "clinic", hash: "session-b", got: tok},
		{name: "signed out", form: "clinic", hash: "", got: tok},
		{name: "empty", form: "clinic", hash: "session-a", got: ""},
		{name: "altered", form: "clinic", hash: "session-a", got: tok[:len(tok)-1] + "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := w.m.CheckForm(ctx, tc.form, tc.hash, tc.got); got != tc.ok {
				t.Errorf("CheckForm = %v, want %v", got, tc.ok)
			}
		})
	}
}

// The cookies: HttpOnly, SameSite=Strict, Secure on https, at most TTL;
// the clearing cookie drops it.
func TestCookies(t *testing.T) {
	exp := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	for _, secure := range []bool{false, true} {
		c := session.Cookie("handoff_clinic", "/clinic", "v", exp, secure)
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != secure || c.MaxAge != int(session.TTL.Seconds()) || c.Path != "/clinic" || !c.Expires.Equal(exp) {
			t.Errorf("secure=%v: %+v", secure, c)
		}
		clear := session.Clear("handoff_clinic", "/clinic", secure)
		if clear.MaxAge >= 0 || clear.Value != "" || !clear.HttpOnly || clear.Secure != secure {
			t.Errorf("secure=%v: the clearing cookie %+v", secure, clear)
		}
	}
}

// Tokens are 256 random bits, base64url, and never repeat.
func TestToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, h := session.Token()
		if len(tok) != 43 || strings.ContainsAny(tok, "+/=") || h != session.Hash(tok) || len(h) != 64 || seen[tok] {
			t.Fatalf("token %q hash %q", tok, h)
		}
		seen[tok] = true
	}
}
