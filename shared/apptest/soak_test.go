package apptest_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/eum/eumtest"
)

// TestSoak runs soakReferrals referrals (HANDOFF_SOAK_N overrides) through
// their whole lives while DynamoDB refuses a fifth of calls, SES a fifth of
// sends, and the dispatcher is killed mid-batch and crashes between sending
// an email and recording it: 50 in `make test` (two cohorts, every life of
// the script in each), 200 in `make soak`, beside TestSoakLong's 2,000. If
// the machine is slow, it starts no new cohort of referrals after 50
// seconds (but runs at least 50 referrals).
func TestSoak(t *testing.T) {
	t.Parallel()
	runSoak(t, soakSize(t, soakReferrals), 50*time.Second)
}

// soakSize reads HANDOFF_SOAK_N, or returns def.
func soakSize(t *testing.T, def int) int {
	if v := os.Getenv("HANDOFF_SOAK_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HANDOFF_SOAK_N=%q is not a positive number", v)
		}
		return n
	}
	return def
}

// soakKind is one scripted life of a referral.
type soakKind struct {
	name   string
	share  int      // out of 100
	final  string   // the referral's expected final status
	routes []string // the expected route statuses, in order
	// Expected distinct emails of each kind for one referral; -1: 0 or 1.
	receipt, self, notices, withdrawn, clinician int
	// texts are the distinct texts to the patient; textOnly: the patient
	// has no email (so no consent email either).
	texts    int
	textOnly bool
	// phone is the patient's number: one ending 0199 is reported
	// undeliverable, and the consent link then goes by email.
	phone     string
	preferSMS bool
}

var soakKinds = []soakKind{
	{name: "connected", share: 40, final: "connected", routes: []string{"connected"}, receipt: 1, notices: 1, clinician: 2},
	{name: "moved-on", share: 10, final: "connected", routes: []string{"declined", "connected"}, receipt: 1, notices: 2, clinician: 2},
	{name: "not-connected", share: 10, final: "not-connected", routes: []string{"not-connected"}, receipt: 1, notices: 1, clinician: 2},
	{name: "self", share: 10, final: "shared-with-patient", receipt: 1, self: 1},
	{name: "declined", share: 10, final: "declined", clinician: 1},
	{name: "revoked", share: 10, final: "revoked", routes: []string{"withdrawn"}, receipt: -1, notices: 1, withdrawn: 1, clinician: 1},
	{name: "cancelled", share: 10, final: "cancelled", routes: []string{"withdrawn"}, receipt: 1, notices: 1, withdrawn: 1},
	{name: "texted", share: 10, final: "connected", routes: []string{"connected"}, notices: 1, clinician: 2,
		texts: 1, textOnly: true, phone: "+14155550150"},
	{name: "undeliverable", share: 10, final: "connected", routes: []string{"connected"}, receipt: 1, notices: 1, clinician: 2,
		texts: 1, phone: "+14155550199", preferSMS: true},
}

// soakCohort is how many referrals live at once. Cohorts run one after the
// other, each in a world of its own: the embedded DynamoDB reads a whole
// table for every Query, so one table that only grew would make a long run
// quadratic.
const soakCohort = 25

// soakTotals is what a whole run saw, over its cohorts.
type soakTotals struct {
	referrals, lost, delivered, pending int
	texts                               int
	clinic5xx, stored5xx, page5xx       int
	kills, crashes, sweepErrors         int
	dbCalls, dbFailed                   int
	repeats                             repeats
	injected                            map[string]int
	ops                                 map[string]int
	clockMoved                          time.Duration
}

// soak is one cohort's world and its tallies.
type soak struct {
	t          *testing.T
	h          *apptest.Harness
	s          *stack
	clinic     apptest.Clinic
	dbFaults   *apptest.DynamoFaults
	sesFaults  *apptest.SESFaults
	tap        *apptest.MailTap
	textFaults *apptest.TextFaults
	direct     *dynamo.Referrals // the due-index, read without faults

	mu          sync.Mutex
	ids         map[int]string // referral id by index
	clinic5xx   int            // intake and cancel answers >= 500
	stored5xx   int            // of which for a request whose change was stored
	page5xx     int            // page answers >= 500
	kills       int            // sweeps killed by time
	sweepErrors int            // sweeps that ended in an error
	clockMoved  time.Duration
}

func (k *soak) note(f func()) {
	k.mu.Lock()
	f()
	k.mu.Unlock()
}

// runSoak runs n referrals in cohorts, starting a new cohort only while
// within budget (but always at least 50 referrals).
func runSoak(t *testing.T, n int, budget time.Duration) {
	began := time.Now()
	// Each referral's life, a seeded shuffle of the shares.
	var deck []int
	for ki, kd := range soakKinds {
		for range kd.share {
			deck = append(deck, ki)
		}
	}
	rng := rand.New(rand.NewPCG(104, 105))
	kinds := make([]int, n)
	for i := range n {
		if i%len(deck) == 0 {
			rng.Shuffle(len(deck), func(a, b int) { deck[a], deck[b] = deck[b], deck[a] })
		}
		kinds[i] = deck[i%len(deck)]
	}

	tot := soakTotals{injected: map[string]int{}, ops: map[string]int{}}
	cohorts := 0
	for tot.referrals < n {
		if tot.referrals >= 50 && time.Since(began) > budget {
			break
		}
		from, to := tot.referrals, min(tot.referrals+soakCohort, n)
		ok := t.Run(fmt.Sprintf("cohort-%03d", cohorts), func(t *testing.T) {
			runCohort(t, uint64(cohorts), from, to, kinds, &tot)
		})
		tot.referrals = to
		cohorts++
		if !ok {
			break
		}
	}

	// The table.
	var b strings.Builder
	fmt.Fprintf(&b, "soak: %d referrals (of %d asked) in %d cohorts of up to %d, %v; the clock moved %v under faults (then 8 days per cohort)\n",
		tot.referrals, n, cohorts, soakCohort, time.Since(began).Round(time.Millisecond), tot.clockMoved.Round(time.Second))
	counts := map[string]int{}
	for i := range tot.referrals {
		counts[soakKinds[kinds[i]].name]++
	}
	fmt.Fprintf(&b, "  %-16s %6s  %s\n", "life", "count", "expected final status")
	for _, kd := range soakKinds {
		fmt.Fprintf(&b, "  %-16s %6d  %s\n", kd.name, counts[kd.name], kd.final)
	}
	fmt.Fprintf(&b, "  DynamoDB calls by the core: %s\n", opsText(tot.ops))
	fmt.Fprintf(&b, "  faults injected (%d DynamoDB requests):\n", tot.dbCalls)
	tot.injected["dynamodb calls failed after SDK retries"] = tot.dbFailed
	tot.injected["sweeps killed at a random moment"] = tot.kills
	tot.injected["sweeps crashed between send and record"] = tot.crashes
	for _, kv := range sortedCounts(tot.injected) {
		fmt.Fprintf(&b, "    %-54s %6d\n", kv.k, kv.v)
	}
	row := func(what string, n int) { fmt.Fprintf(&b, "  %-56s %6d\n", what, n) }
	row("sweeps that ended in an error (killed mid-query)", tot.sweepErrors)
	row("clinic requests answered 5xx (retried)", tot.clinic5xx)
	row("  of which for a change that was stored", tot.stored5xx)
	row("page requests answered 5xx (retried)", tot.page5xx)
	row("emails delivered", tot.delivered)
	row("texts delivered to the phone sink", tot.texts)
	row("lost (wrong final state or missing email)", tot.lost)
	row("duplicated: sender died between send and record", tot.repeats.afterDeath)
	row("duplicated: ledger write failed after the send", tot.repeats.afterLedgerFailure)
	row("left pending", tot.pending)
	t.Log("\n" + b.String())
}

func opsText(ops map[string]int) string {
	var parts []string
	for _, kv := range sortedCounts(ops) {
		parts = append(parts, fmt.Sprintf("%s=%d", kv.k, kv.v))
	}
	return strings.Join(parts, " ")
}

// runCohort runs referrals [from, to) through their lives under faults in a
// world of their own, then with faults off lets every retry, dead claim and
// deadline run out, and checks each referral's end.
func runCohort(t *testing.T, seed uint64, from, to int, kinds []int, tot *soakTotals) {
	h := apptest.New(t)
	k := &soak{t: t, h: h, s: newStack(h), ids: map[int]string{}}
	k.clinic = h.NewClinic("lakeside", "")
	nearbyGroups(h, 3)
	k.direct = &dynamo.Referrals{DB: h.DB.Client, Table: h.DB.Tables.Referrals}
	k.dbFaults = h.InjectDynamoFaults(101+seed*10, 0.2)
	k.sesFaults = h.NewSESFaults(102+seed*10, 0.2)
	k.tap = apptest.NewMailTap(k.sesFaults.Sender(h.App.Config.MailFrom), 103+seed*10, 0.05)
	h.App.Mailer = k.tap
	k.textFaults = h.InjectTextFaultRate(109+seed*10, 0.2)

	stop := make(chan struct{})
	chaosDone := make(chan struct{})
	go func() { defer close(chaosDone); k.chaos(stop, 106+seed*10) }()
	const workers = 16
	next := make(chan int)
	errs := make([]error, to)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = k.script(i, soakKinds[kinds[i]])
			}
		}()
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(stop)
	<-chaosDone
	for i := from; i < to; i++ {
		if errs[i] != nil {
			t.Errorf("referral %d (%s): %v", i, soakKinds[kinds[i]].name, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Faults off; let every retry, every dead claim's lease and every
	// deadline run out.
	for kind, n := range k.dbFaults.Injected() {
		tot.injected[kind] += n
	}
	for kind, n := range k.sesFaults.Injected() {
		tot.injected[kind] += n
	}
	for _, c := range k.dbFaults.Counter.Snapshot() {
		tot.ops[c.Operation] += c.Calls
	}
	tot.dbCalls += k.dbFaults.Calls()
	tot.injected["texts refused (throttling, 500)"] += k.textFaults.Injected()
	k.dbFaults.SetRate(0)
	k.sesFaults.SetRate(0)
	k.textFaults.SetRate(0)
	k.tap.SetCrashRate(0)
	h.Advance(3 * time.Minute)
	sweepUntilQuiet(t, h, 10*time.Minute, 500)
	h.Advance(8 * 24 * time.Hour) // past every consent and group deadline
	sweepUntilQuiet(t, h, 10*time.Minute, 500)

	statuses, _ := referralsByStatus(t, h)
	if len(statuses) != to-from {
		t.Errorf("%d referrals stored, want %d", len(statuses), to-from)
		tot.lost += abs(to - from - len(statuses))
	}
	for i := from; i < to; i++ {
		kd := soakKinds[kinds[i]]
		v := h.Status(k.clinic, k.ids[i])
		var routes []string
		for _, rt := range v.Routes {
			routes = append(routes, string(rt.Status))
		}
		if string(v.Status) != kd.final || !slices.Equal(routes, kd.routes) {
			t.Errorf("referral %d (%s): %s with routes %v, want %s with %v", i, kd.name, v.Status, routes, kd.final, kd.routes)
			tot.lost++
		}
	}

	// Emails: each effect once, but for repeats in the documented window.
	sent := k.tap.Sent()
	failed := k.dbFaults.Failed()
	r := checkRepeats(t, sent, failed)
	tot.repeats.afterDeath += r.afterDeath
	tot.repeats.afterLedgerFailure += r.afterLedgerFailure
	for _, f := range failed {
		if !f.Killed {
			tot.dbFailed++
		}
	}
	type count struct{ consent, receipt, self, notices, withdrawn, clinician int }
	distinct := map[string]*count{}
	seen := map[string]bool{}
	delivered := 0
	for _, sn := range sent {
		if !sn.Delivered {
			continue
		}
		delivered++
		if seen[sn.Key] {
			continue
		}
		seen[sn.Key] = true
		ref := sn.Message.Tags["referral"]
		if distinct[ref] == nil {
			distinct[ref] = &count{}
		}
		d, addr, subj := distinct[ref], sn.Message.To, sn.Message.Subject
		switch {
		case strings.HasSuffix(addr, "@patient.example") && strings.Contains(subj, "please review a referral"):
			d.consent++
		case strings.HasSuffix(addr, "@patient.example") && strings.Contains(subj, "your answer is saved"):
			d.receipt++
		case strings.HasSuffix(addr, "@patient.example") && strings.Contains(subj, "the details you asked for"):
			d.self++
		case strings.HasSuffix(addr, "@groups.example") && strings.Contains(subj, "referred someone to"):
			d.notices++
		case strings.HasSuffix(addr, "@groups.example") && strings.Contains(subj, "is closed"):
			d.withdrawn++
		case addr == "rivera@clinic.example":
			d.clinician++
		default:
			t.Errorf("an email nobody expected: to %s, subject %q", addr, subj)
		}
	}
	for i := from; i < to; i++ {
		kd := soakKinds[kinds[i]]
		got := count{}
		if d := distinct[k.ids[i]]; d != nil {
			got = *d
		}
		want := count{1, kd.receipt, kd.self, kd.notices, kd.withdrawn, kd.clinician}
		if kd.textOnly {
			want.consent = 0
		}
		if want.receipt == -1 && got.receipt <= 1 {
			want.receipt = got.receipt // a receipt may or may not beat the revoke
		}
		if got != want {
			t.Errorf("referral %d (%s): emails %+v, want %+v", i, kd.name, got, want)
			tot.lost++
		}
	}
	// Texts: each consent link's text once.
	h.Phones.Wait()
	textsTo := map[string]int{}
	for _, m := range h.Phones.Messages(0) {
		textsTo[m.Context["referral"]]++
	}
	for i := from; i < to; i++ {
		kd := soakKinds[kinds[i]]
		if got := textsTo[k.ids[i]]; got != kd.texts {
			t.Errorf("referral %d (%s): %d texts, want %d", i, kd.name, got, kd.texts)
			tot.lost++
		}
		tot.texts += textsTo[k.ids[i]]
	}
	if mails := len(h.Mails()); mails != delivered {
		t.Errorf("the SES mailbox holds %d emails, %d were delivered through the tap", mails, delivered)
	}
	tot.delivered += delivered
	left := pending(t, h)
	if left != 0 {
		t.Errorf("%d events left pending", left)
	}
	tot.pending += left
	if k.stored5xx != 0 {
		t.Errorf("%d clinic requests answered 5xx although their change was stored", k.stored5xx)
	}
	tot.clinic5xx += k.clinic5xx
	tot.stored5xx += k.stored5xx
	tot.page5xx += k.page5xx
	tot.kills += k.kills
	tot.crashes += k.tap.Crashes()
	tot.sweepErrors += k.sweepErrors
	tot.clockMoved += k.clockMoved
}

type kv struct {
	k string
	v int
}

func sortedCounts(m map[string]int) []kv {
	var out []kv
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// soakTick is how far the clock moves per busy sweep: a dead claim's
// two-minute lease runs out after a dozen sweeps.
const soakTick = 10 * time.Second

// chaos sweeps until stop: a third of the sweeps are killed after a random
// 1–30 ms, and the mail tap crashes some right after a send. The clock moves
// soakTick per busy sweep, and jumps to the next retry when nothing is due.
func (k *soak) chaos(stop <-chan struct{}, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 107))
	ctx := k.h.SweepContext()
	for {
		select {
		case <-stop:
			return
		default:
		}
		var after time.Duration
		if rng.IntN(3) == 0 {
			after = time.Duration(1+rng.IntN(30)) * time.Millisecond
			k.note(func() { k.kills++ })
		}
		st, err := k.h.KillableSweep(ctx, after)
		if err != nil {
			k.note(func() { k.sweepErrors++ })
		}
		if st.Ran+st.Failed > 0 {
			k.h.Advance(soakTick)
			k.note(func() { k.clockMoved += soakTick })
			continue
		}
		now := k.h.Now()
		refs, err := k.direct.Due(ctx, now.Add(15*time.Minute), 1)
		if err == nil && len(refs) > 0 && refs[0].Due.After(now) {
			d := refs[0].Due.Sub(now) + time.Millisecond
			k.h.Advance(d)
			k.note(func() { k.clockMoved += d })
			continue
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// soakPhone is patient i's own number of a kind's (a number gets at most
// one text a day): the kind's area code and last four digits, which the
// phone sink reads (0199: undeliverable), around an exchange of its own.
func soakPhone(kind string, i int) string {
	return kind[:5] + fmt.Sprintf("%03d", 200+i%800) + kind[8:]
}

// script runs one referral's life, as its clinic, patient and groups would,
// retrying an answer >= 500 as a person (or an EHR) would.
func (k *soak) script(i int, kd soakKind) error {
	rng := rand.New(rand.NewPCG(uint64(i), 108))
	email := fmt.Sprintf("soak%05d@patient.example", i)
	p := patient{Given: "Ana", Family: "Diaz", Email: email, Phone: "+14155550100", Needs: []string{"alcohol"}, External: fmt.Sprintf("SOAK-%05d", i)}
	if kd.phone != "" {
		p.Phone = soakPhone(kd.phone, i)
	}
	if kd.textOnly {
		p.Email = ""
	}
	if kd.preferSMS {
		p.Preferred = "sms"
	}
	id, err := k.intake(fmt.Sprintf("msg_soak_%05d", i), p.body())
	if err != nil {
		return err
	}
	k.note(func() { k.ids[i] = id })
	var link string
	if kd.textOnly {
		text, err := k.waitText(id)
		if err != nil {
			return err
		}
		link = apptest.LinkPattern.FindString(text.Body)
	} else {
		consent, err := k.waitMail(id, email, "/c/")
		if err != nil {
			return fmt.Errorf("consent email: %w", err)
		}
		link = apptest.LinkPattern.FindString(consent.Message.Text)
	}
	_, _, offered, err := k.page(link)
	if err != nil {
		return err
	}
	if len(offered) < 2 {
		return fmt.Errorf("the consent page offers %d groups", len(offered))
	}
	// Two of the offered groups; they are approached in the page's order.
	skip := rng.IntN(len(offered))
	var chosen []string
	for j, g := range offered {
		if j != skip && len(chosen) < 2 {
			chosen = append(chosen, g)
		}
	}
	switch kd.name {
	case "declined":
		return k.consent(link, url.Values{"action": {"decline"}}, "declined")
	case "self":
		return k.consent(link, url.Values{"action": {"confirm"}, "mode": {"self"}, "groups": chosen[:1]}, "confirmed")
	}
	if err := k.consent(link, url.Values{"action": {"confirm"}, "mode": {"introduce"}, "groups": chosen}, "confirmed"); err != nil {
		return err
	}
	notice, err := k.waitMail(id, contactOf(chosen[0]), "/g/")
	if err != nil {
		return fmt.Errorf("group notice: %w", err)
	}
	glink := apptest.LinkPattern.FindString(notice.Message.Text)
	switch kd.name {
	case "revoked":
		return k.consent(link, url.Values{"action": {"revoke"}}, "revoked")
	case "cancelled":
		return k.cancel(id)
	case "moved-on":
		if err := k.answer(glink, url.Values{"action": {"decline"}, "reason": {"not-a-fit"}}); err != nil {
			return err
		}
		notice, err = k.waitMail(id, contactOf(chosen[1]), "/g/")
		if err != nil {
			return fmt.Errorf("second group notice: %w", err)
		}
		glink = apptest.LinkPattern.FindString(notice.Message.Text)
	}
	if err := k.answer(glink, url.Values{"action": {"accept"}}); err != nil {
		return err
	}
	last := "connected"
	if kd.name == "not-connected" {
		last = "not-connected"
	}
	return k.answer(glink, url.Values{"action": {last}})
}

func contactOf(groupID string) string { return "contact+" + groupID + "@groups.example" }

const soakAttempts = 200

// retryPause is how long a script waits before trying a failed step again.
const retryPause = 3 * time.Millisecond

// intake delivers a referral until it is accepted; a 5xx must not have stored
// it, and the retry uses the same webhook id.
func (k *soak) intake(webhookID string, body []byte) (string, error) {
	for range soakAttempts {
		r, err := k.s.refer(k.clinic, webhookID, body)
		if err != nil {
			return "", err
		}
		if r.status >= 500 {
			ok, err := stored(k.h, k.clinic.ID, webhookID)
			if err != nil {
				return "", err
			}
			k.note(func() {
				k.clinic5xx++
				if ok {
					k.stored5xx++
				}
			})
			time.Sleep(retryPause)
			continue
		}
		if r.status != http.StatusAccepted {
			return "", fmt.Errorf("intake: %d %s", r.status, r.body)
		}
		return receiptID(r.body), nil
	}
	return "", fmt.Errorf("intake not accepted after %d deliveries", soakAttempts)
}

// cancel cancels a referral as its clinic; a 5xx must have changed nothing.
func (k *soak) cancel(id string) error {
	hdr := http.Header{"Authorization": {"Bearer " + k.clinic.APIKey}}
	for range soakAttempts {
		r, err := k.s.send(http.MethodDelete, "/v1/clinics/"+k.clinic.ID+"/referrals/"+id, nil, hdr)
		if err != nil {
			return err
		}
		if r.status >= 500 {
			st, err := statusOf(k.h, id)
			if err != nil {
				return err
			}
			k.note(func() {
				k.clinic5xx++
				if st == "cancelled" {
					k.stored5xx++
				}
			})
			time.Sleep(retryPause)
			continue
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("cancel: %d %s", r.status, r.body)
		}
		return nil
	}
	return fmt.Errorf("cancel not done after %d tries", soakAttempts)
}

// page reads a page until it is served.
func (k *soak) page(path string) (reply, url.Values, []string, error) {
	for range soakAttempts {
		r, hidden, groups, err := k.s.page(path)
		if err != nil {
			return r, nil, nil, err
		}
		if r.status >= 500 {
			k.note(func() { k.page5xx++ })
			time.Sleep(retryPause)
			continue
		}
		if r.status != http.StatusOK {
			return r, nil, nil, fmt.Errorf("GET page: %d", r.status)
		}
		return r, hidden, groups, nil
	}
	return reply{}, nil, nil, fmt.Errorf("page not served after %d tries", soakAttempts)
}

// consent posts the consent form until it answers 303 with the notice.
func (k *soak) consent(link string, fields url.Values, notice string) error {
	return k.form(link, fields, "notice="+notice)
}

// answer posts the group form until it answers 303.
func (k *soak) answer(link string, fields url.Values) error {
	return k.form(link, fields, "")
}

func (k *soak) form(link string, fields url.Values, wantInLocation string) error {
	for range soakAttempts {
		_, hidden, _, err := k.page(link)
		if err != nil {
			return err
		}
		r, err := k.s.post(link, hidden, fields)
		if err != nil {
			return err
		}
		if r.status >= 500 {
			k.note(func() { k.page5xx++ })
			time.Sleep(retryPause)
			continue
		}
		loc := r.header.Get("Location")
		if r.status != http.StatusSeeOther || !strings.Contains(loc, wantInLocation) {
			return fmt.Errorf("post %s: %d, location %q", fields.Get("action"), r.status, apptest.Redact(loc))
		}
		return nil
	}
	return fmt.Errorf("post %s not done after %d tries", fields.Get("action"), soakAttempts)
}

// waitMail waits for the first delivered email about a referral to an
// address that carries a link of the given kind ("/c/" or "/g/").
// waitText waits for the text of a referral's consent link.
func (k *soak) waitText(referralID string) (eumtest.Message, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for _, m := range k.h.Phones.Messages(0) {
			if m.Context["referral"] == referralID {
				return m, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return eumtest.Message{}, fmt.Errorf("no text for referral %s within 2 minutes", referralID)
}

func (k *soak) waitMail(referralID, to, linkKind string) (apptest.Sent, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		s, ok := k.tap.Find(func(s apptest.Sent) bool {
			return s.Message.Tags["referral"] == referralID && s.Message.To == to &&
				strings.HasPrefix(apptest.LinkPattern.FindString(s.Message.Text), linkKind)
		})
		if ok {
			return s, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return apptest.Sent{}, fmt.Errorf("no email to %s with a %s link within 2 minutes", to, linkKind)
}
