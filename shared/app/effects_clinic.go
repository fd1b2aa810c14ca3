package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/webhook"
)

// callbackWindow is how long a status webhook is retried before handoff gives
// up on it (the contract promises at least 72 hours).
const callbackWindow = 73 * time.Hour

// clinicianEmailed lists the transitions a clinician is emailed about.
var clinicianEmailed = map[referral.Status]bool{
	referral.Accepted: true, referral.Connected: true, referral.NotConnected: true, referral.Unmatched: true,
	referral.Declined: true, referral.Expired: true, referral.Revoked: true, referral.Unreachable: true,
}

// errLater asks the dispatcher to try an event again at a given time.
type errLater struct {
	at  time.Time
	why string
}

func (e *errLater) Error() string { return "retry later: " + e.why }

// Later is the error an effect returns to be tried again at a given time
// (a Retry-After, an earlier event still pending), saying why.
func Later(at time.Time, why string) error { return &errLater{at: at, why: why} }

// RetryAt reports when a failed event asked to be tried again, if it did.
func RetryAt(err error) (time.Time, bool) {
	var l *errLater
	if errors.As(err, &l) {
		return l.at, true
	}
	return time.Time{}, false
}

// StatusWebhook is the body of a status webhook to a clinic.
type StatusWebhook struct {
	Type string            `json:"type"`
	Data StatusWebhookData `json:"data"`
}

// StatusWebhookData is a status change, with no patient data.
type StatusWebhookData struct {
	ID         string          `json:"id"`
	ExternalID string          `json:"external_id,omitempty"`
	Status     referral.Status `json:"status"`
	At         time.Time       `json:"at"`
}

// onStatusChanged emails the clinician on the transitions that matter (when
// the clinic has clinician emails) and POSTs the signed status webhook to the
// clinic's callback URL, in order per referral, retrying with backoff for at
// least 72 hours.
func (a *App) onStatusChanged(ctx context.Context, ev referral.Event) error {
	rec, err := a.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return err
	}
	r := rec.Referral
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	if clinicianEmailed[ev.Status] && r.Clinician.Email != "" && clinic.EmailsClinician() {
		err := a.SendOnce(ctx, ev, "clinician-email", func() (mail.Message, error) {
			m, err := pages.ClinicianStatusEmail("en", r.Clinician.Name, clinic.Name, r.ExternalID, r.ID, ev.Status, ev.At)
			return message(r.Clinician.Email, m), err
		})
		if err != nil {
			return err
		}
	}
	if clinic.CallbackURL != "" && !clinic.CallbackDisabled && clinic.CallbackSecret != "" {
		if err := a.deliverCallback(ctx, rec, clinic, ev); err != nil {
			return err
		}
	}
	if err := a.notifySubscriptions(ctx, rec, ev); err != nil {
		return err
	}
	for _, h := range a.statusHooks {
		if err := h(ctx, rec, ev); err != nil {
			return err
		}
	}
	if err := a.countLegacyStatus(ctx, r, ev); err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}

func (a *App) deliverCallback(ctx context.Context, rec *dynamo.Record, clinic dynamo.Clinic, ev referral.Event) error {
	key := ev.ID + "#callback"
	// In order per referral: an earlier status webhook still pending goes first.
	for _, e := range rec.Events {
		if e.Type == referral.StatusChanged && e.ID < ev.ID && rec.Pending[e.ID] {
			return &errLater{at: a.now().Add(time.Second), why: "an earlier status webhook is pending"}
		}
	}
	if run, err := a.Claim(ctx, key); !run {
		return err
	}
	status, retryAfter, err := a.postCallback(ctx, clinic, ev, rec.Referral.ExternalID)
	switch {
	case err == nil && status/100 == 2:
		a.Log.InfoContext(ctx, "status webhook delivered", "clinic", clinic.ID, "referral", ev.Partition, "event", ev.ID)
		return a.Record(ctx, key, strconv.Itoa(status))
	case err == nil && status == http.StatusGone:
		a.Log.WarnContext(ctx, "status webhook endpoint gone: disabled", "clinic", clinic.ID)
		if err := a.Clinics.DisableCallback(ctx, clinic.ID); err != nil {
			_ = a.Referrals.Release(ctx, key)
			return err
		}
		a.ForgetClinic(clinic.ID)
		return a.Record(ctx, key, "410")
	}
	_ = a.Referrals.Release(ctx, key)
	a.Metrics.Emit("WebhookFailures", 1, metrics.Count)
	if a.now().Sub(ev.At) > callbackWindow {
		a.Log.WarnContext(ctx, "status webhook abandoned after the retry window", "clinic", clinic.ID, "event", ev.ID)
		return a.Record(ctx, key, "abandoned")
	}
	why := "status " + strconv.Itoa(status)
	if err != nil {
		why = "unreachable"
	}
	at := a.now().Add(Backoff(ev.Attempt + 1))
	if retryAfter > 0 {
		at = a.now().Add(retryAfter)
	}
	a.Log.InfoContext(ctx, "status webhook will be retried", "clinic", clinic.ID, "event", ev.ID, "attempt", ev.Attempt+1, "why", why)
	return &errLater{at: at, why: why}
}

// postCallback sends one signed status webhook and returns the answer's status
// and its Retry-After.
func (a *App) postCallback(ctx context.Context, clinic dynamo.Clinic, ev referral.Event, externalID string) (int, time.Duration, error) {
	body, err := json.Marshal(StatusWebhook{Type: "referral.status_changed", Data: StatusWebhookData{
		ID: ev.Partition, ExternalID: externalID, Status: ev.Status, At: ev.At,
	}})
	if err != nil {
		return 0, 0, err
	}
	secret, err := webhook.ParseSecret(clinic.CallbackSecret)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, clinic.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	for k, v := range webhook.SignHeaders(secret, ev.ID, a.now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "handoff-status-webhook/1")
	resp, err := a.callbackClient().Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), a.now()), nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped at a day.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, 24*time.Hour)
}

// callbackClient is an HTTP client that refuses to connect to private,
// link-local and (unless the stack itself is local) loopback addresses; the
// check runs on the address actually dialled, so DNS cannot trick it.
func (a *App) callbackClient() *http.Client {
	if a.HTTP != nil {
		return a.HTTP
	}
	allowLoopback := a.Config.LoopbackPublicURL()
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		return checkCallbackAddr(ap.Addr(), allowLoopback)
	}}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkCallbackAddr refuses addresses a status webhook must not reach.
func checkCallbackAddr(ip netip.Addr, allowLoopback bool) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		if allowLoopback {
			return nil
		}
	case ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsMulticast(),
		ip.IsUnspecified(), ip.IsInterfaceLocalMulticast(), isCGNAT(ip):
	default:
		return nil
	}
	return fmt.Errorf("callback address %s is not allowed", ip)
}

func isCGNAT(ip netip.Addr) bool {
	return netip.MustParsePrefix("100.64.0.0/10").Contains(ip)
}
