package apptest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sesevents"
)

// snsBounce is an SES event-publishing notification as SNS delivers it.
func snsBounce(kind, referralID, eventID, effect string) events.SNSEvent {
	msg := map[string]any{
		"eventType": kind,
		"mail": map[string]any{"messageId": "m-1", "tags": map[string][]string{
			"referral": {referralID}, "event": {eventID}, "effect": {effect},
		}},
	}
	if kind == "Bounce" {
		msg["bounce"] = map[string]any{"bounceType": "Permanent"}
	} else {
		msg["complaint"] = map[string]any{}
	}
	b, _ := json.Marshal(msg)
	return events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{Type: "Notification", Message: string(b)}}}}
}

func eventOf(t *testing.T, h *apptest.Harness, referralID string, typ referral.EventType) string {
	t.Helper()
	rec, err := h.App.Referrals.Load(context.Background(), referralID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.Events {
		if e.Type == typ {
			return e.ID
		}
	}
	t.Fatalf("no %s event", typ)
	return ""
}

func matchIDs(t *testing.T, h *apptest.Harness) []string {
	t.Helper()
	st, b := h.Admin(http.MethodGet, "/v1/admin/match?topic=alcohol&postal_code=94110&limit=10", nil)
	if st != 200 {
		t.Fatalf("match: %d %s", st, b)
	}
	var out struct {
		Matches []struct {
			Group struct{ ID string }
		}
	}
	_ = json.Unmarshal(b, &out)
	var ids []string
	for _, m := range out.Matches {
		ids = append(ids, m.Group.ID)
	}
	return ids
}

func TestGroupBouncePausesTheGroup(t *testing.T) {
	w := newWorld(t, "")
	id, link := w.refer(t, "b1@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	hd := &sesevents.Handler{App: w.App, Log: w.App.Log}
	// A subscription confirmation is ignored, not followed.
	if err := hd.Handle(w.TopicContext("SesEventsTopic"), events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{
		Type: "SubscriptionConfirmation", Message: `{"SubscribeURL":"http://169.254.169.254/"}`}}}}); err != nil {
		t.Fatal(err)
	}
	if err := hd.Handle(w.TopicContext("SesEventsTopic"), snsBounce("Bounce", id, eventOf(t, w.Harness, id, referral.GroupNotified), "email")); err != nil {
		t.Fatal(err)
	}
	if ids := matchIDs(t, w.Harness); strings.Contains(strings.Join(ids, ","), "mission-a") {
		t.Fatalf("a paused group is still offered: %v", ids)
	}
	st, b := w.Admin(http.MethodGet, "/v1/admin/groups/mission-a", nil)
	if st != 200 || !strings.Contains(string(b), `"paused":true`) {
		t.Fatalf("group after the bounce: %d %s", st, b)
	}
	// Updating the listing un-pauses it.
	w.PutGroup(w.groups[0], "mission-a")
	if ids := matchIDs(t, w.Harness); !strings.Contains(strings.Join(ids, ","), "mission-a") {
		t.Fatalf("the updated listing is not offered again: %v", ids)
	}
}

// TestPatientBounceFlagsTheReferral: a complaint about the consent email,
// reported twice, flags the referral once and tells the clinician once; the
// flag is no new status, so the outcomes count the referral's status once.
func TestPatientBounceFlagsTheReferral(t *testing.T) {
	w := newWorld(t, "")
	id, _ := w.refer(t, "b2@patient.example")
	hd := &sesevents.Handler{App: w.App, Log: w.App.Log}
	ev := eventOf(t, w.Harness, id, referral.ConsentRequested)
	for range 2 { // a repeated notification changes nothing more
		if err := hd.Handle(w.TopicContext("SesEventsTopic"), snsBounce("Complaint", id, ev, "email")); err != nil {
			t.Fatal(err)
		}
	}
	w.Settle()
	v := w.Status(w.clinic, id)
	var flagged int
	for _, e := range v.Timeline {
		if strings.Contains(e.Detail, "marked an email as spam") {
			flagged++
		}
	}
	if flagged != 1 {
		t.Fatalf("the clinician's timeline shows the bounce %d times, want once: %+v", flagged, v.Timeline)
	}
	r, err := w.App.Referrals.Get(context.Background(), id)
	if err != nil || len(r.Flags) != 1 {
		t.Fatalf("flags %v, %v", r.Flags, err)
	}
	// The flag is no new status: the outcomes count the referral at its
	// status once.
	day := w.Now().UTC().Format("2006-01-02")
	rep := readReport(t, w.Harness, "/v1/admin/outcomes?from="+day+"&to="+day, apptest.AdminToken)
	if n := rep.Statuses[string(r.Status)]; n != 1 {
		t.Errorf("%s counted %d times, want once: %v", r.Status, n, rep.Statuses)
	}
}

// TestBounceAfterTheReferralClosed: a complaint about the consent email
// that arrives after the clinic cancelled the referral flags it and tells
// the clinician, but the referral closed once: one referral-closed event,
// not a second that would set its retention again.
func TestBounceAfterTheReferralClosed(t *testing.T) {
	w := newWorld(t, "")
	id, _ := w.refer(t, "b3@patient.example")
	ev := eventOf(t, w.Harness, id, referral.ConsentRequested)
	if st, _, b := w.Do(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+id, nil,
		http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}}); st/100 != 2 {
		t.Fatalf("cancel: %d %s", st, b)
	}
	w.Settle()
	hd := &sesevents.Handler{App: w.App, Log: w.App.Log}
	if err := hd.Handle(w.TopicContext("SesEventsTopic"), snsBounce("Complaint", id, ev, "email")); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	rec, err := w.App.Referrals.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	closed := 0
	for _, e := range rec.Events {
		if e.Type == referral.Closed {
			closed++
		}
	}
	if len(rec.Referral.Flags) != 1 || closed != 1 {
		t.Errorf("flags %v, %d referral-closed events, want one flag and one close", rec.Referral.Flags, closed)
	}
}

func TestWeeklyCapacityAndNoCapacityDecline(t *testing.T) {
	h := apptest.New(t)
	c := h.NewClinic("lakeside", "")
	full := apptest.SampleGroup("small-group", 37.7599, -122.4148)
	full.WeeklyCapacity = 1
	h.PutGroup(full, full.ID)
	other := apptest.SampleGroup("other-group", 37.7520, -122.4150)
	h.PutGroup(other, other.ID)
	w := &world{Harness: h, clinic: c}
	id1, l1 := w.refer(t, "cap1@patient.example")
	w.confirm(t, l1, "introduce", "small-group")
	if v := w.Status(c, id1); v.Status != "routed" {
		t.Fatalf("first referral: %s", v.Status)
	}
	id2, l2 := w.refer(t, "cap2@patient.example")
	w.confirm(t, l2, "introduce", "small-group", "other-group")
	v := w.Status(c, id2)
	if len(v.Routes) != 1 || v.Routes[0].Group.ID != "other-group" {
		t.Fatalf("a group over its weekly capacity was approached: %+v", v.Routes)
	}
	// other-group declines for lack of capacity: it ranks lower for a while.
	before := matchIDs(t, h)
	w.answer(t, w.Link(w.MailsTo(other.Contact.Email)[0], "g"), url.Values{"action": {"decline"}, "reason": {"no-capacity"}})
	after := matchIDs(t, h)
	pos := func(ids []string, id string) int {
		for i, x := range ids {
			if x == id {
				return i
			}
		}
		return -1
	}
	if pos(after, "other-group") <= pos(before, "other-group") && len(before) > 1 {
		t.Fatalf("a no-capacity decline did not lower the group: before %v, after %v", before, after)
	}
}

// TestConsentBounceMakesTheReferralUnreachable: the consent link's email
// bounces before the patient answers; the link goes by text, and the carrier
// reports that undeliverable; with no channel left the referral closes as
// unreachable at once, and the clinic hears of it by status webhook,
// clinician email and FHIR Task; the consent deadline later changes nothing,
// and a repeated notification counts once.
func TestConsentBounceMakesTheReferralUnreachable(t *testing.T) {
	hook := newHookRecorder(t)
	w := newWorld(t, "")
	c := w.NewClinic("bouncing", hook.URL, map[string]any{"clinician_emails": true})
	// The patient's number is one the carrier reports undeliverable: after
	// the email bounces, the link goes by text, which fails too.
	body := strings.Replace(string(referralFor("gone@patient.example", "Diaz")), "+14155550100", "+14155550199", 1)
	st, b := w.Refer(c, "application/json", []byte(body))
	if st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	var receipt struct{ ID string }
	_ = json.Unmarshal(b, &receipt)
	w.Settle()
	consent := w.MailsTo("gone@patient.example")
	if len(consent) != 1 {
		t.Fatalf("%d consent emails", len(consent))
	}
	hd := &sesevents.Handler{App: w.App, Log: w.App.Log}
	ev := eventOf(t, w.Harness, receipt.ID, referral.ConsentRequested)
	for range 2 {
		if err := hd.Handle(w.TopicContext("SesEventsTopic"), snsBounce("Bounce", receipt.ID, ev, "email")); err != nil {
			t.Fatal(err)
		}
	}
	w.settleAll()
	if n := len(w.TextsTo("+14155550199")); n != 1 {
		t.Errorf("%d texts after the bounce, want 1 (the link by the other channel)", n)
	}
	w.Advance(8 * 24 * time.Hour) // past the consent deadline
	w.Settle()

	v := w.Status(c, receipt.ID)
	if v.Status != referral.Unreachable {
		t.Fatalf("status %s, want unreachable; timeline %+v", v.Status, v.Timeline)
	}
	var entries int
	for _, e := range v.Timeline {
		if e.Status == referral.Unreachable {
			entries++
		}
	}
	if entries != 1 {
		t.Errorf("%d unreachable entries in the timeline, want 1: %+v", entries, v.Timeline)
	}
	var unreachableHooks int
	for _, h := range hook.bodies() {
		if strings.Contains(h, `"status":"unreachable"`) {
			unreachableHooks++
		}
	}
	if unreachableHooks != 1 {
		t.Errorf("%d status webhooks say unreachable, want 1: %q", unreachableHooks, hook.bodies())
	}
	var told int
	for _, m := range w.MailsTo("rivera@clinic.example") {
		if strings.Contains(m.Subject, "patient unreachable") {
			told++
		}
	}
	if told != 1 {
		t.Errorf("the clinician got %d emails saying the patient is unreachable, want 1", told)
	}
	st, _, fb := w.Do(http.MethodGet, "/v1/clinics/bouncing/referrals/"+receipt.ID, nil, http.Header{
		"Authorization": {"Bearer " + c.APIKey}, "Accept": {"application/fhir+json"}})
	var task map[string]any
	if st != http.StatusOK || json.Unmarshal(fb, &task) != nil || task["status"] != "failed" {
		t.Errorf("FHIR Task: %d %s, want status failed", st, fb)
	}
	// The link, should the patient still have it, no longer opens a choice.
	if st, _, _ := w.Do(http.MethodGet, w.Link(consent[0], "c"), nil, nil); st != http.StatusGone {
		t.Errorf("the consent link of an unreachable referral answers %d, want 410", st)
	}
}

// hookRecorder is a clinic's status webhook endpoint that keeps every body.
type hookRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.seen = append(h.seen, string(b))
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

// bodies returns the bodies received so far.
func (h *hookRecorder) bodies() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}
