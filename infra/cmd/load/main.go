// Command load measures how many signed referrals a running handoff stack
// accepts: it sends native referrals (Standard Webhooks signatures, a new
// webhook-id and patient email each) at a fixed rate per step, stepping the
// rate up, and prints per step the rate asked, the referrals accepted per
// second, latency percentiles and the errors by status, and the saturation
// point: the first step whose p99 is over 50 ms, that had errors, or that
// achieved less than 95% of the rate asked.
//
//	load [-url http://127.0.0.1:3000] [-clinic demo-clinic -secret whsec_…]
//	     [-admin-token TOKEN] [-steps 50,100,200] [-duration 10s]
//	     [-stack-pid PID [-settle 10s]]
//
// With -admin-token it creates a clinic of its own through the admin API;
// otherwise it signs for -clinic with -secret. It sends only to loopback
// addresses (127.0.0.0/8, ::1, localhost) and refuses any other target, and it
// stops by itself: after the last step, or after -max-saturated saturated
// steps in a row. `make load` starts a stack, runs it and stops the stack;
// with -stack-pid (which `make load` passes) it then prints the stack's
// memory: each process's peak (VmHWM) and current resident set.
//
// The load is open-loop: requests leave at the rate asked whether or not
// earlier ones were answered (github.com/tsenart/vegeta/v12 paces them), so a
// slow stack shows as latency and errors, not as a lower sending rate.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/handoff-health/handoff/infra/procmem"
	"github.com/handoff-health/handoff/shared/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	base         string
	clinic       string
	secret       string
	adminToken   string
	steps        []int
	duration     time.Duration
	pause        time.Duration
	wait         time.Duration
	timeout      time.Duration
	maxWorkers   uint64
	maxSaturated int
	limits       limits
	stackPID     int           // report this process tree's memory at the end
	settle       time.Duration // wait before reading it, for the stack to finish its work
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{limits: defaultLimits}
	fs.StringVar(&o.base, "url", "http://127.0.0.1:3000", "the stack's base URL (loopback only)")
	fs.StringVar(&o.clinic, "clinic", "demo-clinic", "the clinic to sign for (with -secret)")
	fs.StringVar(&o.secret, "secret", os.Getenv("HANDOFF_WEBHOOK_SECRET"), "the clinic's webhook secret (whsec_…; or HANDOFF_WEBHOOK_SECRET)")
	fs.StringVar(&o.adminToken, "admin-token", os.Getenv("HANDOFF_ADMIN_TOKEN"), "create a clinic of its own with this admin token (or HANDOFF_ADMIN_TOKEN) instead of -clinic/-secret")
	steps := fs.String("steps", "50,100,200,300,500,750,1000", "the rates to send, referrals per second, one step each")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each step sends")
	fs.DurationVar(&o.pause, "pause", 3*time.Second, "the quiet time between steps")
	fs.DurationVar(&o.wait, "wait", 0, "wait this long for GET /healthz to answer 200 before starting")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "a request's timeout (counted as an error)")
	fs.Uint64Var(&o.maxWorkers, "max-workers", 512, "the most requests in flight at once")
	fs.IntVar(&o.maxSaturated, "max-saturated", 2, "stop after this many saturated steps in a row (0: run every step)")
	fs.DurationVar(&o.limits.p99, "p99", defaultLimits.p99, "saturation: a p99 latency over this")
	fs.IntVar(&o.stackPID, "stack-pid", 0, "at the end, print the peak and current memory of this process and its children (the stack; Linux)")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "with -stack-pid, wait this long after the last step before reading the memory")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var err error
	if o.steps, err = parseSteps(*steps); err != nil {
		return o, fmt.Errorf("-steps: %w", err)
	}
	if o.duration <= 0 || o.duration > 5*time.Minute {
		return o, errors.New("-duration must be more than 0 and at most 5m")
	}
	if err := checkLoopback(o.base); err != nil {
		return o, fmt.Errorf("-url: %w", err)
	}
	o.base = strings.TrimRight(o.base, "/")
	if o.adminToken == "" && o.secret == "" {
		return o, errors.New("give -secret (the clinic's webhook secret) or -admin-token (to create a clinic)")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	client := loopbackClient(o.timeout, int(o.maxWorkers))
	if o.wait > 0 {
		if err := waitHealthy(ctx, client, o.base, o.wait); err != nil {
			return err
		}
	}
	runID := strings.ToLower(rand.Text()[:8])
	if o.adminToken != "" {
		o.clinic = "load-" + runID
		if o.secret, err = createClinic(ctx, client, o.base, o.adminToken, o.clinic); err != nil {
			return err
		}
	}
	key, err := webhook.ParseSecret(o.secret)
	if err != nil {
		return fmt.Errorf("-secret: %w", err)
	}
	fmt.Fprintf(stdout, "load: %s, clinic %s, steps %v for %s each\n", o.base, o.clinic, o.steps, o.duration)
	if la := loadAverage(); la != "" {
		fmt.Fprintf(stdout, "load average at start: %s\n", la)
	}
	var seq atomic.Uint64
	targeter := referralTargeter(o.base, o.clinic, runID, key, &seq, time.Now)
	var reports []stepReport
	saturatedRun := 0
	for i, rate := range o.steps {
		if i > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(o.pause):
			}
		}
		if ctx.Err() != nil {
			break
		}
		rep := attackStep(ctx, client, targeter, rate, o.duration, o.maxWorkers)
		rep.evaluate(o.limits)
		reports = append(reports, rep)
		fmt.Fprintln(stdout, rep.line())
		if rep.Saturated {
			saturatedRun++
		} else {
			saturatedRun = 0
		}
		if o.maxSaturated > 0 && saturatedRun >= o.maxSaturated {
			fmt.Fprintf(stdout, "stopping: %d saturated steps in a row\n", saturatedRun)
			break
		}
	}
	fmt.Fprintln(stdout)
	writeTable(stdout, reports, o.limits)
	if la := loadAverage(); la != "" {
		fmt.Fprintf(stdout, "\nload average at the end: %s\n", la)
	}
	if o.stackPID > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(o.settle):
		}
		sent := 0
		for _, r := range reports {
			sent += r.Sent
		}
		if err := writeMemory(stdout, o.stackPID, sent); err != nil {
			fmt.Fprintf(stderr, "stack memory: %v\n", err)
		}
	}
	return ctx.Err()
}

// writeMemory prints the peak and current resident memory of the stack's
// processes, and their sums, after sent referrals.
func writeMemory(w io.Writer, pid, sent int) error {
	procs, err := procmem.Tree(pid)
	if err != nil {
		return err
	}
	if len(procs) == 0 {
		return fmt.Errorf("no process %d", pid)
	}
	fmt.Fprintf(w, "\nmemory of the stack (process %d and its children) after %d referrals:\n", pid, sent)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "process\tpid\tpeak MB\tnow MB\tCPU s\n")
	var peak, now int64
	for _, p := range procs {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\n", p.Name, p.PID, float64(p.Peak)/(1<<20), float64(p.RSS)/(1<<20), p.CPU.Seconds())
		peak, now = peak+p.Peak, now+p.RSS
	}
	fmt.Fprintf(tw, "all\t\t%.1f\t%.1f\t\n", float64(peak)/(1<<20), float64(now)/(1<<20))
	return tw.Flush()
}

// attackStep sends referrals at rate for d and summarizes the answers.
func attackStep(ctx context.Context, client *http.Client, tr vegeta.Targeter, rate int, d time.Duration, maxWorkers uint64) stepReport {
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxWorkers(maxWorkers), vegeta.KeepAlive(true), vegeta.MaxBody(4096))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	start := time.Now()
	var results []result
	for r := range atk.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, fmt.Sprintf("%d/s", rate)) {
		results = append(results, result{status: int(r.Code), latency: r.Latency, failed: r.Error != "" && r.Code == 0, end: r.End()})
	}
	return summarize(rate, d, start, results)
}

// referralTargeter returns a vegeta targeter that signs a new native referral
// (its own webhook-id and patient email) for each request.
func referralTargeter(base, clinic, runID string, key []byte, seq *atomic.Uint64, now func() time.Time) vegeta.Targeter {
	u := base + "/v1/clinics/" + url.PathEscape(clinic) + "/referrals"
	return func(t *vegeta.Target) error {
		n := seq.Add(1)
		body := referralBody(fmt.Sprintf("load-%s-%d@patient.example", runID, n), fmt.Sprintf("LOAD-%s-%d", runID, n))
		id := fmt.Sprintf("msg_load_%s_%d", runID, n)
		h := webhook.SignHeaders(key, id, now(), body)
		h.Set("Content-Type", "application/json")
		t.Method, t.URL, t.Body, t.Header = http.MethodPost, u, body, h
		return nil
	}
}

// referralBody is a native referral for a patient in Chicago (60601, where the
// demo directory has groups).
func referralBody(email, externalID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"external_id": externalID,
		"patient": map[string]any{
			"given_name": "Load", "email": email, "preferred_language": "en",
			"postal_code": "60601", "country": "US",
		},
		"needs":       []string{"alcohol"},
		"preferences": map[string]any{"formats": []string{"in-person", "online"}},
		"clinician":   map[string]any{"name": "Dr. Load Test", "email": "load.clinician@clinic.example"},
	})
	return b
}

// createClinic makes a clinic through the admin API and returns its webhook secret.
func createClinic(ctx context.Context, client *http.Client, base, token, id string) (string, error) {
	body, _ := json.Marshal(map[string]string{"id": id, "name": "Load test clinic", "contact_email": "load@clinic.example"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/admin/clinics", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("create clinic %s: %w", id, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create clinic %s: %d %s", id, resp.StatusCode, bytes.TrimSpace(b))
	}
	var out struct {
		WebhookSecret string `json:"webhook_secret"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.WebhookSecret == "" {
		return "", fmt.Errorf("create clinic %s: no webhook_secret in the answer", id)
	}
	return out.WebhookSecret, nil
}

// waitHealthy polls GET /healthz until it answers 200 or d passes.
func waitHealthy(ctx context.Context, client *http.Client, base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/healthz did not answer 200 within %s", base, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// errNotLoopback refuses a target off this machine.
var errNotLoopback = errors.New("only loopback targets are allowed (127.0.0.0/8, ::1, localhost)")

// checkLoopback accepts an http URL whose host is a loopback address or
// "localhost".
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("not an absolute URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q: use http", u.Scheme)
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	if !loopbackHost(u.Hostname()) {
		return errNotLoopback
	}
	return nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackClient is an HTTP client that dials loopback addresses only (also
// after name resolution), uses no proxy and follows no redirect.
func loopbackClient(timeout time.Duration, conns int) *http.Client {
	d := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("dial %s: %w", address, errNotLoopback)
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// loadAverage is /proc/loadavg's three averages, or "" where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
