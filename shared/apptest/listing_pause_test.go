package apptest_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
)

// TestListingPauseEndsOnTime: a contact pauses the group for two weeks, and
// during the pause answers the check (confirm or update), hands the group
// over, or an operator sends a check. None of it stretches the pause: at 15
// days every group is offered again and its paused_until is cleared, and no
// periodic check came during the pause.
func TestListingPauseEndsOnTime(t *testing.T) {
	h := apptest.New(t)
	const day = 24 * time.Hour
	ids := []string{"lp-confirm", "lp-update", "lp-check", "lp-handover"}
	links := map[string]string{}
	for _, id := range ids {
		g := apptest.SampleGroup(id, 37.76, -122.42)
		h.PutGroup(g, g.ID)
		links[id] = listingLink(t, h, id)
		if st, loc := h.Form(links[id], url.Values{"action": {"pause"}, "weeks": {"2"}}); st != http.StatusSeeOther || !strings.Contains(loc, "listing-paused") {
			t.Fatalf("%s: pause: %d %s", id, st, loc)
		}
	}
	if got := matchedIDs(t, h); len(got) != 0 {
		t.Fatalf("paused groups offered: %v", got)
	}
	h.Advance(day)
	if st, loc := h.Form(links["lp-confirm"], url.Values{"action": {"confirm"}}); st != http.StatusSeeOther || !strings.Contains(loc, "listing-confirmed") {
		t.Fatalf("confirm during the pause: %d %s", st, loc)
	}
	if st, loc := h.Form(links["lp-update"], url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "weekly_capacity": {"4"},
		"format": {"", "in-person"}}); st != http.StatusSeeOther || !strings.Contains(loc, "listing-updated") {
		t.Fatalf("update during the pause: %d %s", st, loc)
	}
	listingLink(t, h, "lp-check") // an operator's check during the pause
	if st, loc := h.Form(links["lp-handover"], url.Values{"action": {"handover"}, "contact_name": {"Ana"},
		"contact_email": {"ana@groups.example"}}); st != http.StatusSeeOther || !strings.Contains(loc, "handover-sent") {
		t.Fatalf("handover during the pause: %d %s", st, loc)
	}
	h.Settle()
	for _, id := range ids {
		if g := adminGroup(t, h, id); g["paused"] != true || g["paused_until"] == nil {
			t.Errorf("%s: an answer during the pause lifted it: paused %v until %v", id, g["paused"], g["paused_until"])
		}
	}
	sent := map[string]int{}
	for _, id := range ids {
		sent[id] = len(h.MailsTo(contact(id)))
	}
	h.Advance(12 * day) // day 13
	h.Settle()
	if got := matchedIDs(t, h); len(got) != 0 {
		t.Fatalf("offered before the pause ends: %v", got)
	}
	h.Advance(2 * day) // day 15
	h.Settle()
	got := matchedIDs(t, h)
	for _, id := range ids {
		if !slices.Contains(got, id) {
			t.Errorf("%s: not offered the day after its pause ended (offered: %v)", id, got)
		}
		g := adminGroup(t, h, id)
		if g["paused"] != false || g["paused_until"] != nil || g["paused_reason"] != nil {
			t.Errorf("%s: after the pause: paused %v, paused_until %v, reason %v", id, g["paused"], g["paused_until"], g["paused_reason"])
		}
	}
	// Those who answered during the pause get no check at its end: their
	// next is a period after the answer.
	for _, id := range []string{"lp-confirm", "lp-update", "lp-check", "lp-handover"} {
		if n := len(h.MailsTo(contact(id))); n != sent[id] {
			t.Errorf("%s: %d emails after the answer, want none before a period has passed", id, n-sent[id])
		}
	}
	h.Advance(listingPeriod - 15*day + day) // a period after the answers
	h.Settle()
	for _, id := range ids {
		if n := len(h.MailsTo(contact(id))); n != sent[id]+1 {
			t.Errorf("%s: %d checks a period after the answer, want 1", id, n-sent[id])
		}
	}
}

// TestListingLongPauseAnswered: a pause longer than a period, answered
// during it: the next check still waits for the pause's end.
func TestListingLongPauseAnswered(t *testing.T) {
	h := apptest.New(t)
	g := apptest.SampleGroup("lp-long", 37.76, -122.42)
	h.PutGroup(g, g.ID)
	link := listingLink(t, h, g.ID)
	if st, _ := h.Form(link, url.Values{"action": {"pause"}, "weeks": {"20"}}); st != http.StatusSeeOther {
		t.Fatalf("pause: %d", st)
	}
	h.Advance(24 * time.Hour)
	if st, _ := h.Form(link, url.Values{"action": {"confirm"}}); st != http.StatusSeeOther {
		t.Fatalf("confirm: %d", st)
	}
	before := len(h.MailsTo(g.Contact.Email))
	h.Advance(20*7*24*time.Hour - 25*time.Hour) // an hour before the pause ends
	h.Settle()
	if n := len(h.MailsTo(g.Contact.Email)); n != before {
		t.Errorf("%d checks during the pause, want none", n-before)
	}
	if slices.Contains(matchedIDs(t, h), g.ID) {
		t.Error("offered during the pause")
	}
	h.Advance(time.Hour)
	h.Settle()
	if n := len(h.MailsTo(g.Contact.Email)); n != before+1 {
		t.Errorf("%d checks at the pause's end, want 1", n-before)
	}
	if !slices.Contains(matchedIDs(t, h), g.ID) {
		t.Error("not offered at the pause's end")
	}
}

// TestBrowserListingResume: a contact who paused the group ends the pause
// early from the listing page, in English and in Spanish (axe 0 violations);
// the group is offered again at once, and its next check is a period later.
func TestBrowserListingResume(t *testing.T) {
	t.Parallel()
	g := apptest.SampleGroup("lr-one", 37.76, -122.42)
	b, h, link := onListingPage(t, g)
	if b.has(`button[value="resume"]`) {
		t.Error("a group that is not paused is offered a resume button")
	}
	for _, c := range []struct{ lang, button, notice string }{
		{"en", "Offer the group again now", "offered again"},
		{"es", "Volver a ofrecer el grupo ahora", "vuelve a ofrecerse"},
	} {
		if st, _ := h.Form(link, url.Values{"action": {"pause"}, "weeks": {"4"}}); st != http.StatusSeeOther {
			t.Fatalf("pause: %d", st)
		}
		h.Advance(24 * time.Hour)
		if st := b.open(link + "?lang=" + c.lang); st != http.StatusOK || b.lang() != c.lang {
			t.Fatalf("%s page: %d %s", c.lang, st, b.lang())
		}
		if got := b.text(`button[value="resume"]`); got != c.button {
			t.Fatalf("%s: resume button %q, want %q", c.lang, got, c.button)
		}
		b.check("listing paused " + c.lang)
		b.submit(`button[value="resume"]`)
		if got := b.text(".notice"); !strings.Contains(got, c.notice) {
			t.Fatalf("%s: after resuming, notice %q", c.lang, got)
		}
		if b.has(`button[value="resume"]`) {
			t.Errorf("%s: the page still offers to resume", c.lang)
		}
		b.check("listing resumed " + c.lang)
		if got := adminGroup(t, h, g.ID); got["paused"] != false || got["paused_until"] != nil {
			t.Fatalf("%s: after resuming: paused %v, paused_until %v", c.lang, got["paused"], got["paused_until"])
		}
		if !slices.Contains(matchedIDs(t, h), g.ID) {
			t.Fatalf("%s: not offered after resuming", c.lang)
		}
	}
	// No check at the old pause's end; the next a period after resuming.
	sent := len(h.MailsTo(contact(g.ID)))
	h.Advance(listingPeriod - time.Hour)
	h.Settle()
	if n := len(h.MailsTo(contact(g.ID))); n != sent {
		t.Errorf("%d checks within a period of resuming, want none", n-sent)
	}
	h.Advance(time.Hour)
	h.Settle()
	if n := len(h.MailsTo(contact(g.ID))); n != sent+1 {
		t.Errorf("%d checks a period after resuming, want 1", n-sent)
	}
	// Resuming a group its contact did not pause only answers the check.
	link = h.Link(h.MailsTo(contact(g.ID))[sent], "l")
	if st, loc := h.Form(link, url.Values{"action": {"resume"}}); st != http.StatusSeeOther || !strings.Contains(loc, "listing-resumed") {
		t.Errorf("resume when not paused: %d %s", st, loc)
	}
}

// contact is the email address of a sample group's contact.
func contact(id string) string { return "contact+" + id + "@groups.example" }

// TestListingUpdateCapacity: an update without weekly_capacity keeps the
// group's capacity (as one without format or meetings keeps them); the
// form's field left empty means no cap, as its label says; a bad one is a
// 400 that names it.
func TestListingUpdateCapacity(t *testing.T) {
	h := apptest.New(t)
	g := apptest.SampleGroup("lu-cap", 37.76, -122.42)
	g.WeeklyCapacity = 5
	h.PutGroup(g, g.ID)
	link := listingLink(t, h, g.ID)
	update := func(fields url.Values) int {
		t.Helper()
		fields.Set("action", "update")
		fields.Set("accepting_referrals", "yes")
		fields["format"] = []string{"", "in-person"}
		st, _ := h.Form(link, fields)
		return st
	}
	capacity := func() any { return adminGroup(t, h, g.ID)["weekly_capacity"] }
	if st := update(url.Values{}); st != http.StatusSeeOther || capacity() != 5.0 {
		t.Fatalf("without weekly_capacity: %d, capacity %v, want 303 and 5 kept", st, capacity())
	}
	for _, bad := range []string{"-1", "1001", "many"} {
		if st := update(url.Values{"weekly_capacity": {bad}}); st != http.StatusBadRequest || capacity() != 5.0 {
			t.Errorf("weekly_capacity %q: %d, capacity %v, want 400 and 5 kept", bad, st, capacity())
		}
	}
	if st := update(url.Values{"weekly_capacity": {"3"}}); st != http.StatusSeeOther || capacity() != 3.0 {
		t.Errorf("weekly_capacity 3: %d, capacity %v", st, capacity())
	}
	if st := update(url.Values{"weekly_capacity": {""}}); st != http.StatusSeeOther || capacity() != nil {
		t.Errorf("weekly_capacity empty: %d, capacity %v, want no cap (0, left out)", st, capacity())
	}
}
