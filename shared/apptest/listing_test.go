package apptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/chromedp/chromedp"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/undelivered"
)

const listingPeriod = 90 * 24 * time.Hour

// adminGroup reads a group through the admin API.
func adminGroup(t *testing.T, h *apptest.Harness, id string) map[string]any {
	t.Helper()
	st, b := h.Admin(http.MethodGet, "/v1/admin/groups/"+id, nil)
	if st != http.StatusOK {
		t.Fatalf("get group %s: %d %s", id, st, b)
	}
	var g map[string]any
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// matchedIDs are the group ids a match near the sample groups offers, best first.
func matchedIDs(t *testing.T, h *apptest.Harness) []string {
	t.Helper()
	st, b := h.Admin(http.MethodGet, "/v1/admin/match?topic=alcohol&postal_code=94110&limit=10", nil)
	if st != http.StatusOK {
		t.Fatalf("match: %d %s", st, b)
	}
	var out struct {
		Matches []struct {
			Group struct{ ID string } `json:"group"`
		} `json:"matches"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range out.Matches {
		ids = append(ids, m.Group.ID)
	}
	return ids
}

// listingLink sends a listing check and returns the /l/ path it emailed to
// the group's contact.
func listingLink(t *testing.T, h *apptest.Harness, id string) string {
	t.Helper()
	to := adminGroup(t, h, id)["contact"].(map[string]any)["email"].(string)
	before := len(h.MailsTo(to))
	if st, b := h.Admin(http.MethodPost, "/v1/admin/groups/"+id+"/check", nil); st != http.StatusAccepted {
		t.Fatalf("check %s: %d %s", id, st, b)
	}
	h.Settle()
	mails := h.MailsTo(to)
	if len(mails) != before+1 {
		t.Fatalf("listing check of %s: %d emails to the contact, want %d", id, len(mails), before+1)
	}
	return h.Link(mails[len(mails)-1], "l")
}

// onListingPage stores g, sends its contact a listing check and opens the
// check's link in Chromium.
func onListingPage(t *testing.T, g directory.Group) (*chromium, *apptest.Harness, string) {
	t.Helper()
	b := newChromium(t)
	h := apptest.New(t)
	b.use(h)
	h.PutGroup(g, g.ID)
	link := listingLink(t, h, g.ID)
	if st := b.open(link); st != http.StatusOK {
		t.Fatalf("listing page: %d", st)
	}
	return b, h, link
}

// TestBrowserListingCheck: the contact opens the check in Chromium, sees the
// listing as offered (local times), confirms it, then pauses the group: it is
// not offered until the pause ends, and then it is again.
func TestBrowserListingCheck(t *testing.T) {
	t.Parallel()
	b := newChromium(t)
	h := apptest.New(t)
	b.use(h)
	g := apptest.SampleGroup("lc-one", 37.76, -122.42)
	g.Accessibility = []string{"wheelchair"}
	g.WeeklyCapacity = 5
	h.PutGroup(g, g.ID)
	link := listingLink(t, h, g.ID)
	if got := adminGroup(t, h, g.ID); got["last_confirmed_at"] != nil || got["paused_until"] != nil {
		t.Fatalf("before any answer: last_confirmed_at %v, paused_until %v", got["last_confirmed_at"], got["paused_until"])
	}

	if st := b.open(link); st != http.StatusOK {
		t.Fatalf("listing page: %d", st)
	}
	main := b.text("main")
	for _, want := range []string{"Mondays 7:00 pm–8:00 pm (America/Los_Angeles)", "Thursdays 7:00 pm", "San Francisco", "Wheelchair access", "5", "Yes"} {
		if !strings.Contains(main, want) {
			t.Errorf("listing page lacks %q:\n%s", want, main)
		}
	}
	b.check("listing check")
	b.submit(`button[value="confirm"]`)
	if got := b.text(".notice"); !strings.Contains(got, "confirmed") {
		t.Fatalf("after confirming, notice %q", got)
	}
	b.check("listing confirmed")
	if got := adminGroup(t, h, g.ID); got["last_confirmed_at"] == nil {
		t.Fatal("confirmed, but last_confirmed_at is null")
	}

	// Spanish, then a pause of two weeks.
	if st := b.open(link + "?lang=es"); st != http.StatusOK || b.lang() != "es" {
		t.Fatalf("Spanish listing page: %d %s", st, b.lang())
	}
	if !strings.Contains(b.text("main"), "los lunes 19:00–20:00") {
		t.Errorf("Spanish page lacks the meeting in local time: %s", b.text("main"))
	}
	b.check("listing check es")
	b.do("weeks", chromedp.SetValue(chromedp.CSS("#weeks"), "2"))
	b.submit(`button[value="pause"]`)
	b.check("listing paused es")
	got := adminGroup(t, h, g.ID)
	until, _ := got["paused_until"].(string)
	if got["paused"] != true || until == "" {
		t.Fatalf("after pausing: paused %v, paused_until %v", got["paused"], got["paused_until"])
	}
	if at, err := time.Parse(time.RFC3339, until); err != nil || !at.Equal(h.Now().Add(14*24*time.Hour)) {
		t.Errorf("paused_until %s, want two weeks on", until)
	}
	if slices.Contains(matchedIDs(t, h), g.ID) {
		t.Fatal("a paused group is offered")
	}
	h.Advance(13 * 24 * time.Hour)
	h.Settle()
	if slices.Contains(matchedIDs(t, h), g.ID) {
		t.Fatal("the group is offered before its pause ends")
	}
	h.Advance(24 * time.Hour)
	h.Settle()
	if !slices.Contains(matchedIDs(t, h), g.ID) {
		t.Fatal("the group is not offered once its pause ended")
	}
	if got := adminGroup(t, h, g.ID); got["paused"] != false || got["paused_until"] != nil {
		t.Errorf("after the pause: paused %v, paused_until %v", got["paused"], got["paused_until"])
	}
	if n := len(h.MailsTo(g.Contact.Email)); n != 2 {
		t.Errorf("the pause's end sends the contact a new check: %d emails, want 2", n)
	}
}

// TestListingUnanswered: a check nobody answers lowers the group's rank for
// a period; a second pauses it with the reason; an answer restores it.
func TestListingUnanswered(t *testing.T) {
	h := apptest.New(t)
	quiet := apptest.SampleGroup("lc-quiet", 37.76, -122.42)
	busy := apptest.SampleGroup("lc-busy", 37.76, -122.42)
	h.PutGroup(quiet, quiet.ID)
	h.PutGroup(busy, busy.ID)
	if ids := matchedIDs(t, h); len(ids) != 2 || ids[0] != "lc-busy" {
		t.Fatalf("before any check, order %v (equal groups rank by id)", ids)
	}
	// The schedule starts when a group is stored: the first check a period later.
	h.Advance(listingPeriod)
	h.Settle()
	link := h.Link(h.MailsTo(busy.Contact.Email)[0], "l")
	if n := len(h.MailsTo(quiet.Contact.Email)); n != 1 {
		t.Fatalf("first check: %d emails to the quiet group", n)
	}
	if st, loc := h.Form(link, url.Values{"action": {"confirm"}}); st != http.StatusSeeOther || !strings.Contains(loc, "notice=listing-confirmed") {
		t.Fatalf("confirm: %d %s", st, loc)
	}
	h.Advance(listingPeriod)
	h.Settle()
	g := adminGroup(t, h, quiet.ID)
	if g["paused"] != false || g["penalty_until"] == nil || g["listing_unanswered"] != 1.0 {
		t.Fatalf("one check unanswered: %v", g)
	}
	if ids := matchedIDs(t, h); len(ids) != 2 || ids[0] != "lc-busy" || ids[1] != "lc-quiet" {
		t.Fatalf("one check unanswered: order %v", ids)
	}
	// lc-busy answered its first check: the next is a period after the answer.
	h.Advance(listingPeriod)
	h.Settle()
	g = adminGroup(t, h, quiet.ID)
	if g["paused"] != true || g["paused_reason"] != "listing checks unanswered" {
		t.Fatalf("two checks unanswered: %v", g)
	}
	if slices.Contains(matchedIDs(t, h), quiet.ID) {
		t.Fatal("a group paused for unanswered checks is offered")
	}
	// An operator's PUT (or a feed's import) of the listing as it was is
	// not an answer: the group stays paused.
	h.PutGroup(quiet, quiet.ID)
	if g = adminGroup(t, h, quiet.ID); g["paused"] != true || g["paused_reason"] != "listing checks unanswered" || slices.Contains(matchedIDs(t, h), quiet.ID) {
		t.Fatalf("a PUT lifted the pause for unanswered checks: %v", g)
	}
	mails := h.MailsTo(quiet.Contact.Email)
	if len(mails) != 3 {
		t.Fatalf("%d checks sent to the quiet group, want 3", len(mails))
	}
	qlink := h.Link(mails[2], "l")
	if _, _, page := h.Do(http.MethodGet, qlink, nil, nil); !strings.Contains(string(page), "last two checks went unanswered") {
		t.Error("the page of a group paused for unanswered checks does not say why, nor that an answer lifts it")
	}
	if st, _ := h.Form(qlink, url.Values{"action": {"confirm"}}); st != http.StatusSeeOther {
		t.Fatalf("late confirm: %d", st)
	}
	g = adminGroup(t, h, quiet.ID)
	if g["paused"] != false || g["penalty_until"] != nil || g["last_confirmed_at"] == nil {
		t.Fatalf("after the answer: %v", g)
	}
	if ids := matchedIDs(t, h); !slices.Contains(ids, quiet.ID) {
		t.Fatalf("after the answer the group is not offered: %v", ids)
	}
	// Unanswered twice again; a PUT naming a new contact (not asked yet)
	// lifts the pause.
	for range 3 {
		h.Advance(listingPeriod)
		h.Settle()
	}
	if g = adminGroup(t, h, quiet.ID); g["paused"] != true {
		t.Fatalf("unanswered again: %v", g)
	}
	quiet.Contact.Email = "new.contact+lc-quiet@groups.example"
	h.PutGroup(quiet, quiet.ID)
	if g = adminGroup(t, h, quiet.ID); g["paused"] != false || g["listing_unanswered"] != nil {
		t.Fatalf("a new contact: %v", g)
	}
	// The old contact's link stops working: the group is no longer theirs.
	if st, _, _ := h.Do(http.MethodGet, qlink, nil, nil); st != http.StatusGone {
		t.Errorf("the old contact's link after the operator named a new one: %d, want 410", st)
	}
}

// TestListingBadInput: unknown and malformed links, bad forms and unknown
// groups get the right 4xx, never a 5xx.
func TestListingBadInput(t *testing.T) {
	h := apptest.New(t)
	g := apptest.SampleGroup("lc-bad", 37.76, -122.42)
	h.PutGroup(g, g.ID)
	link := listingLink(t, h, g.ID)
	form := func(v url.Values) int {
		st, _, _ := h.Do(http.MethodPost, link, []byte(v.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {h.Server.URL},
		})
		return st
	}
	for _, c := range []struct {
		name string
		st   int
		want int
	}{
		{"unknown group check", func() int { st, _ := h.Admin(http.MethodPost, "/v1/admin/groups/nobody/check", nil); return st }(), 404},
		{"check without token", func() int { st, _, _ := h.Do(http.MethodPost, "/v1/admin/groups/lc-bad/check", nil, nil); return st }(), 401},
		{"check by GET", func() int { st, _ := h.Admin(http.MethodGet, "/v1/admin/groups/lc-bad/check", nil); return st }(), 405},
		{"unknown token", func() int { st, _, _ := h.Do(http.MethodGet, "/l/"+strings.Repeat("A", 43), nil, nil); return st }(), 404},
		{"malformed token", func() int { st, _, _ := h.Do(http.MethodGet, "/l/short", nil, nil); return st }(), 404},
		{"unknown action", form(url.Values{"action": {"explode"}}), 400},
		{"pause without weeks", form(url.Values{"action": {"pause"}}), 400},
		{"pause 99 weeks", form(url.Values{"action": {"pause"}, "weeks": {"99"}}), 400},
	} {
		if c.st != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.st, c.want)
		}
	}
	// A bad CSRF token changes nothing and says to try again.
	if st, loc := h.Form(link, url.Values{"action": {"confirm"}, "csrf": {"forged"}}); st != http.StatusSeeOther || !strings.Contains(loc, "try-again") {
		t.Errorf("forged form: %d %s", st, loc)
	}
	if got := adminGroup(t, h, g.ID); got["last_confirmed_at"] != nil {
		t.Error("a forged form confirmed the listing")
	}
	// The link stops working two periods after the last check.
	h.Advance(2*listingPeriod + time.Hour)
	if st, _, _ := h.Do(http.MethodGet, link, nil, nil); st != http.StatusGone {
		t.Errorf("old link: %d", st)
	}
}

// TestBrowserListingUpdate: the contact changes the capacity and a meeting's
// time in Chromium; a feed's group may change its capacity but not its
// meetings, and its page says so.
func TestBrowserListingUpdate(t *testing.T) {
	t.Parallel()
	g := apptest.SampleGroup("lu-own", 37.76, -122.42)
	b, h, link := onListingPage(t, g)
	b.do("edit", chromedp.SetValue(chromedp.CSS("#weekly-capacity"), "3"), chromedp.SetValue(chromedp.CSS("#time-0"), "18:30"),
		chromedp.SetValue(chromedp.CSS("#end-0"), "19:30"), chromedp.SetValue(chromedp.CSS("#day-1"), "fri"),
		chromedp.Click(chromedp.CSS("#format-hybrid")), chromedp.SetValue(chromedp.CSS("#url-0"), "https://meet.example.org/lu-own"))
	b.submit(`button[value="update"]`)
	if got := b.text(".notice"); !strings.Contains(got, "updated") {
		t.Fatalf("after updating, notice %q", got)
	}
	if main := b.text("main"); !strings.Contains(main, "Mondays 6:30 pm–7:30 pm") || !strings.Contains(main, "Fridays 7:00 pm") {
		t.Errorf("the page does not show the new meetings:\n%s", main)
	}
	b.check("listing updated")
	got := adminGroup(t, h, g.ID)
	ms, _ := got["meetings"].([]any)
	if got["weekly_capacity"] != 3.0 || len(ms) != 2 || ms[0].(map[string]any)["time"] != "18:30" ||
		ms[1].(map[string]any)["day"] != "fri" || ms[0].(map[string]any)["timezone"] != "America/Los_Angeles" || got["last_confirmed_at"] == nil {
		t.Fatalf("after the update: %v", got)
	}
	if fs := fmt.Sprint(got["formats"]); fs != "[in-person hybrid]" || ms[0].(map[string]any)["online_url"] != "https://meet.example.org/lu-own" {
		t.Errorf("after the update, formats %s and meeting %v", fs, ms[0])
	}
	if main := b.text("main"); !strings.Contains(main, "Meets in person and online") {
		t.Errorf("the page does not show the new format:\n%s", main)
	}
	// A meeting taken off and a new one added, in the same form.
	b.do("edit meetings", chromedp.Click(chromedp.CSS("#remove-1")), chromedp.SetValue(chromedp.CSS("#day-new"), "wed"),
		chromedp.SetValue(chromedp.CSS("#time-new"), "12:00"), chromedp.SetValue(chromedp.CSS("#end-new"), "13:00"))
	b.submit(`button[value="update"]`)
	if main := b.text("main"); !strings.Contains(main, "Wednesdays 12:00 pm") || strings.Contains(main, "Fridays") {
		t.Errorf("the page does not show the meetings as changed:\n%s", main)
	}
	if ms := adminGroup(t, h, g.ID)["meetings"].([]any); len(ms) != 2 || ms[1].(map[string]any)["day"] != "wed" ||
		ms[1].(map[string]any)["end_time"] != "13:00" || ms[1].(map[string]any)["timezone"] != "America/Los_Angeles" {
		t.Errorf("after removing Friday and adding Wednesday: %v", ms)
	}
	// A new meeting without its day is a 400 that names it.
	if st, _ := h.Form(link, url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "weekly_capacity": {"3"}, "format": {"", "in-person", "hybrid"},
		"day": {"mon", "wed", ""}, "time": {"18:30", "12:00", "09:00"}, "end_time": {"19:30", "13:00", "10:00"}, "online_url": {"https://meet.example.org/lu-own", "", ""}}); st != http.StatusBadRequest {
		t.Errorf("a new meeting without a day: %d, want 400", st)
	}
	// Every format box unticked, or a format the listing refuses (online
	// without a link on any meeting): a 400 page, and nothing changes.
	for name, formats := range map[string][]string{"no format": {""}, "online without a link": {"", "online"}, "a made-up format": {"", "radio"}} {
		if st, _ := h.Form(link, url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "weekly_capacity": {"3"}, "format": formats,
			"day": {"mon", "fri"}, "time": {"18:30", "19:00"}, "end_time": {"19:30", "20:00"}, "online_url": {"", ""}}); st != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, st)
		}
	}
	if fs := fmt.Sprint(adminGroup(t, h, g.ID)["formats"]); fs != "[in-person hybrid]" {
		t.Errorf("a refused update changed the formats: %s", fs)
	}
	// A time the listing refuses is a 400 page, and nothing changes.
	if st, _ := h.Form(link, url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "weekly_capacity": {"3"},
		"day": {"mon", "fri"}, "time": {"25:00", "19:00"}, "end_time": {"20:00", "20:00"}, "online_url": {"", ""}}); st != http.StatusBadRequest {
		t.Errorf("a bad time: %d, want 400", st)
	}
	// Not accepting: no longer offered.
	// (The form's boxes go with it, as a browser sends them.)
	if st, _ := h.Form(link, url.Values{"action": {"update"}, "accepting_referrals": {"no"}, "weekly_capacity": {"3"}, "format": {"", "in-person", "hybrid"}}); st != http.StatusSeeOther {
		t.Fatalf("stop accepting: %d", st)
	}
	if slices.Contains(matchedIDs(t, h), g.ID) {
		t.Error("a group that stopped accepting referrals is offered")
	}

	feed := apptest.SampleGroup("lu-feed", 37.76, -122.42)
	feed.Source = "sussex-aa"
	h.PutGroup(feed, feed.ID)
	flink := listingLink(t, h, feed.ID)
	if st := b.open(flink); st != http.StatusOK {
		t.Fatalf("feed group's listing page: %d", st)
	}
	if !strings.Contains(b.text("main"), "meeting list") || b.has("#day-0") || b.has("#format-online") {
		t.Error("a feed's group's page offers to edit its meetings or does not say who owns them")
	}
	b.check("feed listing")
	if st, _ := h.Form(flink, url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "weekly_capacity": {"2"},
		"day": {"mon"}, "time": {"18:00"}, "end_time": {"19:00"}, "online_url": {""}}); st != http.StatusBadRequest {
		t.Errorf("meetings of a feed's group: %d, want 400", st)
	}
	if st, _ := h.Form(flink, url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "weekly_capacity": {"2"}, "format": {"", "in-person"}}); st != http.StatusBadRequest {
		t.Errorf("the format of a feed's group: %d, want 400", st)
	}
	if st, _ := h.Form(flink, url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "weekly_capacity": {"2"}}); st != http.StatusSeeOther {
		t.Errorf("capacity of a feed's group: %d, want 303", st)
	}
	if got := adminGroup(t, h, feed.ID); got["weekly_capacity"] != 2.0 || got["meetings"].([]any)[0].(map[string]any)["time"] != "19:00" {
		t.Errorf("feed group after the update: %v", got)
	}
}

// TestBrowserListingUpdateRefused: an update the listing refuses (a new
// meeting without its day) is a 400 page that gives the contact back the
// whole form as they filled it in — the capacity, the boxes, every meeting
// row with its times, links and removal, the new one — with what is wrong
// beside its field and listed atop the page, in English and in Spanish (axe:
// no violation); nothing changes. Choosing the day and sending again saves
// everything they typed.
func TestBrowserListingUpdateRefused(t *testing.T) {
	t.Parallel()
	g := apptest.SampleGroup("lr-own", 37.76, -122.42)
	b, h, link := onListingPage(t, g)
	before := adminGroup(t, h, g.ID)
	edit := func() {
		t.Helper()
		b.do("edit", chromedp.SetValue(chromedp.CSS("#weekly-capacity"), "7"),
			chromedp.SetValue(chromedp.CSS("#time-0"), "17:15"), chromedp.SetValue(chromedp.CSS("#end-0"), "18:15"),
			chromedp.Click(chromedp.CSS("#remove-1")), chromedp.Click(chromedp.CSS("#format-online")),
			chromedp.SetValue(chromedp.CSS("#time-new"), "09:00"), chromedp.SetValue(chromedp.CSS("#end-new"), "10:00"),
			chromedp.SetValue(chromedp.CSS("#url-new"), "https://meet.example.org/lr-own"))
	}
	typed := func(lang string) {
		t.Helper()
		for css, want := range map[string]string{"#weekly-capacity": "7", "#time-0": "17:15", "#end-0": "18:15",
			"#time-new": "09:00", "#end-new": "10:00", "#url-new": "https://meet.example.org/lr-own", "#day-new": "", "#day-0": "mon"} {
			if got := eval[string](b, `document.querySelector(`+jsString(css)+`).value`); got != want {
				t.Errorf("%s: the refused page gives back %s = %q, want %q", lang, css, got, want)
			}
		}
		for css, want := range map[string]bool{"#remove-1": true, "#remove-0": false, "#format-online": true, "#format-in-person": true, "#accepting-yes": true} {
			if got := eval[bool](b, `document.querySelector(`+jsString(css)+`).checked`); got != want {
				t.Errorf("%s: the refused page gives back %s checked %v, want %v", lang, css, got, want)
			}
		}
		if !b.has(`#day-new[aria-invalid="true"][aria-describedby="err-day-new"]`) || b.has(`#time-0[aria-invalid]`) {
			t.Errorf("%s: the refused field is not the one marked", lang)
		}
		if n := len(b.texts(".errors li")); n != 1 {
			t.Errorf("%s: %d errors listed atop the page, want 1", lang, n)
		}
	}
	edit()
	b.submitStatus(`button[value="update"]`, http.StatusBadRequest)
	typed("en")
	if got := b.text("#err-day-new"); !strings.Contains(got, "The new meeting") || !strings.Contains(got, "day") {
		t.Errorf("the new meeting's error says %q", got)
	}
	if got := b.text(".notice-alert"); !strings.Contains(got, "Nothing was changed") {
		t.Errorf("the refused page's alert says %q", got)
	}
	b.check("update refused")
	if after := adminGroup(t, h, g.ID); fmt.Sprint(after["meetings"], after["formats"], after["weekly_capacity"]) !=
		fmt.Sprint(before["meetings"], before["formats"], before["weekly_capacity"]) || after["last_confirmed_at"] != nil {
		t.Errorf("a refused update changed the listing: %v", after)
	}
	if st := b.open(link + "?lang=es"); st != http.StatusOK {
		t.Fatalf("listing page in Spanish: %d", st)
	}
	edit()
	b.submitStatus(`button[value="update"]`, http.StatusBadRequest)
	typed("es")
	if got := b.text(".notice-alert"); !strings.Contains(got, "No cambiamos nada") || !strings.Contains(got, "La reunión nueva") {
		t.Errorf("the refused page's alert in Spanish says %q", got)
	}
	b.check("update refused, es")
	// The one field fixed, everything else as typed: saved.
	b.do("choose the day", chromedp.SetValue(chromedp.CSS("#day-new"), "sat"))
	b.submit(`button[value="update"]`)
	if b.has(".errors") || !b.has(".notice") {
		t.Fatal("the fixed update was not saved")
	}
	got := adminGroup(t, h, g.ID)
	ms, _ := got["meetings"].([]any)
	if got["weekly_capacity"] != 7.0 || len(ms) != 2 || fmt.Sprint(got["formats"]) != "[in-person online]" ||
		ms[0].(map[string]any)["time"] != "17:15" || ms[0].(map[string]any)["end_time"] != "18:15" ||
		ms[1].(map[string]any)["day"] != "sat" || ms[1].(map[string]any)["online_url"] != "https://meet.example.org/lr-own" {
		t.Errorf("after the fixed update: %v", got)
	}
}

// TestBrowserListingHandover: the contact hands the group over; the old
// address is told, the new one confirms by its own link in Chromium, and
// from then on the checks go to the new contact and the old link is gone.
func TestBrowserListingHandover(t *testing.T) {
	t.Parallel()
	g := apptest.SampleGroup("lh-one", 37.76, -122.42)
	b, h, link := onListingPage(t, g)
	b.do("new contact", chromedp.SetValue(chromedp.CSS("#contact-name"), "Maria"),
		chromedp.SetValue(chromedp.CSS("#contact-email"), "maria@groups.example"))
	b.submit(`button[value="handover"]`)
	if got := b.text(".notice"); !strings.Contains(got, "new contact") {
		t.Fatalf("after handing over, notice %q", got)
	}
	b.check("handover asked")
	h.Settle()
	old := h.MailsTo(g.Contact.Email)
	if len(old) != 2 || !strings.Contains(old[1].Body.Text, "Maria") {
		t.Fatalf("the old contact was not told: %d emails", len(old))
	}
	mails := h.MailsTo("maria@groups.example")
	if len(mails) != 1 {
		t.Fatalf("%d emails to the new contact, want 1", len(mails))
	}
	nlink := h.Link(mails[0], "l")
	if got := adminGroup(t, h, g.ID)["contact"].(map[string]any)["email"]; got != g.Contact.Email {
		t.Fatalf("the contact changed before the new one confirmed: %v", got)
	}
	if st := b.open(nlink); st != http.StatusOK {
		t.Fatalf("new contact's page: %d", st)
	}
	if b.has(`button[value="confirm"]`) || !strings.Contains(b.text("h1"), "Take over") {
		t.Fatalf("the new contact's page is not the take-over page: %s", b.text("main"))
	}
	b.check("take over")
	b.submit(`button[value="take-over"]`)
	if got := b.text(".notice"); !strings.Contains(got, "now the group") {
		t.Fatalf("after taking over, notice %q", got)
	}
	b.check("took over")
	if got := adminGroup(t, h, g.ID)["contact"].(map[string]any); got["email"] != "maria@groups.example" || got["name"] != "Maria" {
		t.Fatalf("after taking over, contact %v", got)
	}
	if st, _, _ := h.Do(http.MethodGet, link, nil, nil); st != http.StatusGone {
		t.Errorf("the old contact's link after the hand-over: %d, want 410", st)
	}
	// Taking over twice (a second click, Back then post) says it is done.
	if st, loc := h.Form(nlink, url.Values{"action": {"take-over"}}); st != http.StatusSeeOther || !strings.Contains(loc, "notice=took-over") {
		t.Errorf("taking over again: %d %s", st, loc)
	}
	listingLink(t, h, g.ID) // the next check goes to the new contact (it checks the count)
	if n := len(h.MailsTo("maria@groups.example")); n != 2 {
		t.Fatalf("the new contact got %d emails, want 2", n)
	}
	if n := len(h.MailsTo(g.Contact.Email)); n != 2 {
		t.Errorf("the old contact got %d emails after the hand-over, want none more", n-2)
	}
}

// TestListingCheckBounce: the listing check's email bounces: the group is
// paused as after any bounce of its contact's address.
func TestListingCheckBounce(t *testing.T) {
	h := apptest.New(t)
	g := apptest.SampleGroup("lb-one", 37.76, -122.42)
	h.PutGroup(g, g.ID)
	listingLink(t, h, g.ID)
	part := dynamo.GroupPartition(g.ID)
	out, err := h.DB.Client.Query(context.Background(), &dynamodb.QueryInput{
		TableName: aws.String(h.DB.Tables.Referrals), KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :evt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: "REF#" + part}, ":evt": &types.AttributeValueMemberS{Value: "EVT#"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var sent string
	for _, it := range out.Items {
		if _, pending := it["GSI1PK"]; !pending {
			sent = strings.TrimPrefix(it["SK"].(*types.AttributeValueMemberS).Value, "EVT#")
		}
	}
	if sent == "" {
		t.Fatal("no listing check was sent")
	}
	if err := undelivered.New(h.App).RecordBounce(context.Background(), undelivered.Bounce{Kind: "bounce", ReferralID: part, EventID: sent, Effect: "email"}); err != nil {
		t.Fatal(err)
	}
	if got := adminGroup(t, h, g.ID); got["paused"] != true || got["paused_reason"] != "contact email bounce" {
		t.Fatalf("after the bounce: paused %v (%v)", got["paused"], got["paused_reason"])
	}
	if slices.Contains(matchedIDs(t, h), g.ID) {
		t.Error("a group whose listing check bounced is offered")
	}
}
