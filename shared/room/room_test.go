package room_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/passkey/passkeytest"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/room"
)

// The pages' origin is the public URL's, and a loopback address is served
// by name (a browser takes no passkey for an address).
func TestOrigin(t *testing.T) {
	tests := []struct{ name, public, want string }{
		{name: "https", public: "https://handoff.example.org", want: "https://handoff.example.org"},
		{name: "a path is dropped", public: "https://handoff.example.org/base/", want: "https://handoff.example.org"},
		{name: "IPv4 loopback", public: "http://127.0.0.1:3000", want: "http://localhost:3000"},
		{name: "IPv6 loopback", public: "http://[::1]:3000", want: "http://localhost:3000"},
		{name: "loopback without a port", public: "http://127.0.0.1", want: "http://localhost"},
		{name: "localhost stays", public: "http://localhost:3000", want: "http://localhost:3000"},
		{name: "another address stays", public: "http://192.0.2.10:3000", want: "http://192.0.2.10:3000"},
		{name: "not a URL", public: "handoff", want: "handoff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := room.Origin(tc.public); got != tc.want {
				t.Errorf("Origin(%q) = %q, want %q", tc.public, got, tc.want)
			}
		})
	}
}

var linkRE = regexp.MustCompile(`/s/([A-Za-z0-9_-]{43})`)

// lastLink is the token of the last /s/ link emailed to addr.
func lastLink(t *testing.T, h *apptest.Harness, addr string) string {
	t.Helper()
	m := linkRE.FindStringSubmatch(h.LastMailTo(t, addr).Body.Text)
	if m == nil {
		t.Fatalf("no /s/ link to %s", addr)
	}
	return m[1]
}

// invited invites Jan Rivera to lakeside: their id and invitation token.
func invited(t *testing.T, h *apptest.Harness, r *room.Room) (string, string) {
	t.Helper()
	id, err := r.Invite(context.Background(), "lakeside", room.Invitation{Name: "Jan Rivera", Email: "rivera@clinic.example"})
	if err != nil {
		t.Fatal(err)
	}
	return id, lastLink(t, h, "rivera@clinic.example")
}

func newHarness(t *testing.T) (*apptest.Harness, *room.Room) {
	t.Helper()
	h := apptest.New(t)
	h.NewClinic("lakeside", "")
	h.PutGroup(apptest.SampleGroup("mission-a", 37.7599, -122.4148), "mission-a")
	return h, h.Room
}

// An invitation needs a name, one address and a language of the pages, for
// a clinic that exists, and an address no staff member has; it emails a
// link to the clinic's pages.
func TestInvite(t *testing.T) {
	h, r := newHarness(t)
	ctx := context.Background()
	id, link, err := r.InviteWithLink(ctx, "lakeside", room.Invitation{Name: " Jan Rivera ", Email: "rivera@clinic.example"})
	if err != nil || len(id) != 26 || !strings.HasPrefix(link, r.Origin+"/s/") {
		t.Fatalf("a good invitation: %q %q %v", id, link, err)
	}
	if got := lastLink(t, h, "rivera@clinic.example"); !strings.HasSuffix(link, got) {
		t.Error("the emailed link is not the invitation's")
	}
	tests := []struct {
		name   string
		clinic string
		in     room.Invitation
		code   problem.Code
		field  string
	}{
		{name: "no name", clinic: "lakeside", in: room.Invitation{Email: "a@clinic.example"}, code: problem.Invalid, field: "name"},
		{name: "a name on two lines", clinic: "lakeside", in: room.Invitation{Name: "A\nB", Email: "a@clinic.example"}, code: problem.Invalid, field: "name"},
		{name: "a name too long", clinic: "lakeside", in: room.Invitation{Name: strings.Repeat("a", 101), Email: "a@clinic.example"}, code: problem.Invalid, field: "name"},
		{name: "no address", clinic: "lakeside", in: room.Invitation{Name: "A"}, code: problem.Invalid, field: "email"},
		{name: "a named address", clinic: "lakeside", in: room.Invitation{Name: "A", Email: "A <a@clinic.example>"}, code: problem.Invalid, field: "email"},
		{name: "two addresses", clinic: "lakeside", in: room.Invitation{Name: "A", Email: "a@clinic.example, b@clinic.example"}, code: problem.Invalid, field: "email"},
		{name: "a language the pages lack", clinic: "lakeside", in: room.Invitation{Name: "A", Email: "a@clinic.example", Language: "fr"}, code: problem.Invalid, field: "language"},
		{name: "no such clinic", clinic: "hillside", in: room.Invitation{Name: "A", Email: "a@clinic.example"}, code: problem.NotFound},
		{name: "not a clinic id", clinic: "../x", in: room.Invitation{Name: "A", Email: "a@clinic.example"}, code: problem.NotFound},
		{name: "an address on the staff", clinic: "lakeside", in: room.Invitation{Name: "B", Email: "rivera@clinic.example"}, code: problem.Conflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Invite(ctx, tc.clinic, tc.in)
			if !problem.Is(err, tc.code) {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if tc.field != "" && !hasField(err, tc.field) {
				t.Errorf("the error %v does not name %s", err, tc.field)
			}
		})
	}
}

func hasField(err error, field string) bool {
	var pe *problem.Error
	if !errors.As(err, &pe) {
		return false
	}
	for _, f := range pe.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Sign-in links: the same answer for any address, an email only to staff,
// and the limits per address and per source.
func TestRequestSignInLink(t *testing.T) {
	h, r := newHarness(t)
	ctx := context.Background()
	if _, err := r.Invite(ctx, "lakeside", room.Invitation{Name: "Jan Rivera", Email: "rivera@clinic.example"}); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	mails := func() int { h.Settle(); return len(h.Mails()) }
	before := mails()
	tests := []struct {
		name, addr, source string
		mail               bool
	}{
		{name: "staff", addr: "rivera@clinic.example", source: "198.51.100.1", mail: true},
		{name: "staff, in other case and spaces", addr: "  Rivera@Clinic.Example ", source: "198.51.100.1", mail: true},
		{name: "nobody's address", addr: "nobody@clinic.example", source: "198.51.100.1"},
		{name: "not an address", addr: "rivera", source: "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.RequestSignInLink(ctx, tc.addr, tc.source, "en"); err != nil {
				t.Fatalf("got %v, want the one answer (nil)", err)
			}
			got := mails()
			if (got > before) != tc.mail {
				t.Errorf("%d new emails, want mail %v", got-before, tc.mail)
			}
			before = got
		})
	}

	t.Run("per address", func(t *testing.T) {
		h.Advance(room.SignInWindow)
		for i := range room.SignInPerAddress {
			if err := r.RequestSignInLink(ctx, "rivera@clinic.example", "198.51.100.2", "es"); err != nil {
				t.Fatalf("link %d: %v", i+1, err)
			}
		}
		if err := r.RequestSignInLink(ctx, "RIVERA@clinic.example", "198.51.100.3", "en"); !problem.Is(err, problem.TooManyRequests) {
			t.Errorf("one more, from another source: %v, want TooManyRequests", err)
		}
		if err := r.RequestSignInLink(ctx, "other@clinic.example", "198.51.100.3", "en"); err != nil {
			t.Errorf("another address: %v", err)
		}
	})
	t.Run("per source", func(t *testing.T) {
		h.Advance(room.SignInWindow)
		for i := range room.SignInPerSource {
			if err := r.RequestSignInLink(ctx, fmt.Sprintf("nobody%d@clinic.example", i), "198.51.100.4", "en"); err != nil {
				t.Fatalf("link %d: %v", i+1, err)
			}
		}
		if err := r.RequestSignInLink(ctx, "rivera@clinic.example", "198.51.100.4", "en"); !problem.Is(err, problem.TooManyRequests) {
			t.Errorf("one more, for another address: %v, want TooManyRequests", err)
		}
		h.Advance(room.SignInWindow)
		if err := r.RequestSignInLink(ctx, "rivera@clinic.example", "198.51.100.4", "en"); err != nil {
			t.Errorf("an hour later: %v", err)
		}
	})
}

// A one-time staff link opens once, within its time, while its member is
// staff; an invitation signs no one in, and a sign-in link registers no
// passkey.
func TestStaffLinks(t *testing.T) {
	h, r := newHarness(t)
	ctx := context.Background()
	staffID, invitation := invited(t, h, r)
	if l, err := r.OpenLink(ctx, invitation); err != nil || l.Kind != "invite" || l.Member.ID != staffID || l.Clinic == "" {
		t.Fatalf("the invitation: %+v %v", l, err)
	}
	if _, _, err := r.SignInByLink(ctx, invitation); !problem.Is(err, problem.NotFound) {
		t.Errorf("signing in with an invitation: %v, want NotFound", err)
	}
	if err := r.RequestSignInLink(ctx, "rivera@clinic.example", "198.51.100.1", "en"); err != nil {
		t.Fatal(err)
	}
	signin := lastLink(t, h, "rivera@clinic.example")
	if _, err := r.BeginRegistration(ctx, signin); !problem.Is(err, problem.NotFound) {
		t.Errorf("registering with a sign-in link: %v, want NotFound", err)
	}
	value, exp, err := r.SignInByLink(ctx, signin)
	if err != nil || !exp.After(h.Now()) {
		t.Fatalf("sign in by link: %v", err)
	}
	if st, err := r.Session(ctx, value); err != nil || st.Member.ID != staffID {
		t.Fatalf("the link's session: %+v %v", st, err)
	}
	if err := r.RequestSignInLink(ctx, "rivera@clinic.example", "198.51.100.1", "en"); err != nil {
		t.Fatal(err)
	}
	stale := lastLink(t, h, "rivera@clinic.example")
	h.Advance(room.SignInTTL)
	if err := r.RequestSignInLink(ctx, "rivera@clinic.example", "198.51.100.1", "en"); err != nil {
		t.Fatal(err)
	}
	orphan := lastLink(t, h, "rivera@clinic.example")
	tests := []struct {
		name, token string
		before      func()
		code        problem.Code
	}{
		{name: "not a token", token: "short", code: problem.NotFound},
		{name: "unknown", token: strings.Repeat("Q", 43), code: problem.NotFound},
		{name: "used", token: signin, code: problem.Gone},
		{name: "15 minutes old", token: stale, code: problem.Gone},
		{name: "its member removed", token: orphan, code: problem.Gone, before: func() {
			if err := r.Remove(ctx, "lakeside", staffID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			if _, _, err := r.SignInByLink(ctx, tc.token); !problem.Is(err, tc.code) {
				t.Errorf("got %v, want %s", err, tc.code)
			}
		})
	}
	if _, err := r.Session(ctx, value); !problem.Is(err, problem.Unauthorized) {
		t.Errorf("a removed member's session: %v, want Unauthorized", err)
	}
	if err := r.Remove(ctx, "lakeside", staffID); !problem.Is(err, problem.NotFound) {
		t.Errorf("removing twice: %v, want NotFound", err)
	}
}

// The passkey ceremonies, through the room's stored one-use ceremonies and
// a software authenticator: registration from an invitation opens a session
// and uses the invitation; a sign-in opens one; and each refusal — a
// replayed answer, a ceremony of the other kind, an expired one, an
// answer for another origin, a sign count that did not grow, a removed
// member — is the one Unauthorized answer.
func TestPasskeyCeremonies(t *testing.T) {
	h, r := newHarness(t)
	ctx := context.Background()
	staffID, invitation := invited(t, h, r)
	auth := passkeytest.New(r.Origin)
	answer := func(c room.Ceremony, create bool, a *passkeytest.Authenticator) room.Answer {
		t.Helper()
		opts, err := json.Marshal(map[string]json.RawMessage{"publicKey": c.PublicKey})
		if err != nil {
			t.Fatal(err)
		}
		var cred []byte
		if create {
			cred, err = a.Create(opts)
		} else {
			cred, err = a.Get(opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		return room.Answer{Ceremony: c.ID, Credential: cred}
	}
	reg, err := r.BeginRegistration(ctx, invitation)
	if err != nil {
		t.Fatal(err)
	}
	value, _, err := r.FinishRegistration(ctx, invitation, answer(reg, true, auth))
	if err != nil {
		t.Fatalf("registration: %v", err)
	}
	if st, err := r.Session(ctx, value); err != nil || st.Member.ID != staffID {
		t.Fatalf("the registration's session: %v", err)
	}
	if _, err := r.OpenLink(ctx, invitation); !problem.Is(err, problem.Gone) {
		t.Errorf("the invitation after registering: %v, want Gone", err)
	}
	in, err := r.BeginSignIn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	good := answer(in, false, auth)
	if _, _, err := r.FinishSignIn(ctx, good); err != nil {
		t.Fatalf("sign-in: %v", err)
	}

	tests := []struct {
		name   string
		answer func() room.Answer
		before func()
	}{
		{name: "a replayed answer", answer: func() room.Answer { return good }},
		{name: "an unknown ceremony", answer: func() room.Answer {
			a := good
			a.Ceremony = strings.Repeat("Q", 43)
			return a
		}},
		{name: "not a ceremony id", answer: func() room.Answer {
			a := good
			a.Ceremony = "x"
			return a
		}},
		{name: "a registration's ceremony", answer: func() room.Answer {
			if _, err := r.Invite(ctx, "lakeside", room.Invitation{Name: "Kim Lee", Email: "lee@clinic.example"}); err != nil {
				t.Fatal(err)
			}
			c, err := r.BeginRegistration(ctx, lastLink(t, h, "lee@clinic.example"))
			if err != nil {
				t.Fatal(err)
			}
			a := good
			a.Ceremony = c.ID
			return a
		}},
		{name: "an expired ceremony", answer: func() room.Answer {
			c, err := r.BeginSignIn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			a := answer(c, false, auth)
			h.Advance(room.CeremonyTTL)
			return a
		}},
		{name: "another origin", answer: func() room.Answer {
			c, err := r.BeginSignIn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			evil := *auth
			evil.Origin = "http://evil.example"
			return answer(c, false, &evil)
		}},
		{name: "a sign count that did not grow", answer: func() room.Answer {
			// A good sign-in stores the authenticator's count; the next
			// answer repeats it.
			c, err := r.BeginSignIn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := r.FinishSignIn(ctx, answer(c, false, auth)); err != nil {
				t.Fatal(err)
			}
			if c, err = r.BeginSignIn(ctx); err != nil {
				t.Fatal(err)
			}
			auth.FreezeCount = true
			defer func() { auth.FreezeCount = false }()
			return answer(c, false, auth)
		}},
		{name: "a removed member", answer: func() room.Answer {
			c, err := r.BeginSignIn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Remove(ctx, "lakeside", staffID); err != nil {
				t.Fatal(err)
			}
			return answer(c, false, auth)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := r.FinishSignIn(ctx, tc.answer())
			if !problem.Is(err, problem.Unauthorized) {
				t.Errorf("got %v, want Unauthorized", err)
			}
		})
	}
	if !strings.Contains(h.Logs.String(), "sign count") || !strings.Contains(h.Logs.String(), "origin") {
		t.Error("the refusals' log lines do not say why")
	}
}

// A QR link opens once, within QRTTL, and only a QR link's token opens:
// an unknown, malformed, other kind's, opened or expired one is refused.
func TestOpenQR(t *testing.T) {
	h, r := newHarness(t)
	ctx := context.Background()
	if _, err := r.Invite(ctx, "lakeside", room.Invitation{Name: "Jan Rivera", Email: "rivera@clinic.example"}); err != nil {
		t.Fatal(err)
	}
	if err := r.RequestSignInLink(ctx, "rivera@clinic.example", "198.51.100.1", "en"); err != nil {
		t.Fatal(err)
	}
	value, _, err := r.SignInByLink(ctx, lastLink(t, h, "rivera@clinic.example"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Session(ctx, value)
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.Refer(ctx, st, intake.Form{GivenName: "Ana", PostalCode: "94110", Topic: "alcohol"}, strings.Repeat("k", 43))
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	qr := func() string {
		t.Helper()
		v, err := r.Referral(ctx, st, id, "en")
		if err != nil || v.QRLink == "" || v.QRSVG == "" {
			t.Fatalf("the QR code: %v", err)
		}
		return v.QRLink[strings.LastIndex(v.QRLink, "/")+1:]
	}
	first := qr()
	path, err := r.OpenQR(ctx, first)
	if err != nil || !strings.HasPrefix(path, "/c/") {
		t.Fatalf("open: %q %v", path, err)
	}
	consent := strings.TrimPrefix(path, "/c/")
	if err := r.NewQR(ctx, st, id); err != nil {
		t.Fatal(err)
	}
	late := qr()
	h.Advance(room.QRTTL)
	tests := []struct {
		name, token string
		code        problem.Code
	}{
		{name: "opened before", token: first, code: problem.Gone},
		{name: "15 minutes old", token: late, code: problem.Gone},
		{name: "unknown", token: strings.Repeat("Q", 43), code: problem.NotFound},
		{name: "not a token", token: "../x", code: problem.NotFound},
		{name: "a consent link's token", token: consent, code: problem.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.OpenQR(ctx, tc.token); !problem.Is(err, tc.code) {
				t.Errorf("got %v, want %s", err, tc.code)
			}
		})
	}
}
