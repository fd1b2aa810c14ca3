package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/handoff-health/handoff/shared/webhook"
)

func TestParseSteps(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []int
		err  bool
	}{
		{"default", "50,100,200,300,500,750,1000", []int{50, 100, 200, 300, 500, 750, 1000}, false},
		{"spaces and a trailing comma", " 10, 20 ,", []int{10, 20}, false},
		{"one", "5", []int{5}, false},
		{"empty", "", nil, true},
		{"not a number", "10,lots", nil, true},
		{"zero", "0,10", nil, true},
		{"too high", "20000", nil, true},
		{"not increasing", "100,50", nil, true},
		{"repeated", "100,100", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSteps(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("parseSteps(%q) error %v, want error %v", tc.in, err, tc.err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("parseSteps(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func msd(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = msd(i + 1) // 1..100 ms
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"none", nil, 50, 0},
		{"one value, any percentile", []time.Duration{msd(7)}, 99, msd(7)},
		{"median of 1..100", hundred, 50, msd(50)},
		{"p90 of 1..100", hundred, 90, msd(90)},
		{"p99 of 1..100", hundred, 99, msd(99)},
		{"p100 is the maximum", hundred, 100, msd(100)},
		{"nearest rank rounds up", []time.Duration{msd(1), msd(2), msd(3)}, 50, msd(2)},
		{"p99 of ten is the largest", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"a tiny percentile is the smallest", []time.Duration{msd(3), msd(4)}, 0.1, msd(3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(tc.sorted), tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeAndSaturation(t *testing.T) {
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	ok := func(n int, lat time.Duration) []result {
		rs := make([]result, n)
		for i := range rs {
			rs[i] = result{status: 202, latency: lat, end: start.Add(time.Duration(i) * time.Second / time.Duration(n))}
		}
		return rs
	}
	tests := []struct {
		name       string
		rate       int
		results    []result
		accepted   float64
		saturated  bool
		why        string
		errorsText string
	}{
		{"all accepted, fast", 100, ok(100, msd(5)), 100, false, "", "none"},
		{"slow p99", 100, ok(100, msd(80)), 100, true, "p99 80.0 ms > 50.0 ms", "none"},
		{"errors", 100, append(ok(99, msd(5)), result{status: 503, latency: msd(2), end: start}), 99, true, "1 errors", "503×1"},
		{"no answers", 100, append(ok(98, msd(5)), result{failed: true, end: start}, result{failed: true, end: start}), 98, true, "2 errors", "no answer×2"},
		{"too few accepted", 100, ok(90, msd(5)), 90, true, "accepted 90/s < 95% of 100/s", "none"},
		{"answers after the step stretch the wall time", 100,
			append(ok(99, msd(5)), result{status: 202, latency: msd(40), end: start.Add(2 * time.Second)}), 50, true, "accepted 50/s", "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := summarize(tc.rate, time.Second, start, tc.results)
			r.evaluate(defaultLimits)
			if diff := r.AcceptedPS - tc.accepted; diff > 0.01 || diff < -0.01 {
				t.Errorf("accepted/s %.2f, want %.2f", r.AcceptedPS, tc.accepted)
			}
			if r.Saturated != tc.saturated {
				t.Errorf("saturated %v (%v), want %v", r.Saturated, r.Why, tc.saturated)
			}
			if tc.why != "" && !strings.Contains(strings.Join(r.Why, "; "), tc.why) {
				t.Errorf("why %q, want it to say %q", r.Why, tc.why)
			}
			if got := r.errorText(); got != tc.errorsText {
				t.Errorf("errors %q, want %q", got, tc.errorsText)
			}
		})
	}
}

func TestSaturationPointInTable(t *testing.T) {
	reps := []stepReport{{Rate: 50}, {Rate: 100}, {Rate: 200, Saturated: true, Why: []string{"p99 60.0 ms > 50.0 ms"}}, {Rate: 300, Saturated: true}}
	if got := saturationPoint(reps); got != 2 {
		t.Fatalf("saturation point %d, want 2", got)
	}
	var b bytes.Buffer
	writeTable(&b, reps, defaultLimits)
	if !strings.Contains(b.String(), "saturation point: 200/s") || !strings.Contains(b.String(), "within the limits: 100/s") {
		t.Errorf("table does not name the saturation point:\n%s", b.String())
	}
	b.Reset()
	writeTable(&b, reps[:2], defaultLimits)
	if !strings.Contains(b.String(), "not saturated up to 100/s") {
		t.Errorf("table of unsaturated steps:\n%s", b.String())
	}
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:3000", true},
		{"http://127.3.4.5:3000/", true},
		{"http://localhost:3000", true},
		{"http://[::1]:3000", true},
		{"http://10.0.0.5:3000", false},
		{"http://192.168.1.10", false},
		{"http://172.16.0.1", false},
		{"http://8.8.8.8", false},
		{"http://example.org", false},
		{"http://0.0.0.0:3000", false},
		{"http://user:pw@127.0.0.1:3000", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:3000", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			err := checkLoopback(tc.url)
			if (err == nil) != tc.ok {
				t.Errorf("checkLoopback(%q) = %v, want ok %v", tc.url, err, tc.ok)
			}
		})
	}
	t.Run("flags refuse a remote target", func(t *testing.T) {
		_, err := parseOptions([]string{"-url", "http://10.1.2.3:3000", "-secret", "whsec_x"}, io.Discard)
		if !errors.Is(err, errNotLoopback) {
			t.Errorf("parseOptions with a remote -url: %v, want errNotLoopback", err)
		}
	})
	t.Run("the client refuses to dial off loopback", func(t *testing.T) {
		c := loopbackClient(time.Second, 1)
		// A name that resolves nowhere near loopback is refused at dial time,
		// before any packet leaves; 192.0.2.1 is TEST-NET-1.
		_, err := c.Get("http://192.0.2.1:9/")
		if err == nil || !errors.Is(err, errNotLoopback) {
			t.Errorf("dial 192.0.2.1: %v, want errNotLoopback", err)
		}
	})
}

// TestTargeterSignsEachReferral: every request is a new, correctly signed
// delivery (its own webhook-id and patient), which a loopback server accepts.
func TestTargeterSignsEachReferral(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	var seen atomic.Int64
	ids := make(chan string, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v := webhook.Verifier{Now: time.Now, Tolerance: time.Minute}
		if err := v.Verify(body, r.Header, key); err != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		seen.Add(1)
		ids <- r.Header.Get("webhook-id") + " " + string(body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	var seq atomic.Uint64
	tr := referralTargeter(srv.URL, "demo-clinic", "test", key, &seq, time.Now)
	client := loopbackClient(5*time.Second, 4)
	rep := attackStep(t.Context(), client, tr, 10, 500*time.Millisecond, 4)
	if rep.Accepted == 0 || rep.Accepted != rep.Sent || int64(rep.Accepted) != seen.Load() {
		t.Fatalf("sent %d, accepted %d, server saw %d valid: %v", rep.Sent, rep.Accepted, seen.Load(), rep.Errors)
	}
	close(ids)
	distinct := map[string]bool{}
	for s := range ids {
		if distinct[s] {
			t.Errorf("a delivery was sent twice: %s", s)
		}
		distinct[s] = true
		if !strings.Contains(s, `"given_name":"Load"`) || !strings.Contains(s, "@patient.example") {
			t.Errorf("not a native referral: %s", s)
		}
	}
	// The targeter itself carries the clinic's path.
	var target vegeta.Target
	if err := tr(&target); err != nil || !strings.HasSuffix(target.URL, "/v1/clinics/demo-clinic/referrals") {
		t.Errorf("target %q (%v)", target.URL, err)
	}
}
