package apptest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/apptest"
)

// calls renders the DynamoDB calls counted since the last reset, and their
// number.
func (hw *hookWorld) calls() (string, int) {
	var parts []string
	n := 0
	for _, c := range hw.DB.Counter.Snapshot() {
		parts = append(parts, fmt.Sprintf("%s %d", c.Operation, c.Calls))
		n += c.Calls
	}
	return strings.Join(parts, ", "), n
}

// TestEHRCallsPerStep counts what the EHR's routes cost in DynamoDB, step
// by step, and holds them to it: a CDS Hooks call that gets a card is two
// calls (the jti's conditional PutItem, the open-referral Query of one
// item), one whose Conditions map to no topic is one (the jti); a launch's
// start is two (the iss's lookup, the state's PutItem; inside a frame of
// the EHR too, the clinic not cached), its callback two
// (the state's one-use DeleteItem, the session's PutItem; the clinic comes
// from the process's cache), and the filled form one read (the session).
// A call with the clinic not cached reads it once more. It logs the time
// of each step and of warm calls, for the record; the benchmark
// (BenchmarkCDSHooksService) is the measure.
func TestEHRCallsPerStep(t *testing.T) {
	hw := newHookWorld(t)
	all := []string{ehrtest.AlcoholUse, ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve}
	noTopic := []string{ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve}
	type step struct {
		name  string
		calls string
		n     int
		took  time.Duration
	}
	var steps []step
	measure := func(name string, do func()) step {
		t.Helper()
		hw.DB.Counter.Reset()
		start := time.Now()
		do()
		s := step{name: name, took: time.Since(start)}
		s.calls, s.n = hw.calls()
		steps = append(steps, s)
		return s
	}
	card := func(patient string, conditions []string, want int) func() {
		return func() {
			t.Helper()
			body := hw.patientView(t, patient, conditions)
			if st, out := hw.call(t, hw.jwt(t, "rsa-1", nil), body); st != http.StatusOK || len(cards(t, out)) != want {
				t.Fatalf("%d %v, want %d cards", st, out, want)
			}
		}
	}

	// The CDS service: a fresh process's first call, then warm ones.
	hw.App.ForgetClinic("lakeside")
	cold := measure("CDS call, the clinic not cached (card)", card(ehrtest.Patient, all, 1))
	warm := measure("CDS call, warm (card)", card(ehrtest.Patient, all, 1))
	quiet := measure("CDS call, warm (no topic: no card)", card("pat-other", noTopic, 0))
	var warmTimes []time.Duration
	for range 20 {
		warmTimes = append(warmTimes, measure("", card(ehrtest.Patient, all, 1)).took)
	}
	steps = steps[:len(steps)-20]
	slices.Sort(warmTimes)

	// The launch, to the filled form and the referral made from it.
	b := newBrowser(t)
	var loc string
	begin := measure("GET /launch", func() {
		st, l, body := hw.launch(b, ehrtest.Launch)
		if st != http.StatusFound {
			t.Fatalf("GET /launch: %d %s", st, body)
		}
		loc = l
	})
	cb, err := ehrtest.SignIn(context.Background(), loc, hw.redirect, "dr-rivera", b.jar)
	if err != nil {
		t.Fatal(err)
	}
	finish := measure("GET /launch/callback", func() {
		if st, _, body := b.get(cb.String()); st != http.StatusSeeOther {
			t.Fatalf("callback: %d %s", st, body)
		}
	})
	var page string
	// A warm clinic function has the clinic cached (each function keeps
	// its own cache, as each Lambda does): the filled form then reads only
	// the session.
	if _, err := hw.App.Clinic(apptest.As(context.Background(), "ClinicFunction"), "lakeside"); err != nil {
		t.Fatal(err)
	}
	form := measure("GET /clinic/new (filled in)", func() {
		var st int
		if st, _, page = b.get(hw.origin + "/clinic/new"); st != http.StatusOK || formValues(page)["topic"] != "alcohol" {
			t.Fatalf("the form: %d", st)
		}
	})
	measure("POST /clinic/referrals", func() {
		res, err := b.c.PostForm(hw.origin+"/clinic/referrals", url.Values{"csrf": {csrfOf(page)}, "form_key": {formKeyOf(page)},
			"given_name": {"Colin"}, "postal_code": {"94110"}, "topic": {"alcohol"}, "language": {"en"}})
		if err != nil || res.StatusCode != http.StatusSeeOther {
			t.Fatalf("submit: %v %v", res, err)
		}
		res.Body.Close()
	})
	open := measure("CDS call, warm (open referral: no card)", card(ehrtest.Patient, all, 0))

	// A launch inside a frame of the EHR's page, the clinic not cached:
	// its frame origins come with the iss's lookup, not from the clinic.
	if st, body := hw.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/smart-app", map[string]any{
		"iss": hw.ehr.FHIR, "client_id": hw.ehr.ClientID, "frame_origins": []string{hw.ehr.Issuer},
	}); st != http.StatusOK {
		t.Fatalf("register the frame origin: %d %s", st, body)
	}
	hw.App.ForgetClinic("lakeside")
	framedBegin := measure("GET /launch in a frame, clinic not cached", func() {
		req, err := http.NewRequest(http.MethodGet, hw.ehr.LaunchURL(hw.origin+"/launch", ehrtest.Launch), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Sec-Fetch-Dest", "iframe")
		res, err := newBrowser(t).c.Do(req)
		if err != nil || res.StatusCode != http.StatusFound {
			t.Fatalf("GET /launch in a frame: %v %v", res, err)
		}
		res.Body.Close()
	})

	var report strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&report, "\n  %-42s %2d calls (%s), %v", s.name, s.n, s.calls, s.took.Round(100*time.Microsecond))
	}
	t.Logf("DynamoDB calls and time per step of the EHR's routes:%s\n  warm CDS calls with a card: median %v, slowest %v of %d",
		report.String(), warmTimes[len(warmTimes)/2].Round(100*time.Microsecond), warmTimes[len(warmTimes)-1].Round(100*time.Microsecond), len(warmTimes))

	for _, c := range []struct {
		s    step
		want string
	}{
		{warm, "PutItem 1, Query 1"},
		{quiet, "PutItem 1"},
		{open, "PutItem 1, Query 1"},
		{begin, "GetItem 1, PutItem 1"},
		{finish, "DeleteItem 1, PutItem 1"},
		{framedBegin, "GetItem 1, PutItem 1"},
	} {
		if c.s.calls != c.want {
			t.Errorf("%s: %s, want %s", c.s.name, c.s.calls, c.want)
		}
	}
	if cold.n > warm.n+1 {
		t.Errorf("the clinic not cached: %s, want at most one read more than a warm call (%s)", cold.calls, warm.calls)
	}
	if form.calls != "GetItem 1" {
		t.Errorf("the filled form: %s, want the session's GetItem alone", form.calls)
	}
}

// BenchmarkCDSHooksService is one CDS Hooks call warm, through the whole
// HTTP stack and the embedded DynamoDB: the EHR's RS384 JWT verified
// against the clinic's registered keys and its jti recorded (a conditional
// PutItem), the request decoded and checked, the Conditions mapped, the
// open-referral Query, the card encoded. "prefetched" takes the Conditions
// from the request; "read" fetches them from the test EHR's FHIR API (the
// oidc-provider process, on loopback) with the hook's fhirAuthorization.
// Each round has a stack of its own: the embedded server's Query scans its
// whole table (DynamoDB's does not), and every call leaves a jti item, so a
// shared table would make later rounds slower for the emulator's sake.
func BenchmarkCDSHooksService(b *testing.B) {
	all := []string{ehrtest.AlcoholUse, ehrtest.FoodInsecurity, ehrtest.Asthma, ehrtest.DepressionResolve}
	for _, name := range []string{"prefetched", "read"} {
		b.Run(name, func(b *testing.B) {
			hw := newHookWorld(b)
			body := hw.patientView(b, ehrtest.Patient, all)
			if name == "read" {
				token, err := hw.ehr.AccessToken(context.Background(), ehrtest.Launch)
				if err != nil {
					b.Fatal(err)
				}
				body = hw.request(b, hookCall{patient: ehrtest.Patient, token: token})
			}
			tokens := make([]string, b.N+1)
			for i := range tokens {
				tokens[i] = hw.jwt(b, "rsa-1", nil)
			}
			h := http.Header{"Content-Type": {"application/json"}}
			call := func(tok string) {
				h.Set("Authorization", "Bearer "+tok)
				if st, _, out := hw.Do(http.MethodPost, "/cds-services/handoff-peer-support", body, h); st != http.StatusOK || !strings.Contains(string(out), `"smart"`) {
					b.Fatalf("%d %s", st, out)
				}
			}
			call(tokens[b.N]) // warm: the clinic and its keys cached
			hw.DB.Counter.Reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				call(tokens[i])
			}
			b.StopTimer()
			calls, _ := hw.DB.Counter.Totals()
			b.ReportMetric(float64(calls)/float64(b.N), "ddb-calls/op")
		})
	}
}
