package apptest_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	outcomesrep "github.com/handoff-health/handoff/shared/outcomes"
	"github.com/handoff-health/handoff/shared/referral"
)

// outcomes reads an outcomes report as the operator or a clinic.
func outcomes(t *testing.T, h *apptest.Harness, path, key, accept string) (int, []byte) {
	t.Helper()
	hd := http.Header{"Authorization": {"Bearer " + key}}
	if accept != "" {
		hd.Set("Accept", accept)
	}
	st, _, b := h.Do(http.MethodGet, path, nil, hd)
	return st, b
}

type report struct {
	Funnel        map[string]int64 `json:"funnel"`
	Statuses      map[string]int64 `json:"statuses"`
	TimeToConsent struct {
		Count    int64    `json:"count"`
		P50Hours *float64 `json:"p50_hours"`
	} `json:"time_to_consent"`
	TimeToConnect struct {
		Count    int64    `json:"count"`
		P50Hours *float64 `json:"p50_hours"`
	} `json:"time_to_connect"`
	Channels map[string]struct{ Sent, Failed int64 } `json:"channels"`
	Groups   []struct {
		GroupID  string `json:"group_id"`
		Notified *int64 `json:"notified"`
		Accepted *int64 `json:"accepted"`
	} `json:"groups"`
	Topics     map[string]map[string]*int64 `json:"topics"`
	ByChannel  map[string]map[string]*int64 `json:"funnel_by_channel"`
	Suppressed bool                         `json:"small_counts_suppressed"`
}

// group is how many times a group was notified and accepted (0 when a count
// is suppressed).
func (r report) group(id string) (notified, accepted int64) {
	for _, gr := range r.Groups {
		if gr.GroupID == id && gr.Notified != nil && gr.Accepted != nil {
			notified, accepted = *gr.Notified, *gr.Accepted
		}
	}
	return notified, accepted
}

func readReport(t *testing.T, h *apptest.Harness, path, key string) report {
	t.Helper()
	return readAs[report](t, h, path, key)
}

// readAs reads an outcomes report into a T of the test's choosing.
func readAs[T any](t *testing.T, h *apptest.Harness, path, key string) T {
	t.Helper()
	st, b := outcomes(t, h, path, key, "")
	if st != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, st, b)
	}
	var r T
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestOutcomes runs scripted lives — connected (a day later), declined,
// self mode, unmatched, revoked, cancelled, expired — and checks the
// outcomes against what the test knows, day by day, for the operator and
// for the clinic; then redelivers every event once more and checks that
// nothing changed.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	day0 := w.Now().UTC().Truncate(24 * time.Hour)
	day := func(d int) string { return day0.AddDate(0, 0, d).Format("2006-01-02") }

	idA, linkA := w.refer(t, "a@patient.example")
	_, linkB := w.refer(t, "b@patient.example")
	_, linkC := w.refer(t, "c@patient.example")
	_, linkE := w.refer(t, "e@patient.example")
	idF, linkF := w.refer(t, "f@patient.example")
	w.refer(t, "g@patient.example") // never answers
	var unmatched map[string]any
	if err := json.Unmarshal(referralFor("d@patient.example", "Diaz"), &unmatched); err != nil {
		t.Fatal(err)
	}
	unmatched["needs"] = []string{"diabetes"}
	delete(unmatched, "reason_codes")
	body, _ := json.Marshal(unmatched)
	if st, b := w.Refer(w.clinic, "application/json", body); st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	w.Settle()

	w.confirm(t, linkA, "introduce", "mission-a")
	if st, _ := w.Form(linkB, url.Values{"action": {"decline"}}); st != http.StatusSeeOther {
		t.Fatal("decline")
	}
	w.confirm(t, linkC, "self", "mission-a")
	w.confirm(t, linkE, "introduce", "mission-a")
	if st, _ := w.Form(linkE, url.Values{"action": {"revoke"}}); st != http.StatusSeeOther {
		t.Fatal("revoke")
	}
	w.confirm(t, linkF, "introduce", "mission-a")
	if st, _, b := w.Do(http.MethodDelete, "/v1/clinics/"+w.clinic.ID+"/referrals/"+idF, nil,
		http.Header{"Authorization": {"Bearer " + w.clinic.APIKey}}); st != http.StatusOK {
		t.Fatalf("cancel: %d %s", st, b)
	}
	w.Settle()
	g := w.groupLink(t, w.groups[0], 1)
	w.answer(t, g, url.Values{"action": {"accept"}})
	w.Advance(25 * time.Hour)
	w.answer(t, g, url.Values{"action": {"connected"}})
	w.Advance(8 * 24 * time.Hour)
	w.Settle()

	// Another clinic's referral: in the operator's view, not in lakeside's.
	other := w.NewClinic("elsewhere", "")
	if st, b := w.Refer(other, "application/json", referralFor("z@patient.example", "Zed")); st != http.StatusAccepted {
		t.Fatalf("refer: %d %s", st, b)
	}
	w.Settle()
	if v := w.Status(w.clinic, idA); v.Status != referral.Connected {
		t.Fatalf("A ended %s", v.Status)
	}

	check := func(t *testing.T) {
		span := "?from=" + day(0) + "&to=" + day(10)
		all := readReport(t, w.Harness, "/v1/admin/outcomes"+span, apptest.AdminToken)
		wantFunnel := map[string]int64{"received": 8, "contacted": 8, "viewed": 5, "consented": 4, "routed": 3, "accepted": 1, "connected": 1}
		for s, n := range wantFunnel {
			if all.Funnel[s] != n {
				t.Errorf("operator's funnel %s = %d, want %d (%v)", s, all.Funnel[s], n, all.Funnel)
			}
		}
		wantStatuses := map[string]int64{"awaiting-consent": 8, "declined": 1, "consented": 4, "routed": 3, "shared-with-patient": 1,
			"unmatched": 1, "revoked": 1, "cancelled": 1, "accepted": 1, "connected": 1, "expired": 1}
		for s, n := range wantStatuses {
			if all.Statuses[s] != n {
				t.Errorf("status %s = %d, want %d (%v)", s, all.Statuses[s], n, all.Statuses)
			}
		}
		for s, n := range wantFunnel {
			if got := all.ByChannel["email"][s]; got == nil || *got != n {
				t.Errorf("the email funnel's %s = %v, want %d (every referral here went by email)", s, got, n)
			}
		}
		if len(all.ByChannel) != 1 {
			t.Errorf("funnel by channel %v, want email only", all.ByChannel)
		}
		if c := all.TimeToConnect; c.Count != 1 || c.P50Hours == nil || *c.P50Hours != 48 {
			t.Errorf("time to connect %+v, want one, in the 24–48 h bucket", c)
		}
		if c := all.TimeToConsent; c.Count != 4 || c.P50Hours == nil || *c.P50Hours != 1 {
			t.Errorf("time to consent %+v, want four within the hour", c)
		}
		// Consent links: 8 first emails, and the one reminder of the
		// referral nobody answered.
		if e := all.Channels["email"]; e.Sent != 9 || e.Failed != 0 {
			t.Errorf("emails %+v, want 8 consent links and 1 reminder", e)
		}
		if notified, accepted := all.group("mission-a"); notified != 3 || accepted != 1 {
			t.Errorf("mission-a: notified %d, accepted %d, want 3 and 1", notified, accepted)
		}
		// Day by day: the connection counts on its own day, the expiries
		// on theirs.
		if d := readReport(t, w.Harness, "/v1/admin/outcomes?from="+day(0)+"&to="+day(0), apptest.AdminToken); d.Funnel["received"] != 7 || d.Funnel["connected"] != 0 {
			t.Errorf("day 0: %v", d.Funnel)
		}
		if d := readReport(t, w.Harness, "/v1/admin/outcomes?from="+day(1)+"&to="+day(1), apptest.AdminToken); d.Funnel["connected"] != 1 || d.Funnel["received"] != 0 {
			t.Errorf("day 1: %v", d.Funnel)
		}
		// One topic: the unmatched diabetes referral is not alcohol.
		alc := readReport(t, w.Harness, "/v1/admin/outcomes"+span+"&topic=alcohol", apptest.AdminToken)
		if alc.Funnel["received"] != 7 || alc.Statuses["unmatched"] != 0 {
			t.Errorf("alcohol: %v %v", alc.Funnel, alc.Statuses)
		}
		// The clinic's own view: its 7 referrals; breakdowns of 1 to 10
		// suppressed.
		mine := readReport(t, w.Harness, "/v1/clinics/lakeside/outcomes"+span, w.clinic.APIKey)
		if mine.Funnel["received"] != 7 || !mine.Suppressed {
			t.Errorf("the clinic's view: %v", mine.Funnel)
		}
		if n := mine.Topics["alcohol"]["received"]; n != nil {
			t.Errorf("a topic count of 6 is shown to the clinic: %d", *n)
		}
		if n := mine.Topics["alcohol"]["connected"]; n != nil {
			t.Error("a topic count of 1 is shown to the clinic")
		}
		for _, gr := range mine.Groups {
			if gr.Notified != nil || gr.Accepted != nil {
				t.Errorf("a small group count is shown to the clinic: %+v", gr)
			}
		}
		if n := mine.Topics["alcohol"]["routed"]; n != nil {
			t.Error("suppression missed")
		}
		if n := mine.ByChannel["email"]["received"]; n != nil {
			t.Errorf("a channel count of 7 is shown to the clinic: %d", *n)
		}
		// CSV says the same as JSON.
		st, b := outcomes(t, w.Harness, "/v1/admin/outcomes"+span, apptest.AdminToken, "text/csv")
		if st != http.StatusOK {
			t.Fatalf("CSV: %d", st)
		}
		rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, r := range rows {
			if r[0] == "funnel" {
				if n, _ := strconv.ParseInt(r[3], 10, 64); n != all.Funnel[r[2]] {
					t.Errorf("CSV funnel %s = %s, JSON %d", r[2], r[3], all.Funnel[r[2]])
				}
				seen++
			}
			if r[0] == "statuses" {
				if n, _ := strconv.ParseInt(r[3], 10, 64); n != all.Statuses[r[2]] {
					t.Errorf("CSV status %s = %s, JSON %d", r[2], r[3], all.Statuses[r[2]])
				}
			}
		}
		if seen != len(outcomesrep.FunnelStages) || seen != 8 {
			t.Errorf("CSV has %d funnel rows, want 8", seen)
		}
		st, b = outcomes(t, w.Harness, "/v1/clinics/lakeside/outcomes"+span, w.clinic.APIKey, "text/csv")
		if st != http.StatusOK || !strings.Contains(string(b), "topics,alcohol,received,suppressed") {
			t.Errorf("the clinic's CSV does not show the suppression: %d\n%s", st, b)
		}
	}
	t.Run("as they happened", check)
	metricSum := func(name string) (n int) {
		for _, line := range strings.Split(w.Metrics.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				if v, ok := m[name].(float64); ok {
					n += int(v)
				}
			}
		}
		return n
	}
	metricsBefore := map[string]int{}
	for _, m := range []string{"ReferralsReceived", "Consents", "Connections", "Routes", "MessagesSent"} {
		metricsBefore[m] = metricSum(m)
	}
	if metricsBefore["ReferralsReceived"] != 8 || metricsBefore["Consents"] != 4 || metricsBefore["Connections"] != 1 ||
		metricsBefore["Routes"] != 3 || metricsBefore["MessagesSent"] != 9 {
		t.Errorf("CloudWatch metrics %v, want 8 received, 4 consents, 1 connection, 3 routes, 9 messages", metricsBefore)
	}

	// Every event delivered once more: nothing counts twice, nothing is sent.
	mails := len(w.Mails())
	ctx := context.Background()
	ids, _ := referralsByStatus(t, w.Harness)
	for id := range ids {
		rec, err := w.App.Referrals.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range rec.Events {
			// Each at its own due time: a deadline still ahead stays ahead.
			if err := w.App.Referrals.Replay(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	again := pending(t, w.Harness)
	if again < 50 {
		t.Fatalf("only %d events pending again: the redelivery did not happen", again)
	}
	w.Settle()
	t.Logf("%d events delivered once more", again)
	if n := len(w.Mails()) - mails; n != 0 {
		t.Errorf("redelivered events sent %d emails", n)
	}
	for m, n := range metricsBefore {
		if got := metricSum(m); got != n {
			t.Errorf("metric %s went from %d to %d on redelivery", m, n, got)
		}
	}
	t.Run("after every event ran again", check)

	// What a report reads: one Query per day, items by the scopes that
	// day has, however many referrals were counted.
	metered := dynamotest.Client(w.DB.URL, w.DB.Counter.Middleware())
	w.App.Referrals.DB = metered
	for _, days := range []int{1, 30, 365} {
		w.DB.Counter.Reset()
		from := day0.AddDate(0, 0, 10-days+1).Format("2006-01-02")
		readReport(t, w.Harness, "/v1/admin/outcomes?from="+from+"&to="+day(10), apptest.AdminToken)
		calls, items := 0, 0
		for _, c := range w.DB.Counter.Snapshot() {
			if c.Operation == "Query" {
				calls += c.Calls
				items += c.Items
			}
		}
		t.Logf("a %d-day report: %d Queries, %d items read", days, calls, items)
		if calls != days {
			t.Errorf("a %d-day report made %d Queries, want one per day", days, calls)
		}
	}
	// The operator's page reads its 12 weeks once, for the report and the
	// trend both.
	w.DB.Counter.Reset()
	v, err := outcomesrep.New(w.App).Dashboard(context.Background())
	if err != nil || len(v.Weeks) != 12 {
		t.Fatalf("dashboard: %d weeks, %v", len(v.Weeks), err)
	}
	today := w.Now().UTC().Truncate(24 * time.Hour)
	first, _ := time.Parse("2006-01-02", v.Weeks[0].Label)
	span := int(today.Sub(first).Hours()/24) + 1
	queries := 0
	for _, c := range w.DB.Counter.Snapshot() {
		if c.Operation == "Query" {
			queries += c.Calls
		}
	}
	t.Logf("the operator's page: %d Queries for %d days", queries, span)
	if queries != span {
		t.Errorf("the operator's page made %d Queries for %d days, want one per day", queries, span)
	}
}

// TestClinicTopicViewSuppresses: a clinic's view of one topic is that
// topic's row of the breakdown, so it shows no count the breakdown hides:
// every count of 1 to 10 in it — the funnel, the statuses, the durations —
// is null, in JSON and in CSV, while the operator's view of the same topic
// shows them.
func TestClinicTopicViewSuppresses(t *testing.T) {
	w := newWorld(t, "")
	_, link := w.refer(t, "topic-a@patient.example")
	w.refer(t, "topic-b@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	span := "?from=" + w.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02") + "&to=" + w.Now().UTC().Format("2006-01-02")

	type view struct {
		Funnel        map[string]*int64            `json:"funnel"`
		Statuses      map[string]*int64            `json:"statuses"`
		TimeToConsent map[string]*float64          `json:"time_to_consent"`
		Topics        map[string]map[string]*int64 `json:"topics"`
	}
	read := func(path, key string) view {
		t.Helper()
		return readAs[view](t, w.Harness, path, key)
	}
	all := read("/v1/clinics/lakeside/outcomes"+span, w.clinic.APIKey)
	if all.Topics["alcohol"]["received"] != nil {
		t.Fatalf("the breakdown shows alcohol's 2 referrals: the test needs it to hide them")
	}
	one := read("/v1/clinics/lakeside/outcomes"+span+"&topic=alcohol", w.clinic.APIKey)
	for stage, n := range one.Funnel {
		if n != nil && *n != 0 {
			t.Errorf("the clinic's alcohol view shows funnel %s = %d, which its breakdown hides", stage, *n)
		}
	}
	for status, n := range one.Statuses {
		if n != nil && *n != 0 {
			t.Errorf("the clinic's alcohol view shows status %s = %d", status, *n)
		}
	}
	for k, v := range one.TimeToConsent {
		if v != nil && *v != 0 {
			t.Errorf("the clinic's alcohol view shows time_to_consent %s = %v", k, *v)
		}
	}
	if len(one.Funnel) != 8 || len(one.Statuses) == 0 { // received … attended
		t.Errorf("the clinic's alcohol view leaves out figures rather than nulling them: %v %v", one.Funnel, one.Statuses)
	}
	st, b := outcomes(t, w.Harness, "/v1/clinics/lakeside/outcomes"+span+"&topic=alcohol", w.clinic.APIKey, "text/csv")
	if st != http.StatusOK || !strings.Contains(string(b), "funnel,,received,suppressed") || strings.Contains(string(b), "funnel,,received,2") {
		t.Errorf("the clinic's alcohol CSV: %d\n%s", st, b)
	}
	op := read("/v1/admin/outcomes"+span+"&topic=alcohol", apptest.AdminToken)
	if n := op.Funnel["received"]; n == nil || *n != 2 {
		t.Errorf("the operator's alcohol view: received %v, want 2", n)
	}
	if n := op.Funnel["consented"]; n == nil || *n != 1 {
		t.Errorf("the operator's alcohol view: consented %v, want 1", n)
	}
}
