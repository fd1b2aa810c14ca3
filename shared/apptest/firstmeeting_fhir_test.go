package apptest_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/referral"
)

// The first meeting reaches an EHR the way every other status does: a
// Task created by FHIR moves to completed (businessStatus attended) when
// the patient went, and each of the clinic's Subscriptions is told, once.

// subscribeWith makes an active Subscription of the clinic's to endpoint, with
// content full-resource or id-only, and returns its id.
func subscribeWith(t *testing.T, w *world, tok, endpoint, content string) string {
	t.Helper()
	sub := map[string]any{
		"resourceType": "Subscription", "status": "requested", "reason": "referrals",
		"criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
		"channel": map[string]any{"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
			"_payload": map[string]any{"extension": []any{map[string]any{
				"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content", "valueCode": content}}}},
	}
	st, _, created := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, sub, nil)
	return w.handshaken(t, tok, st, created, http.StatusCreated)["id"].(string)
}

// taskNotice is one event notification as an EHR reads it: its number, the
// Task it is about and, for full-resource, the Task's status and
// businessStatus.
type taskNotice struct {
	number, focus, status, business string
}

// taskNotices reads the event notifications an endpoint got (not its
// handshake).
func taskNotices(t *testing.T, n *notifications) []taskNotice {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []taskNotice
	for _, b := range n.bundles {
		typ, number, focus := notificationOf(b)
		if typ != "event-notification" {
			continue
		}
		tn := taskNotice{number: number, focus: focus}
		if entries := b["entry"].([]any); len(entries) > 1 {
			task := entries[1].(map[string]any)["resource"].(map[string]any)
			tn.status, _ = task["status"].(string)
			if bs, ok := task["businessStatus"].(map[string]any); ok {
				tn.business, _ = bs["coding"].([]any)[0].(map[string]any)["code"].(string)
			}
		}
		out = append(out, tn)
	}
	return out
}

// TestFirstMeetingReachesSubscriptions: an EHR with two Subscriptions (one
// full-resource, one id-only) creates a Task; its group accepts choosing
// Tuesday's meeting; the patient says "missed" (timeline only: no
// notification), then the check-in does not come, and the group says
// "attended" while the full-resource endpoint refuses. Each endpoint then
// gets exactly one notification of it — the full one with the Task
// completed, businessStatus attended — numbered after the four before it,
// and $status counts five; the clinician gets one email and the status
// webhook says attended. No notification carries the patient's name,
// contact, condition or note.
func TestFirstMeetingReachesSubscriptions(t *testing.T) {
	mw := newMeetWorld(t, monday, tuesdayGroup("tue-a", false, false))
	w := &world{Harness: mw.Harness, clinic: mw.clinic}
	full, idOnly := &notifications{}, &notifications{}
	fullSrv, idSrv := httptest.NewServer(full), httptest.NewServer(idOnly)
	defer fullSrv.Close()
	defer idSrv.Close()
	e := newEHR(t)
	// An access token lives 5 minutes: a fresh one each time the clock moved.
	fresh := func() string {
		return w.fhirToken(t, e, "lakeside", "system/Task.cru system/Task.rs system/Subscription.cru")
	}
	tok := fresh()
	fullID := subscribeWith(t, w, tok, fullSrv.URL+"/notify", "full-resource")
	idID := subscribeWith(t, w, tok, idSrv.URL+"/notify", "id-only")

	const email = "fhir-meet@patient.example"
	st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask(email, "ORD-MEET"), nil)
	if st != http.StatusCreated {
		t.Fatalf("create the Task: %d %v", st, task)
	}
	id := task["id"].(string)
	w.Settle()
	link := mw.patientLink(t, email, "")
	mw.post(t, link, url.Values{"action": {"confirm"}, "groups": {"tue-a"}})
	glink := w.Link(w.MailsTo("contact+tue-a@groups.example")[0], "g")
	if n := mw.post(t, glink, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-02T19:00"}}); n != "accepted" {
		t.Fatalf("accept: %q", n)
	}
	statuses := func(ns []taskNotice) string {
		var s []string
		for _, n := range ns {
			s = append(s, n.status+"/"+n.business)
		}
		return strings.Join(s, ",")
	}
	const before = "requested/awaiting-consent,accepted/consented,accepted/routed,in-progress/accepted"
	if got := statuses(taskNotices(t, full)); got != before {
		t.Fatalf("notified before the meeting: %s", got)
	}

	// "missed", once the meeting began: the Task does not change, no
	// Subscription hears of it, and the check-in it answers never comes.
	mw.at(t, pdt("2026-06-02 19:30"))
	if n := mw.post(t, link, url.Values{"action": {"missed"}}); n != "missed" {
		t.Fatalf("missed: %q", n)
	}
	mails := len(w.MailsTo(email))
	mw.at(t, pdt("2026-06-03 12:00"))
	if got := statuses(taskNotices(t, full)); got != before || len(taskNotices(t, idOnly)) != 4 {
		t.Errorf("after missed: full %s, %d id-only notifications; want no new one", got, len(taskNotices(t, idOnly)))
	}
	if n := len(w.MailsTo(email)); n != mails {
		t.Errorf("%d emails to the patient after missed, want no check-in", n-mails)
	}

	// "attended" from the group's page while the full-resource endpoint
	// refuses: retried, then posted once, with the number it was given.
	clinician := len(w.MailsTo("rivera@clinic.example"))
	full.mu.Lock()
	full.refuse = true
	full.mu.Unlock()
	if n := mw.post(t, glink, url.Values{"action": {"attended"}}); n != "attended" {
		t.Fatalf("attended: %q", n)
	}
	if len(taskNotices(t, idOnly)) != 5 {
		t.Errorf("%d id-only notifications after attended, want 5", len(taskNotices(t, idOnly)))
	}
	full.mu.Lock()
	full.refuse = false
	refused := full.refused
	full.mu.Unlock()
	if refused == 0 {
		t.Fatal("the full-resource endpoint was not asked while it refused")
	}
	for range 8 {
		w.Advance(time.Minute)
		w.Settle()
	}
	got := taskNotices(t, full)
	if statuses(got) != before+",completed/attended" {
		t.Fatalf("full-resource notifications: %s", statuses(got))
	}
	last := got[len(got)-1]
	if last.number != "5" || !strings.HasSuffix(last.focus, "/fhir/Task/"+id) {
		t.Errorf("the attended notification: number %s, focus %s", last.number, last.focus)
	}
	ids := taskNotices(t, idOnly)
	if n := ids[len(ids)-1]; n.number != "5" || !strings.HasSuffix(n.focus, "/fhir/Task/"+id) || n.status != "" {
		t.Errorf("the id-only attended notification: %+v (an id-only notification carries no Task)", n)
	}

	// The EHR reads the same: the Task, a search by status, each $status.
	tok = fresh()
	if st, _, read := w.fhirCall(t, http.MethodGet, "/fhir/Task/"+id, tok, nil, nil); st != http.StatusOK || read["status"] != "completed" ||
		!strings.Contains(mustString(t, read), `"code":"attended"`) {
		t.Errorf("GET the Task: %d %v", st, read)
	}
	since := url.QueryEscape("gt" + monday.UTC().Format(time.RFC3339))
	if _, _, found := w.fhirCall(t, http.MethodGet, "/fhir/Task?_lastUpdated="+since+"&status=completed", tok, nil, nil); !strings.Contains(mustString(t, found), `"id":"`+id+`"`) {
		t.Errorf("a search for completed Tasks does not find it: %v", found)
	}
	var valid []any
	for _, sub := range []string{fullID, idID} {
		_, _, status := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+sub+"/$status", tok, nil, nil)
		if s := mustString(t, status); !strings.Contains(s, `"name":"events-since-subscription-start","valueString":"5"`) {
			t.Errorf("$status of %s: %s", sub, s)
		}
		valid = append(valid, status)
	}

	// The clinic's other ways: one clinician email, the status webhook.
	if cm := w.MailsTo("rivera@clinic.example"); len(cm) != clinician+1 || !strings.Contains(cm[len(cm)-1].Body.Text, "went to the first meeting") {
		t.Errorf("%d clinician emails on attended, want 1", len(cm)-clinician)
	}
	hooked := 0
	for _, b := range mw.hook.bodies() {
		if strings.Contains(b, `"status":"attended"`) {
			hooked++
		}
	}
	if hooked != 1 {
		t.Errorf("%d status webhooks say attended, want 1", hooked)
	}
	if st := w.Status(w.clinic, id).Status; st != referral.Attended {
		t.Errorf("status %s", st)
	}

	// Nothing clinical, nothing of the patient's, in any notification.
	var posted []string
	for _, n := range []*notifications{full, idOnly} {
		n.mu.Lock()
		for _, b := range n.bundles {
			posted = append(posted, mustString(t, b))
			valid = append(valid, b)
		}
		n.mu.Unlock()
	}
	all := strings.ToLower(strings.Join(posted, "\n"))
	for _, m := range []string{"rosa", "quintana", email, "notesecretxyz", "f10", "alcohol", "drinks", "rivera", "3100 22nd"} {
		if strings.Contains(all, m) {
			t.Errorf("a notification holds %q", m)
		}
	}
	apptest.ValidateFHIR(t, valid...)
	t.Logf("notifications: %d full-resource (%d refused first), %d id-only", len(got), refused, len(ids))
}
