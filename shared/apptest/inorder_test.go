package apptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// A referral's status changes reach each of the clinic's endpoints (the
// status webhook, each FHIR Subscription) in order, each endpoint on its
// own: one that refuses holds back its own later statuses, never another
// endpoint's, and a held post waits for the earlier one's next attempt
// rather than asking again each second.

// statusHook is a clinic's status webhook endpoint: it notes the statuses
// it took, in the order they came, and refuses (503, with Retry-After when
// retryAfter is set) a status while refuse says so.
type statusHook struct {
	mu         sync.Mutex
	got        []string
	refused    []string
	refuse     func(status string) bool
	retryAfter string
}

func (h *statusHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var msg struct {
		Data struct{ Status string }
	}
	_ = json.Unmarshal(b, &msg)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refuse != nil && h.refuse(msg.Data.Status) {
		h.refused = append(h.refused, msg.Data.Status)
		if h.retryAfter != "" {
			w.Header().Set("Retry-After", h.retryAfter)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.got = append(h.got, msg.Data.Status)
	w.WriteHeader(http.StatusNoContent)
}

// statuses lists what the hook took, and what it refused, so far.
func (h *statusHook) statuses() (got, refused string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.got, ","), strings.Join(h.refused, ",")
}

func (h *statusHook) set(refuse func(string) bool) {
	h.mu.Lock()
	h.refuse = refuse
	h.mu.Unlock()
}

// taskStatuses lists the Task statuses a full-resource endpoint was told of.
func taskStatuses(t *testing.T, n *notifications) string {
	var s []string
	for _, tn := range taskNotices(t, n) {
		s = append(s, tn.status)
	}
	return strings.Join(s, ",")
}

// orderWorld is a clinic with a status webhook and one full-resource
// Subscription, both answering; it returns the world, the hook, the
// Subscription's endpoint and a function that creates a Task (a referral
// from the EHR) for email and returns its consent link once the dispatcher
// has run.
func orderWorld(t *testing.T) (*world, *statusHook, *notifications, func(email, order string) string) {
	hook, ehrEndpoint := &statusHook{}, &notifications{}
	hookSrv, ehrSrv := httptest.NewServer(hook), httptest.NewServer(ehrEndpoint)
	t.Cleanup(hookSrv.Close)
	t.Cleanup(ehrSrv.Close)
	w := newWorld(t, hookSrv.URL)
	e := newEHR(t)
	tok := w.fhirToken(t, e, "lakeside", "system/Task.cru system/Task.rs system/Subscription.cru")
	subscribeWith(t, w, tok, ehrSrv.URL+"/notify", "full-resource")
	create := func(email, order string) string {
		t.Helper()
		tok := w.fhirToken(t, e, "lakeside", "system/Task.cru system/Task.rs")
		if st, _, task := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask(email, order), nil); st != http.StatusCreated {
			t.Fatalf("create the Task: %d %v", st, task)
		}
		w.Settle()
		return w.Link(w.MailsTo(email)[0], "c")
	}
	return w, hook, ehrEndpoint, create
}

// TestDeadSubscriptionHoldsNoWebhook: the clinic's Subscription endpoint
// answers 503 to every notification; its status webhook still gets each
// status of the referral as it happens, in order, with no time passing.
// When the endpoint answers again it gets its own notifications, in order.
func TestDeadSubscriptionHoldsNoWebhook(t *testing.T) {
	w, hook, dead, create := orderWorld(t)
	dead.mu.Lock()
	dead.refuse = true
	dead.mu.Unlock()
	link := create("dead-sub@patient.example", "ORD-DEAD")
	w.confirm(t, link, "introduce", "mission-a")
	if got, _ := hook.statuses(); got != "awaiting-consent,consented,routed" {
		t.Fatalf("the status webhook got %q at once, want awaiting-consent,consented,routed: the dead Subscription held it", got)
	}
	dead.mu.Lock()
	refused, kept := dead.refused, len(dead.bundles)
	dead.refuse = false
	dead.mu.Unlock()
	if refused == 0 || kept != 1 {
		t.Fatalf("the dead endpoint refused %d notifications and kept %d posts, want refusals and the handshake only", refused, kept)
	}
	for range 10 { // its retries are scheduled with backoff: move time past them
		w.Advance(time.Minute)
		w.Settle()
	}
	// Each notification carries the Task as it is when posted: their
	// numbers say the order of the changes they tell.
	var numbers []string
	for _, n := range taskNotices(t, dead) {
		numbers = append(numbers, n.number)
	}
	if got := strings.Join(numbers, ","); got != "1,2,3" {
		t.Errorf("the endpoint, answering again, got notifications numbered %s, want 1,2,3 in order", got)
	}
	if got, _ := hook.statuses(); got != "awaiting-consent,consented,routed" {
		t.Errorf("the status webhook got %q, want each status once", got)
	}
}

// TestRefusedWebhookKeepsItsOrder: the status webhook refuses "consented"
// for a while. The Subscription gets every status at once; the webhook's
// "routed" waits for "consented" and comes after it once the webhook takes
// it, each once.
func TestRefusedWebhookKeepsItsOrder(t *testing.T) {
	w, hook, ehrEndpoint, create := orderWorld(t)
	hook.set(func(s string) bool { return s == "consented" })
	link := create("refused-hook@patient.example", "ORD-HOOK")
	w.confirm(t, link, "introduce", "mission-a")
	if got := taskStatuses(t, ehrEndpoint); got != "requested,accepted,accepted" {
		t.Fatalf("the Subscription got %q at once, want requested,accepted,accepted: the refused webhook held it", got)
	}
	for range 3 {
		w.Advance(time.Minute)
		w.Settle()
	}
	got, refused := hook.statuses()
	if got != "awaiting-consent" || !strings.HasPrefix(refused, "consented") || strings.Contains(refused, "routed") {
		t.Fatalf("while consented was refused the webhook got %q (refused %q), want routed held back", got, refused)
	}
	hook.set(nil)
	for range 10 {
		w.Advance(time.Minute)
		w.Settle()
	}
	if got, _ := hook.statuses(); got != "awaiting-consent,consented,routed" {
		t.Errorf("the status webhook got %q, want awaiting-consent,consented,routed", got)
	}
	if got := taskStatuses(t, ehrEndpoint); got != "requested,accepted,accepted" {
		t.Errorf("the Subscription got %q, want each status once", got)
	}
}

// TestHeldPostWaitsForTheEarlierOne: the status webhook answers
// "awaiting-consent" with 503 and Retry-After: 3600. The patient's
// confirmation makes two later statuses, held behind it; for the simulated
// hour that follows, swept every second, the dispatcher does not run them
// again (each held post asks to be tried a second after the earlier one's
// next attempt), and once the hour is up all three arrive in order.
func TestHeldPostWaitsForTheEarlierOne(t *testing.T) {
	hook := &statusHook{retryAfter: "3600"}
	first := true
	hook.refuse = func(s string) bool {
		refuse := first && s == "awaiting-consent"
		first = first && !refuse
		return refuse
	}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	w := newWorld(t, srv.URL)
	// One due-index shard, as the local stack reads: a sweep is one Query.
	w.App.Referrals.DueShards = 1
	_, link := w.refer(t, "held@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	if got, refused := hook.statuses(); got != "" || refused != "awaiting-consent" {
		t.Fatalf("the webhook got %q and refused %q, want the first status refused and nothing after it yet", got, refused)
	}
	ctx := w.SweepContext()
	w.DB.Counter.Reset()
	runs, sweeps := 0, 0
	start := w.Now()
	for w.Now().Sub(start) < time.Hour-2*time.Second {
		w.Advance(time.Second)
		st, err := w.Dispatcher.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		runs, sweeps = runs+st.Ran+st.Failed, sweeps+1
	}
	calls, items := w.DB.Counter.Totals()
	t.Logf("held for an hour: %d dispatcher runs in %d sweeps; %d DynamoDB calls (%d Query, %d GetItem), %d items read",
		runs, sweeps, calls, w.DB.Counter.Calls("Query"), w.DB.Counter.Calls("GetItem"), items)
	if runs > 4 {
		t.Errorf("%d dispatcher runs while the later statuses were held for an hour, want a handful", runs)
	}
	if got, _ := hook.statuses(); got != "" {
		t.Fatalf("the webhook got %q before the earlier status's retry", got)
	}
	for range 5 {
		w.Advance(time.Second)
		w.Settle()
	}
	if got, _ := hook.statuses(); got != "awaiting-consent,consented,routed" {
		t.Errorf("after the hour the webhook got %q, want awaiting-consent,consented,routed", got)
	}
}
