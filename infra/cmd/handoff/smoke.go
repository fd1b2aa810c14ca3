package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/handoff-health/handoff/infra/local"
	"github.com/handoff-health/handoff/shared/webhook"
)

// smoke walks one synthetic referral through a deployed stack, over the API
// alone, and reports each step (see docs/DEPLOY.md, "The smoke test").
func smoke(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	base := fs.String("url", "", "the stack's base URL: the ApiUrl output, or PublicUrl (https://…)")
	token := fs.String("token", os.Getenv("HANDOFF_ADMIN_TOKEN"), "the admin token (or HANDOFF_ADMIN_TOKEN)")
	wait := fs.Duration("wait", 3*time.Minute, "how long to wait for each step that happens later (the consent email, the bounce)")
	poll := fs.Duration("poll", 2*time.Second, "how often to look again while waiting")
	keep := fs.Bool("keep", false, "leave the smoke clinic and its referrals in place, to look at them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *token == "" || fs.NArg() != 0 {
		return errors.New("usage: handoff smoke -url https://… -token ADMIN_TOKEN [-wait 3m] [-keep]")
	}
	s := &smokeRun{base: strings.TrimRight(*base, "/"), token: *token, wait: *wait, poll: *poll, out: stdout}
	return s.run(context.Background(), *keep)
}

// smokeRun is one smoke test.
type smokeRun struct {
	base, token string
	wait, poll  time.Duration
	out         io.Writer

	n      int
	failed []string
	start  time.Time

	clinic struct {
		ID            string `json:"id"`
		WebhookSecret string `json:"webhook_secret"`
		APIKey        string `json:"api_key"`
	}
	deliver struct {
		id   string
		body []byte
	}
	referrals [2]string // the simulator's success and bounce patients
}

func (s *smokeRun) run(ctx context.Context, keep bool) error {
	s.start = time.Now()
	fmt.Fprintf(s.out, "handoff smoke test of %s\n", s.base)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	s.clinic.ID = "smoke-" + time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(suffix)

	ok := s.step("the stack answers its health check", s.health) &&
		s.step("create the smoke clinic "+s.clinic.ID, s.createClinic) &&
		s.step("refer a synthetic patient ("+local.SimulatorSuccess+")", s.referSuccess) &&
		s.step("the same delivery again is the same referral, not a second one", s.replay) &&
		s.step("the consent email went out through SES (the clinic's outcomes count it)", s.consentSent) &&
		s.step("refer a patient whose address bounces ("+local.SimulatorBounce+")", s.referBounce) &&
		s.step("the bounce came back through SNS to sesevents: a failed email", s.bounced) &&
		s.step("cancel the first referral", s.cancel) &&
		s.step("the clinic's outcomes count both referrals and the failed email", s.outcomes)
	if keep {
		fmt.Fprintf(s.out, "kept: clinic %s (api key %s…), referrals %s\n", s.clinic.ID, s.clinic.APIKey[:min(8, len(s.clinic.APIKey))], strings.Join(s.referrals[:], ", "))
	} else if s.clinic.APIKey != "" {
		if !ok && s.referrals[0] != "" {
			_ = s.call(ctx, http.MethodDelete, "/v1/clinics/"+s.clinic.ID+"/referrals/"+s.referrals[0], nil, s.apiKey(), nil)
		}
		s.step("remove the smoke clinic; its api key is refused", s.removeClinic)
	}
	took := time.Since(s.start).Round(100 * time.Millisecond)
	if len(s.failed) > 0 {
		fmt.Fprintf(s.out, "smoke test FAILED: %d of %d steps in %s (%s)\n", len(s.failed), s.n, took, strings.Join(s.failed, "; "))
		return fmt.Errorf("%d step(s) failed", len(s.failed))
	}
	fmt.Fprintf(s.out, "smoke test passed: %d steps in %s\n", s.n, took)
	return nil
}

// step runs one step and reports it; it returns whether it passed.
func (s *smokeRun) step(name string, f func() (string, error)) bool {
	s.n++
	start := time.Now()
	detail, err := f()
	took := time.Since(start).Seconds()
	if err != nil {
		fmt.Fprintf(s.out, "%3d  %-72s FAIL %5.1fs  %v\n", s.n, name, took, err)
		s.failed = append(s.failed, fmt.Sprintf("step %d: %v", s.n, err))
		return false
	}
	fmt.Fprintf(s.out, "%3d  %-72s ok   %5.1fs  %s\n", s.n, name, took, detail)
	return true
}

func (s *smokeRun) admin() http.Header { return http.Header{"Authorization": {"Bearer " + s.token}} }

func (s *smokeRun) apiKey() http.Header {
	return http.Header{"Authorization": {"Bearer " + s.clinic.APIKey}}
}

// call sends one request to the stack, with the request's headers hdr and
// at most 30 seconds for the answer; into, when not nil, receives the JSON
// answer. An answer outside 2xx is an *httpError (see exchange).
func (s *smokeRun) call(ctx context.Context, method, path string, body []byte, hdr http.Header, into any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return exchange(req, into)
}

// eventually calls f every poll until it reports done, for at most wait.
func (s *smokeRun) eventually(f func() (bool, string, error)) (string, error) {
	deadline := time.Now().Add(s.wait)
	for {
		done, detail, err := f()
		if err != nil || done {
			return detail, err
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("not within %s: %s", s.wait, detail)
		}
		time.Sleep(s.poll)
	}
}

func (s *smokeRun) health() (string, error) {
	var v struct{ Status string }
	if err := s.call(context.Background(), http.MethodGet, "/healthz", nil, nil, &v); err != nil {
		return "", err
	}
	return "GET /healthz: " + v.Status, nil
}

func (s *smokeRun) createClinic() (string, error) {
	body, _ := json.Marshal(map[string]any{
		"id": s.clinic.ID, "name": "handoff smoke test", "contact_email": local.SimulatorSuccess,
		"sms": false, "clinician_emails": false,
	})
	if err := s.call(context.Background(), http.MethodPost, "/v1/admin/clinics", body, s.admin(), &s.clinic); err != nil {
		return "", err
	}
	return "201, webhook secret and api key received", nil
}

// referralBody is a synthetic referral of a patient reachable only by email
// at addr: no phone, so nothing is texted.
func referralBody(addr, external string) []byte {
	b, _ := json.Marshal(map[string]any{
		"external_id": external,
		"patient":     map[string]any{"given_name": "Smoke", "email": addr, "preferred_language": "en", "postal_code": "94110"},
		"needs":       []string{"alcohol"},
		"clinician":   map[string]any{"name": "handoff smoke test", "email": local.SimulatorSuccess},
	})
	return b
}

// refer sends a signed referral with webhook id id.
func (s *smokeRun) refer(id string, body []byte) (string, string, error) {
	key, err := webhook.ParseSecret(s.clinic.WebhookSecret)
	if err != nil {
		return "", "", err
	}
	hdr := webhook.SignHeaders(key, id, time.Now(), body)
	var v struct{ ID, Status string }
	if err := s.call(context.Background(), http.MethodPost, "/v1/clinics/"+s.clinic.ID+"/referrals", body, hdr, &v); err != nil {
		return "", "", err
	}
	return v.ID, v.Status, nil
}

func (s *smokeRun) referSuccess() (string, error) {
	s.deliver.id = "msg_smoke_" + strings.ToLower(rand.Text())
	s.deliver.body = referralBody(local.SimulatorSuccess, "smoke-success")
	id, st, err := s.refer(s.deliver.id, s.deliver.body)
	if err != nil {
		return "", err
	}
	s.referrals[0] = id
	if st != "awaiting-consent" {
		return "", fmt.Errorf("referral %s is %s, want awaiting-consent", id, st)
	}
	return "202, referral " + id + " awaiting-consent", nil
}

func (s *smokeRun) replay() (string, error) {
	id, _, err := s.refer(s.deliver.id, s.deliver.body)
	if err != nil {
		return "", err
	}
	if id != s.referrals[0] {
		return "", fmt.Errorf("the same webhook-id made referral %s, not %s", id, s.referrals[0])
	}
	return "202, the same id", nil
}

// outcome is the part of the clinic's outcomes the smoke test reads.
type outcome struct {
	Funnel   map[string]int64 `json:"funnel"`
	Statuses map[string]int64 `json:"statuses"`
	Channels map[string]struct {
		Sent   int64 `json:"sent"`
		Failed int64 `json:"failed"`
	} `json:"channels"`
}

func (s *smokeRun) outcomesNow() (outcome, error) {
	today := time.Now().UTC()
	q := url.Values{"from": {today.AddDate(0, 0, -1).Format("2006-01-02")}, "to": {today.Format("2006-01-02")}}
	var o outcome
	err := s.call(context.Background(), http.MethodGet, "/v1/clinics/"+s.clinic.ID+"/outcomes?"+q.Encode(), nil, s.apiKey(), &o)
	return o, err
}

func (s *smokeRun) consentSent() (string, error) {
	detail, err := s.eventually(func() (bool, string, error) {
		o, err := s.outcomesNow()
		if err != nil {
			return false, "", err
		}
		sent := o.Channels["email"].Sent
		return sent >= 1 && o.Funnel["contacted"] >= 1, fmt.Sprintf("contacted %d, emails sent %d", o.Funnel["contacted"], sent), nil
	})
	if err != nil {
		return "", err
	}
	st, _, err := s.status(s.referrals[0])
	if err != nil {
		return "", err
	}
	return detail + "; referral " + st + matchNote(st), nil
}

// matchNote explains an unmatched smoke referral.
func matchNote(status string) string {
	if status == "unmatched" {
		return " (no group for alcohol near 94110: an empty directory; the email says so)"
	}
	return ""
}

func (s *smokeRun) referBounce() (string, error) {
	id, st, err := s.refer("msg_smoke_"+strings.ToLower(rand.Text()), referralBody(local.SimulatorBounce, "smoke-bounce"))
	if err != nil {
		return "", err
	}
	s.referrals[1] = id
	return "202, referral " + id + " " + st, nil
}

// status reads a referral's status and timeline.
func (s *smokeRun) status(id string) (string, []string, error) {
	var v struct {
		Status   string
		Timeline []struct{ Status string }
	}
	if err := s.call(context.Background(), http.MethodGet, "/v1/clinics/"+s.clinic.ID+"/referrals/"+id, nil, s.apiKey(), &v); err != nil {
		return "", nil, err
	}
	var tl []string
	for _, e := range v.Timeline {
		tl = append(tl, e.Status)
	}
	return v.Status, tl, nil
}

// bounced waits for the bounce: the clinic's outcomes count the failed
// email, and a referral that awaited the patient's consent becomes
// unreachable (it had no other channel). An unmatched one, of an empty
// directory, was closed before the bounce and stays as it is.
func (s *smokeRun) bounced() (string, error) {
	return s.eventually(func() (bool, string, error) {
		o, err := s.outcomesNow()
		if err != nil {
			return false, "", err
		}
		failed := o.Channels["email"].Failed
		st, tl, err := s.status(s.referrals[1])
		if err != nil {
			return false, "", err
		}
		detail := fmt.Sprintf("emails failed %d; referral %s, timeline %s", failed, st, strings.Join(tl, " → "))
		return failed >= 1 && (st == "unreachable" || st == "unmatched"), detail + matchNote(st), nil
	})
}

func (s *smokeRun) cancel() (string, error) {
	if st, _, err := s.status(s.referrals[0]); err == nil && st == "unmatched" {
		return "closed already (unmatched): nothing to cancel", nil
	}
	var v struct{ Status string }
	if err := s.call(context.Background(), http.MethodDelete, "/v1/clinics/"+s.clinic.ID+"/referrals/"+s.referrals[0], nil, s.apiKey(), &v); err != nil {
		return "", err
	}
	if v.Status != "cancelled" {
		return "", fmt.Errorf("status %s, want cancelled", v.Status)
	}
	return "200, cancelled", nil
}

func (s *smokeRun) outcomes() (string, error) {
	return s.eventually(func() (bool, string, error) {
		o, err := s.outcomesNow()
		if err != nil {
			return false, "", err
		}
		email := o.Channels["email"]
		detail := fmt.Sprintf("received %d, cancelled %d, unreachable %d, unmatched %d, emails sent %d, failed %d",
			o.Funnel["received"], o.Statuses["cancelled"], o.Statuses["unreachable"], o.Statuses["unmatched"], email.Sent, email.Failed)
		closed := o.Statuses["cancelled"] + o.Statuses["unreachable"] + o.Statuses["unmatched"]
		return o.Funnel["received"] == 2 && closed == 2 && email.Sent >= 2 && email.Failed >= 1, detail, nil
	})
}

func (s *smokeRun) removeClinic() (string, error) {
	var v struct {
		DeletedAfter time.Time `json:"deleted_after"`
	}
	if err := s.call(context.Background(), http.MethodDelete, "/v1/admin/clinics/"+s.clinic.ID, nil, s.admin(), &v); err != nil {
		return "", err
	}
	// Other functions trust a clinic they read for up to a minute.
	ref := s.referrals[0]
	if ref == "" {
		ref = "01J00000000000000000000000" // any referral id: the key is checked first
	}
	return s.eventually(func() (bool, string, error) {
		_, _, err := s.status(ref)
		var he *httpError
		if errors.As(err, &he) && he.status == http.StatusUnauthorized {
			return true, "200; then 401 for its api key; the rest is deleted after " + v.DeletedAfter.Format("2006-01-02"), nil
		}
		return false, "its api key is still accepted", nil
	})
}
