package apptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/webhook"
)

// ---------------------------------------------------------------- helpers
//
// The helpers below are safe to call from many goroutines: they return
// errors instead of failing the test.

// stack talks HTTP to a harness from any goroutine.
type stack struct {
	*apptest.Harness
	hc *http.Client
}

func newStack(h *apptest.Harness) *stack {
	return &stack{Harness: h, hc: &http.Client{
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
	}}
}

// reply is one HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (s *stack) send(method, path string, body []byte, hdr http.Header) (reply, error) {
	req, err := http.NewRequest(method, s.Server.URL+path, strings.NewReader(string(body)))
	if err != nil {
		return reply{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// refer sends a signed native referral with a given webhook id.
func (s *stack) refer(c apptest.Clinic, webhookID string, body []byte) (reply, error) {
	return s.referTyped(c, webhookID, "application/json", body)
}

// referTyped sends a signed referral of a given media type.
func (s *stack) referTyped(c apptest.Clinic, webhookID, ctype string, body []byte) (reply, error) {
	key, err := webhook.ParseSecret(c.WebhookSecret)
	if err != nil {
		return reply{}, err
	}
	hdr := webhook.SignHeaders(key, webhookID, s.Now(), body)
	hdr.Set("Content-Type", ctype)
	return s.send(http.MethodPost, "/v1/clinics/"+c.ID+"/referrals", body, hdr)
}

var groupBoxRE = regexp.MustCompile(`name="groups"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="groups"`)

// page reads a page; for a 200 it returns the hidden form fields and the
// group ids the form offers.
func (s *stack) page(path string) (reply, url.Values, []string, error) {
	r, err := s.send(http.MethodGet, path, nil, nil)
	if err != nil || r.status != http.StatusOK {
		return r, nil, nil, err
	}
	hidden := apptest.HiddenFields(r.body)
	var groups []string
	for _, m := range groupBoxRE.FindAllStringSubmatch(string(r.body), -1) {
		groups = append(groups, html.UnescapeString(m[1]+m[2]))
	}
	return r, hidden, groups, nil
}

// post posts a page's form: its hidden fields plus fields.
func (s *stack) post(path string, hidden, fields url.Values) (reply, error) {
	v := url.Values{}
	for k, vs := range hidden {
		v[k] = vs
	}
	for k, vs := range fields {
		v[k] = vs
	}
	return s.send(http.MethodPost, path, []byte(v.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {s.Server.URL},
	})
}

// patient is what one referral says about its patient.
type patient struct {
	Given, Family, Email, Phone string
	Preferred                   string // preferred_channel
	Needs                       []string
	Codes                       [][2]string // system, code
	External                    string
}

const (
	icd10  = "http://hl7.org/fhir/sid/icd-10-cm"
	snomed = "http://snomed.info/sct"
)

// body renders a native referral.
func (p patient) body() []byte {
	pt := map[string]any{"given_name": p.Given, "postal_code": "94110", "country": "US", "preferred_language": "en"}
	if p.Family != "" {
		pt["family_name"] = p.Family
	}
	if p.Email != "" {
		pt["email"] = p.Email
	}
	if p.Phone != "" {
		pt["phone"] = p.Phone
	}
	if p.Preferred != "" {
		pt["preferred_channel"] = p.Preferred
	}
	req := map[string]any{
		"external_id": p.External,
		"patient":     pt,
		"preferences": map[string]any{"formats": []string{"in-person", "online"}},
		"clinician":   map[string]any{"name": "Dr. Jan Rivera", "email": "rivera@clinic.example"},
	}
	if len(p.Needs) > 0 {
		req["needs"] = p.Needs
	}
	var codes []map[string]string
	for _, c := range p.Codes {
		codes = append(codes, map[string]string{"system": c[0], "code": c[1]})
	}
	if len(codes) > 0 {
		req["reason_codes"] = codes
	}
	b, _ := json.Marshal(req)
	return b
}

// receipt is the 202 answer's id.
func receiptID(b []byte) string {
	var r struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b, &r)
	return r.ID
}

// scanItems returns every item of the referrals table whose SK starts with
// prefix, read with the harness's own (fault-free) client.
func scanItems(ctx context.Context, h *apptest.Harness, prefix string) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(h.DB.Client, &dynamodb.ScanInput{
		TableName:                 aws.String(h.DB.Tables.Referrals),
		FilterExpression:          aws.String("begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: prefix}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

func strAttr(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// referralsByStatus counts the stored referrals by status.
func referralsByStatus(t *testing.T, h *apptest.Harness) (map[string]string, map[string]int) {
	t.Helper()
	items, err := scanItems(context.Background(), h, "REF")
	if err != nil {
		t.Fatalf("scan referrals: %v", err)
	}
	byID, counts := map[string]string{}, map[string]int{}
	for _, it := range items {
		if strAttr(it, "SK") != "REF" {
			continue
		}
		byID[strAttr(it, "id")] = strAttr(it, "status")
		counts[strAttr(it, "status")]++
	}
	return byID, counts
}

// stored reports whether a webhook delivery's idempotency record exists: it
// is written in the same transaction as the referral.
func stored(h *apptest.Harness, clinic, webhookID string) (bool, error) {
	out, err := h.DB.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(h.DB.Tables.Referrals),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "IDEM#" + clinic + "#" + webhookID},
			"SK": &types.AttributeValueMemberS{Value: "IDEM"},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, err
	}
	return out.Item != nil, nil
}

// statusOf reads a referral's stored status with the harness's own client.
func statusOf(h *apptest.Harness, id string) (string, error) {
	out, err := h.DB.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(h.DB.Tables.Referrals),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "REF#" + id},
			"SK": &types.AttributeValueMemberS{Value: "REF"},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", err
	}
	return strAttr(out.Item, "status"), nil
}

// pending counts the referrals' events still in the due-index, however far
// ahead (groups' listing checks are always pending).
func pending(t *testing.T, h *apptest.Harness) int {
	t.Helper()
	refs, err := h.App.Referrals.Due(context.Background(), h.Now().Add(100*365*24*time.Hour), 1000)
	if err != nil {
		t.Fatalf("due events: %v", err)
	}
	n := 0
	for _, r := range refs {
		if !strings.HasPrefix(r.Partition, dynamo.GroupPartition("")) { // not a group's listing check
			n++
		}
	}
	return n
}

// nearbyGroups stores n groups near the patients' postal code (94110).
func nearbyGroups(h *apptest.Harness, n int) []string {
	var ids []string
	for i := range n {
		id := fmt.Sprintf("mission-%02d", i)
		g := apptest.SampleGroup(id, 37.7599+float64(i)*0.001, -122.4148)
		h.PutGroup(g, id)
		ids = append(ids, id)
	}
	return ids
}

// sweepUntilQuiet runs sweeps, advancing the clock by step after each, until
// a sweep finds nothing due; it fails the test after max sweeps.
func sweepUntilQuiet(t *testing.T, h *apptest.Harness, step time.Duration, max int) int {
	t.Helper()
	for i := range max {
		st, err := h.Dispatcher.Sweep(h.SweepContext())
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
		if st.Ran+st.Failed == 0 {
			return i
		}
		h.Advance(step)
	}
	t.Fatalf("events still due after %d sweeps", max)
	return max
}

// repeats counts emails an effect sent more than once, by cause.
type repeats struct {
	afterDeath         int // the sender died between send and record
	afterLedgerFailure int // the ledger write recording the send failed
}

func (r repeats) total() int { return r.afterDeath + r.afterLedgerFailure }

// checkRepeats verifies that every email an effect sent more than once was
// repeated only from the documented window between sending and recording:
// after a send whose process died before recording it (during the send, or
// during the ledger write that records it), or whose ledger write (Complete,
// an UpdateItem of the effect's ledger item, or CompleteCounting, a
// TransactWriteItems that updates it with the effect's counts) failed.
func checkRepeats(t *testing.T, sent []apptest.Sent, failed []apptest.FailedCall) repeats {
	t.Helper()
	completeFailed, completeKilled := map[string]bool{}, map[string]bool{}
	for _, f := range failed {
		if (f.Operation == "UpdateItem" || f.Operation == "TransactWriteItems") && f.LedgerKey != "" {
			if f.Killed {
				completeKilled[f.LedgerKey] = true
			} else {
				completeFailed[f.LedgerKey] = true
			}
		}
	}
	byKey := map[string][]apptest.Sent{}
	for _, s := range sent {
		if s.Delivered {
			byKey[s.Key] = append(byKey[s.Key], s)
		}
	}
	var r repeats
	for key, ds := range byKey {
		for i, d := range ds[:len(ds)-1] {
			switch {
			case d.CallerDied, completeKilled[key]:
				r.afterDeath++
			case completeFailed[key]:
				r.afterLedgerFailure++
			default:
				t.Errorf("effect %s sent %d times; send %d was recorded, yet repeated", key, len(ds), i+1)
			}
		}
	}
	return r
}

// ---------------------------------------------------------------- 1. flood

// TestDuplicateFlood: 1,000 concurrent deliveries of 100 webhook ids (ten of
// each, same body per id) make exactly 100 referrals; every delivery of an id
// gets that id's one answer, and the patients get exactly 100 consent emails.
func TestDuplicateFlood(t *testing.T) {
	t.Parallel()
	const ids, copies, workers = 100, 10, 50
	h := apptest.New(t)
	s := newStack(h)
	c := h.NewClinic("lakeside", "")
	nearbyGroups(h, 1)
	bodies := make([][]byte, ids)
	for i := range ids {
		bodies[i] = patient{
			Given: "Ana", Family: "Diaz", Email: fmt.Sprintf("flood-%03d@patient.example", i),
			Needs: []string{"alcohol"}, External: fmt.Sprintf("FLOOD-%03d", i),
		}.body()
	}
	type delivery struct{ id int }
	jobs := make([]delivery, 0, ids*copies)
	for i := range ids {
		for range copies {
			jobs = append(jobs, delivery{i})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })

	type result struct {
		id      int
		status  int
		body    string
		err     error
		latency time.Duration
	}
	results := make([]result, len(jobs))
	queue := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range queue {
				id := jobs[n].id
				t0 := time.Now()
				r, err := s.refer(c, fmt.Sprintf("msg_flood_%03d", id), bodies[id])
				results[n] = result{id: id, status: r.status, body: string(r.body), err: err, latency: time.Since(t0)}
			}
		}()
	}
	for n := range jobs {
		queue <- n
	}
	close(queue)
	wg.Wait()
	elapsed := time.Since(start)

	answers := map[int]string{}
	referralIDs := map[string]bool{}
	var latencies []time.Duration
	for _, r := range results {
		latencies = append(latencies, r.latency)
		if r.err != nil || r.status != http.StatusAccepted {
			t.Fatalf("delivery of id %d: %d %s (%v)", r.id, r.status, r.body, r.err)
		}
		if first, ok := answers[r.id]; ok && first != r.body {
			t.Fatalf("id %d answered differently:\n%s\n%s", r.id, first, r.body)
		}
		answers[r.id] = r.body
		referralIDs[receiptID([]byte(r.body))] = true
	}
	if len(referralIDs) != ids {
		t.Fatalf("%d distinct referral ids in the answers, want %d", len(referralIDs), ids)
	}
	_, counts := referralsByStatus(t, h)
	if counts["awaiting-consent"] != ids || len(counts) != 1 {
		t.Fatalf("stored referrals by status %v, want %d awaiting-consent", counts, ids)
	}
	h.Settle()
	perAddress := map[string]int{}
	for _, m := range h.Mails() {
		for _, to := range m.Destination.To {
			perAddress[to]++
		}
	}
	total := 0
	for i := range ids {
		n := perAddress[fmt.Sprintf("flood-%03d@patient.example", i)]
		if n != 1 {
			t.Errorf("patient %d got %d consent emails, want 1", i, n)
		}
		total += n
	}
	if total != ids || len(perAddress) != ids {
		t.Fatalf("%d emails to %d addresses, want %d consent emails", total, len(perAddress), ids)
	}
	slices.Sort(latencies)
	t.Logf("flood: %d deliveries (%d ids x %d) by %d workers in %v (%.0f/s); latency p50 %v p99 %v max %v",
		len(jobs), ids, copies, workers, elapsed.Round(time.Millisecond), float64(len(jobs))/elapsed.Seconds(),
		latencies[len(latencies)/2].Round(time.Microsecond), latencies[len(latencies)*99/100].Round(time.Microsecond),
		latencies[len(latencies)-1].Round(time.Microsecond))
}

// ---------------------------------------------------------------- 2. faults

// TestIntakeUnderDynamoFaults: with half of DynamoDB calls refused (a fifth
// seldom gets past the SDK's own retries; the soak runs at a fifth), a clinic
// gets a 5xx only for a referral that was not stored, and its retry with the
// same webhook id then succeeds; every referral is stored once.
func TestIntakeUnderDynamoFaults(t *testing.T) {
	const n = 60
	h := apptest.New(t)
	s := newStack(h)
	c := h.NewClinic("lakeside", "")
	nearbyGroups(h, 1)
	faults := h.InjectDynamoFaults(11, 0.5)
	var fiveXX, retries int
	for i := range n {
		id := fmt.Sprintf("msg_fault_%03d", i)
		body := patient{Given: "Ana", Email: fmt.Sprintf("f%03d@patient.example", i), Needs: []string{"alcohol"}, External: fmt.Sprintf("F-%03d", i)}.body()
		var first string
		for attempt := 0; ; attempt++ {
			if attempt == 20 {
				t.Fatalf("referral %d not accepted after 20 deliveries", i)
			}
			r, err := s.refer(c, id, body)
			if err != nil {
				t.Fatal(err)
			}
			if r.status >= 500 {
				fiveXX++
				ok, err := stored(h, c.ID, id)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					t.Fatalf("referral %d: %d although it was stored", i, r.status)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("5xx content type %q", ct)
				}
				retries++
				continue
			}
			if r.status != http.StatusAccepted {
				t.Fatalf("referral %d: %d %s", i, r.status, r.body)
			}
			if first == "" {
				first = string(r.body)
			}
			break
		}
		// A repeat delivery (with faults on) gives the same answer.
		for {
			r, err := s.refer(c, id, body)
			if err != nil {
				t.Fatal(err)
			}
			if r.status >= 500 {
				continue
			}
			if r.status != http.StatusAccepted || string(r.body) != first {
				t.Fatalf("repeat of %d: %d %s, want %s", i, r.status, r.body, first)
			}
			break
		}
	}
	faults.SetRate(0)
	if fiveXX == 0 {
		t.Error("no delivery was answered 5xx: the faults did not reach the clinic")
	}
	_, counts := referralsByStatus(t, h)
	if counts["awaiting-consent"] != n {
		t.Fatalf("stored %v, want %d awaiting-consent", counts, n)
	}
	t.Logf("intake under DynamoDB faults: %d calls, injected %v, %d failed after SDK retries, %d deliveries answered 5xx (none stored), all %d referrals stored once",
		faults.Calls(), faults.Injected(), len(faults.Failed()), fiveXX, n)
}

// TestIntakeLostResponse: DynamoDB applies the intake transaction but its
// answer is lost (a 500 after the write). The SDK's retry, or the clinic's,
// meets the idempotency record and gets the first answer; one referral.
func TestIntakeLostResponse(t *testing.T) {
	h := apptest.New(t)
	s := newStack(h)
	c := h.NewClinic("lakeside", "")
	faults := h.InjectDynamoFaults(12, 0)
	tests := []struct {
		name string
		lose int // how many TransactWriteItems answers are lost
	}{
		{"one answer lost: the SDK's retry meets the stored delivery", 1},
		{"every attempt's answer lost: the clinic's retry gets the first answer", 3},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("msg_lost_%d", i)
			body := patient{Given: "Ana", Email: fmt.Sprintf("lost%d@patient.example", i), Needs: []string{"alcohol"}, External: fmt.Sprintf("L-%d", i)}.body()
			faults.LoseResponses("TransactWriteItems", tc.lose)
			r, err := s.refer(c, id, body)
			if err != nil {
				t.Fatal(err)
			}
			faults.LoseResponses("TransactWriteItems", 0)
			if r.status >= 500 {
				// Stored but answered 5xx: the one case where a clinic
				// cannot know; its retry must be safe.
				r, err = s.refer(c, id, body)
				if err != nil {
					t.Fatal(err)
				}
			}
			if r.status != http.StatusAccepted {
				t.Fatalf("delivery: %d %s", r.status, r.body)
			}
			again, err := s.refer(c, id, body)
			if err != nil || again.status != http.StatusAccepted || string(again.body) != string(r.body) {
				t.Fatalf("repeat: %d %s, want %s", again.status, again.body, r.body)
			}
			items, err := scanItems(context.Background(), h, "REF")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, it := range items {
				if strAttr(it, "SK") == "REF" && strAttr(it, "external_id") == fmt.Sprintf("L-%d", i) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d referrals stored, want 1", n)
			}
		})
	}
}

// TestEffectsUnderSESFaults: SES refusing half of sends (500 or 429; the
// soak runs at a fifth) delays emails but loses none and doubles none.
func TestEffectsUnderSESFaults(t *testing.T) {
	const n = 30
	h := apptest.New(t)
	s := newStack(h)
	c := h.NewClinic("lakeside", "")
	nearbyGroups(h, 2)
	sesFaults := h.NewSESFaults(21, 0.5)
	tap := apptest.NewMailTap(sesFaults.Sender(h.App.Config.MailFrom), 22, 0)
	h.App.Mailer = tap
	for i := range n {
		r, err := s.refer(c, fmt.Sprintf("msg_ses_%03d", i), patient{Given: "Ana", Email: fmt.Sprintf("s%03d@patient.example", i), Needs: []string{"alcohol"}, External: fmt.Sprintf("S-%03d", i)}.body())
		if err != nil || r.status != http.StatusAccepted {
			t.Fatalf("refer %d: %d %s %v", i, r.status, r.body, err)
		}
	}
	sweeps := sweepUntilQuiet(t, h, 10*time.Minute, 200)
	per := map[string]int{}
	for _, m := range h.Mails() {
		per[m.Destination.To[0]]++
	}
	for i := range n {
		if got := per[fmt.Sprintf("s%03d@patient.example", i)]; got != 1 {
			t.Errorf("patient %d got %d consent emails, want 1", i, got)
		}
	}
	if r := checkRepeats(t, tap.Sent(), nil); r.total() != 0 {
		t.Errorf("%d repeated emails without any crash", r.total())
	}
	failedSends := 0
	for _, sn := range tap.Sent() {
		if !sn.Delivered {
			failedSends++
		}
	}
	if failedSends == 0 {
		t.Error("no send failed past the SDK's retries: the faults did not reach the dispatcher")
	}
	if pending(t, h) != 2*n { // each referral's reminder and consent deadline, days ahead
		t.Errorf("%d events pending, want the %d reminders and consent deadlines", pending(t, h), 2*n)
	}
	t.Logf("SES faults: injected %v; %d sends failed past the SDK's retries and were retried by the dispatcher; %d emails delivered, each once, after %d sweeps",
		sesFaults.Injected(), failedSends, len(per), sweeps)
}

// TestDispatcherKilledMidBatch: sweeps killed at random moments, and sweeps
// whose process dies right after SES accepted an email (before the ledger
// records it), interleaved with normal sweeps. Nothing is lost; an email is
// repeated only after such a death, once the dead claim's lease has run out.
func TestDispatcherKilledMidBatch(t *testing.T) {
	t.Parallel()
	const n = 40
	h := apptest.New(t)
	s := newStack(h)
	c := h.NewClinic("lakeside", "")
	groups := nearbyGroups(h, 2)
	calls := h.InjectDynamoFaults(34, 0) // no faults: it notes the calls a kill abandoned
	tap := apptest.NewMailTap(h.App.Mailer, 31, 0.15)
	h.App.Mailer = tap
	rng := rand.New(rand.NewPCG(32, 33))
	ids := make([]string, n)
	for i := range n {
		r, err := s.refer(c, fmt.Sprintf("msg_kill_%03d", i), patient{Given: "Ana", Email: fmt.Sprintf("k%03d@patient.example", i), Needs: []string{"alcohol"}, External: fmt.Sprintf("K-%03d", i)}.body())
		if err != nil || r.status != http.StatusAccepted {
			t.Fatalf("refer %d: %d %s %v", i, r.status, r.body, err)
		}
		ids[i] = receiptID(r.body)
	}
	var kills, killedErrs int
	chaos := func(rounds int) {
		for i := range rounds {
			var after time.Duration
			if i%2 == 0 {
				after = time.Duration(rng.IntN(30)+1) * time.Millisecond
				kills++
			}
			if _, err := h.KillableSweep(h.SweepContext(), after); err != nil {
				killedErrs++
			}
			h.Advance(5 * time.Second)
		}
	}
	chaos(60)
	// Every patient confirms, through the page.
	links := consentLinks(t, tap.Sent())
	for i := range n {
		link, ok := links[fmt.Sprintf("k%03d@patient.example", i)]
		if !ok {
			chaos(30) // an email may still be held by a dead claim
			links = consentLinks(t, tap.Sent())
			if link, ok = links[fmt.Sprintf("k%03d@patient.example", i)]; !ok {
				t.Fatalf("patient %d has no consent email after the chaos", i)
			}
		}
		pg, hidden, _, err := s.page(link)
		if err != nil || pg.status != http.StatusOK {
			t.Fatalf("consent page %d: %d %v", i, pg.status, err)
		}
		r, err := s.post(link, hidden, url.Values{"action": {"confirm"}, "mode": {"introduce"}, "groups": groups})
		if err != nil || r.status != http.StatusSeeOther {
			t.Fatalf("confirm %d: %d %v", i, r.status, err)
		}
	}
	chaos(120)
	tap.SetCrashRate(0)
	h.Advance(3 * time.Minute) // past every dead claim's lease
	sweepUntilQuiet(t, h, 10*time.Minute, 100)
	for i, id := range ids {
		if v := h.Status(c, id); v.Status != "routed" || len(v.Routes) != 1 {
			t.Errorf("referral %d: %s with %d routes, want routed to one group", i, v.Status, len(v.Routes))
		}
	}
	repeats := checkRepeats(t, tap.Sent(), calls.Failed()).total()
	delivered := 0
	for _, sn := range tap.Sent() {
		if sn.Delivered {
			delivered++
		}
	}
	if got := len(h.Mails()); got != delivered {
		t.Fatalf("the mailbox holds %d emails, the tap passed %d", got, delivered)
	}
	// Each referral: a consent email, a receipt, a group notice.
	if delivered-repeats != 3*n {
		t.Fatalf("%d distinct emails, want %d", delivered-repeats, 3*n)
	}
	t.Logf("killed sweeps: %d killed by time, %d by a crash after a send, %d sweeps ended in error; %d emails, %d repeated in the documented send/record window",
		kills, tap.Crashes(), killedErrs, delivered, repeats)
}

// consentLinks maps each patient address to the /c/ link of its consent email.
func consentLinks(t *testing.T, sent []apptest.Sent) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range sent {
		if !s.Delivered {
			continue
		}
		if l := apptest.LinkPattern.FindString(s.Message.Text); strings.HasPrefix(l, "/c/") {
			if _, ok := out[s.Message.To]; !ok {
				out[s.Message.To] = l
			}
		}
	}
	return out
}
