package pages

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// meetingStates adds the first meeting's page states to the pages axe
// checks: the group's choices, its attendance question and answer, the
// patient's plan, check-in and what "missed" offers.
func meetingStates(t *testing.T, add func(string, func(http.ResponseWriter, string) error)) {
	ms := testMeetings(t)
	add("/g/meetings", func(w http.ResponseWriter, lang string) error {
		v := testGroupView(lang, referral.RouteNotified)
		v.ActionURL, v.Meetings = "/g/meetings", ms
		return RenderGroup(w, v)
	})
	add("/g/attendance", func(w http.ResponseWriter, lang string) error {
		v := testGroupView(lang, referral.RouteAccepted)
		v.ActionURL, v.FirstMeeting, v.AskAttendance, v.Notice = "/g/attendance", &ms[0], true, NoticeAccepted
		return RenderGroup(w, v)
	})
	add("/g/attended", func(w http.ResponseWriter, lang string) error {
		v := testGroupView(lang, referral.RouteConnected)
		v.ActionURL, v.FirstMeeting, v.Attendance, v.Notice = "/g/attended", &ms[0], ActionAttended, NoticeAttended
		return RenderGroup(w, v)
	})
	for _, st := range []string{"plan", "checkin", "missed"} {
		add("/c/"+st, func(w http.ResponseWriter, lang string) error {
			v := testConsentView(lang, ConsentConfirmed)
			plan := testPlan(t, false)
			v.ActionURL, v.Chosen, v.ConfirmedAt = "/c/"+st, []string{"grp-01"}, testSigned
			v.Plan, v.CalendarURL = &plan, "/c/"+st+"/meeting.ics"
			switch st {
			case "checkin":
				v.CheckIn = true
			case "missed":
				v.Attendance, v.NextMeetings, v.OtherGroups, v.Notice = ActionMissed, ms[2:], testGroups()[1:], NoticeMissed
			}
			return RenderConsent(w, v)
		})
	}
}

// TestFirstMeetingInChromium: the group picks Tuesday's meeting in a real
// browser and accepts; the form posts exactly that option's value, which
// the parser takes. Then, once the meeting is over, the patient answers the
// check-in on their page.
func TestFirstMeetingInChromium(t *testing.T) {
	ms := testMeetings(t)
	csrf := CSRF{Key: []byte("browser-test-key-0123456789abcdef")}
	var (
		mu          sync.Mutex
		group       = testGroupView(English, referral.RouteNotified)
		consent     = testConsentView(Spanish, ConsentConfirmed)
		groupPosts  []GroupForm
		consentPost []ConsentForm
	)
	group.ActionURL, group.CSRFToken, group.Meetings = "/g/"+groupToken, csrf.Token(groupToken), ms
	plan := testPlan(t, false)
	consent.ActionURL, consent.CSRFToken, consent.Chosen = "/c/"+consentToken, csrf.Token(consentToken), []string{"grp-01"}
	consent.Plan, consent.CalendarURL, consent.CheckIn = &plan, "/c/"+consentToken+"/meeting.ics", true

	mux := http.NewServeMux()
	mux.Handle("/assets/", AssetHandler())
	mux.HandleFunc("GET /g/"+groupToken, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v := group
		mu.Unlock()
		if err := RenderGroup(w, v); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /g/"+groupToken, func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseGroupForm(r)
		if err != nil || !csrf.Check(groupToken, f.CSRF) {
			RenderError(w, English, problem.Status(problem.CodeOf(err)))
			return
		}
		mu.Lock()
		groupPosts = append(groupPosts, f)
		group.State, group.Notice, group.FirstMeeting = referral.RouteAccepted, NoticeAccepted, &ms[0]
		mu.Unlock()
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /c/"+consentToken, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v := consent
		mu.Unlock()
		if err := RenderConsent(w, v); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /c/"+consentToken, func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseConsentForm(r)
		if err != nil || !csrf.Check(consentToken, f.CSRF) {
			RenderError(w, Spanish, problem.Status(problem.CodeOf(err)))
			return
		}
		mu.Lock()
		consentPost = append(consentPost, f)
		consent.Attendance, consent.Notice, consent.NextMeetings = f.Action, NoticeMissed, ms[2:]
		mu.Unlock()
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusSeeOther)
	})
	ts := httptest.NewServer(Headers(Protect(mux)))
	defer ts.Close()
	ctx := newBrowser(t, 2*time.Minute)

	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/g/"+groupToken)); err != nil {
		t.Fatal(err)
	}
	label, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`label[for="meeting-3"]`)))
	if err != nil || !strings.Contains(label, "7:00 pm–8:30 pm EDT") {
		t.Fatalf("the third option reads %q (%v)", label, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`label[for="meeting-3"]`)),
		chromedp.SendKeys(chromedp.CSS("#volunteer_name"), "Sam")); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[value="accept"]`)))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("accept: %v %v", resp, err)
	}
	mu.Lock()
	if len(groupPosts) != 1 || groupPosts[0].FirstMeeting != "2026-03-17T19:00" || groupPosts[0].VolunteerName != "Sam" {
		t.Errorf("posted %+v", groupPosts)
	}
	mu.Unlock()
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); err != nil || !strings.Contains(got, "Tuesday, March 10") {
		t.Errorf("the accepted page does not show the meeting: %q %v", got, err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/c/"+consentToken)); err != nil {
		t.Fatal(err)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`)); err != nil || !ok {
		t.Error("the plan page scrolls sideways on a phone")
	}
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[value="missed"]`)))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("missed: %v %v", resp, err)
	}
	mu.Lock()
	if len(consentPost) != 1 || consentPost[0].Action != ActionMissed {
		t.Errorf("posted %+v", consentPost)
	}
	mu.Unlock()
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); err != nil || !strings.Contains(got, "martes 17 de marzo") {
		t.Errorf("after missed, the next meetings are not offered: %q %v", got, err)
	}
}
