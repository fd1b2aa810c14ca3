package apptest_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/testenv/browsertest"
)

// TestBrowserLaunchFromTheEHR is the whole path in Chromium: the
// EHR's launch URL → oidc-provider's own sign-in and consent pages →
// handoff's callback → the referral form filled in from the EHR's Patient,
// the topic from its Condition → submit → the QR code → the patient
// consents on their own phone (a second browser context) → consented.
// The EHR (127.0.0.1) and the clinic's pages (localhost) are different
// sites, as an EHR and handoff are.
func TestBrowserLaunchFromTheEHR(t *testing.T) {
	b := newChromium(t)
	lw := newLaunchWorld(t, ehrtest.Break{})
	b.use(lw.Harness)
	b.base = ""

	// Count what the browser asks for, by kind, from the launch URL on.
	var (
		mu       sync.Mutex
		requests = map[network.ResourceType]int{}
		hosts    = map[string]int{}
	)
	if err := chromedp.Listen(b.tab, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests[e.Type]++
			if e.Type == network.ResourceTypeDocument {
				host := strings.SplitN(strings.TrimPrefix(strings.TrimPrefix(e.Request.URL, "http://"), "https://"), "/", 2)[0]
				hosts[host]++
			}
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("watch the network: %v", err)
	}
	ctx, cancel := b.ctx()
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	cancel()
	if err != nil {
		t.Fatalf("watch the network: %v", err)
	}

	start := time.Now()
	if st := b.open(lw.ehr.LaunchURL(lw.origin+"/launch", ehrtest.Launch)); st != http.StatusOK {
		t.Fatalf("the launch URL: %d", st)
	}
	// oidc-provider's own sign-in page, then its consent page.
	if !b.has(`input[name=login]`) {
		t.Fatalf("not the EHR's sign-in page: %s", eval[string](b, `document.body.innerText`))
	}
	b.do("sign in at the EHR", chromedp.SetValue(chromedp.CSS(`input[name=login]`), "dr-rivera", chromedp.NodeVisible),
		chromedp.SetValue(chromedp.CSS(`input[name=password]`), "any password will do", chromedp.NodeVisible))
	b.submit(`button[type=submit]`)
	if !strings.Contains(strings.ToLower(eval[string](b, `document.body.innerText`)), "authorize") {
		t.Fatalf("not the EHR's consent page: %s", eval[string](b, `document.body.innerText`))
	}
	b.submit(`button[type=submit]`)
	waitPath(b, "/clinic/new")
	filled := time.Since(start)
	mu.Lock()
	docs, all, perHost := requests[network.ResourceTypeDocument], 0, fmtCounts(hosts)
	for _, n := range requests {
		all += n
	}
	mu.Unlock()
	t.Logf("launch → filled form: %v in Chromium; %d document requests (%s), %d requests in all",
		filled.Round(time.Millisecond), docs, perHost, all)

	for css, want := range map[string]string{"#given_name": "Colin", "#postal_code": "74048", "#topic": "alcohol", "#patient-email": "", "#phone": ""} {
		if got := eval[string](b, `document.querySelector(`+jsString(css)+`).value`); got != want {
			t.Errorf("%s = %q, want %q", css, got, want)
		}
	}
	if !strings.Contains(b.text(".notice"), "Filled in from the patient") {
		t.Errorf("the form does not say it comes from the chart: %q", b.text(".notice"))
	}
	b.check("form from the EHR")
	cookie := browserCookie(b, "handoff_clinic")
	if !strings.HasPrefix(cookie, "handoff_clinic=ehr.") {
		t.Errorf("the session cookie %q is not an EHR user's", cookie)
	}

	// The patient's contact is theirs to give: the QR code instead.
	b.do("fill", chromedp.SetValue(chromedp.CSS("#postal_code"), "94110", chromedp.NodeVisible))
	b.submit(`form[action^="/clinic/referrals"] button[type=submit]`)
	id := strings.TrimPrefix(eval[string](b, `location.pathname`), "/clinic/referrals/")
	if len(id) != 26 {
		t.Fatalf("after the form: %s", eval[string](b, `location.pathname`))
	}
	lw.Settle()
	b.open(lw.origin + "/clinic/referrals/" + id)
	if got := eval[string](b, `document.getElementById('status').dataset.status`); got != "awaiting-consent" {
		t.Fatalf("status %q", got)
	}
	b.check("referral from the EHR with QR")
	qrLink := decodeQR(b)

	phone := &chromium{t: t, tab: browsertest.Tab(t), axe: b.axe, screens: b.screens}
	if st := phone.open(qrLink); st != http.StatusOK {
		t.Fatalf("the QR link: %d", st)
	}
	phone.pick("mission-a")
	phone.click(`#mode-self + label`)
	phone.submit(`button[value="confirm"]`)
	b.open(lw.origin + "/clinic/referrals/" + id)
	if got := eval[string](b, `document.getElementById('status').dataset.status`); got != "consented" {
		t.Errorf("after the patient agreed: %q, want consented", got)
	}
}

// fmtCounts writes counts by key, sorted.
func fmtCounts(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, k+": "+strconv.Itoa(n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
