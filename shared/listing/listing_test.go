package listing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/listing"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
)

// TestRequestCheck: an operator's check of an unknown group is NotFound
// and writes nothing; of a stored group, it emails the contact a /l/ link
// once, however often the dispatcher passes, and the link opens the
// listing as handoff offers it, in the group's language and zone.
func TestRequestCheck(t *testing.T) {
	h := apptest.New(t)
	ctx := context.Background()
	l := listing.New(h.App)
	if err := l.RequestCheck(ctx, "no-such-group"); !problem.Is(err, problem.NotFound) {
		t.Fatalf("an unknown group: %v, want NotFound", err)
	}
	g := apptest.SampleGroup("mission-a", 37.7599, -122.4148)
	g.Languages = []string{"es", "en"}
	h.PutGroup(g, g.ID)
	if err := l.RequestCheck(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	h.Settle()
	mails := h.MailsTo(g.Contact.Email)
	if len(mails) != 1 {
		t.Fatalf("%d emails to the contact, want 1", len(mails))
	}
	link := h.Link(mails[0], "l")
	v, err := l.Page(ctx, strings.TrimPrefix(link, "/l/"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.GroupName != g.Name || v.Lang != pages.Spanish || len(v.Meetings) != 2 ||
		v.Meetings[0] != "los lunes 19:00–20:00 (America/Los_Angeles)" || v.FeedOwned || !v.Accepting {
		t.Errorf("page = %+v", v)
	}
	if _, err := l.Page(ctx, strings.Repeat("A", 43), "", ""); !problem.Is(err, problem.NotFound) {
		t.Errorf("an unknown token: %v, want NotFound", err)
	}
}

// TestAction: an answer without the page's own form token changes nothing
// and asks to try again; a confirmation with it is recorded.
func TestAction(t *testing.T) {
	h := apptest.New(t)
	ctx := context.Background()
	l := listing.New(h.App)
	g := apptest.SampleGroup("mission-b", 37.7599, -122.4148)
	h.PutGroup(g, g.ID)
	if err := l.RequestCheck(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	token := strings.TrimPrefix(h.Link(h.MailsTo(g.Contact.Email)[0], "l"), "/l/")
	notice, err := l.Action(ctx, token, pages.ListingForm{Action: pages.ActionListingConfirm, CSRF: "forged"})
	if err != nil || notice != pages.NoticeTryAgain {
		t.Fatalf("a forged form: %q %v, want %q", notice, err, pages.NoticeTryAgain)
	}
	v, err := l.Page(ctx, token, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !v.LastConfirmed.IsZero() {
		t.Fatalf("confirmed by a forged form: %v", v.LastConfirmed)
	}
	notice, err = l.Action(ctx, token, pages.ListingForm{Action: pages.ActionListingConfirm, CSRF: v.CSRFToken})
	if err != nil || notice != pages.NoticeListingConfirmed {
		t.Fatalf("confirm: %q %v", notice, err)
	}
	if v, err = l.Page(ctx, token, "", ""); err != nil || !v.LastConfirmed.Equal(h.Now()) {
		t.Errorf("last confirmed %v (%v), want now", v.LastConfirmed, err)
	}
}
