package app

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/referral"
)

// The outcome counts: each write that changes a referral adds, in its own
// transaction, the counters of what it changed (a tally), per day and
// scope, and emits the CloudWatch metrics that count the same once it is
// written. shared/outcomes reads them back into reports.

// stageOf is the funnel stage a status marks, if any (the stages, in order,
// are shared/outcomes' FunnelStages; "contacted" and "viewed" are counted
// where they happen).
var stageOf = map[referral.Status]string{
	referral.AwaitingConsent: "received", referral.Consented: "consented", referral.Routed: "routed",
	referral.Accepted: "accepted", referral.Connected: "connected", referral.Attended: "attended",
}

// HourBuckets are the upper bounds, in hours, of the duration histograms'
// buckets, the counters <prefix>_le_<hours>; a duration past the last
// counts in the <prefix>_gt bucket. Read only.
var HourBuckets = []int{1, 2, 4, 8, 12, 24, 48, 72, 120, 168, 336, 720, 2160}

// bucket names the histogram bucket of d for the histogram prefix.
func bucket(prefix string, d time.Duration) string {
	for _, b := range HourBuckets {
		if d <= time.Duration(b)*time.Hour {
			return prefix + "_le_" + strconv.Itoa(b)
		}
	}
	return prefix + "_gt"
}

// referralScopes are the counter scopes a referral's stages count in: its
// clinic, its clinic and each topic, and its clinic and the channel the
// consent link went by first. (The operator's totals are sums over clinics,
// read with the same Query: one counter item fewer per write.)
func referralScopes(r *referral.Referral) []string {
	out := []string{"C#" + r.ClinicID}
	if r.FirstChannel != "" {
		out = append(out, "C#"+r.ClinicID+"#H#"+r.FirstChannel)
	}
	for _, t := range r.Topics {
		out = append(out, "C#"+r.ClinicID+"#T#"+t)
	}
	return out
}

// tally is what one write counts: the outcome counters it adds, written
// in its transaction, and the CloudWatch metrics that count the same,
// emitted once the write is done.
type tally struct {
	counts  *dynamo.Counts
	metrics []point
}

// point is one CloudWatch metric's value.
type point struct {
	name, unit string
	value      float64
	dims       []string // dimension names and values
}

func (a *App) newTally() *tally { return &tally{counts: dynamo.NewCounts(a.now())} }

// referral adds counters to each of r's scopes.
func (t *tally) referral(r *referral.Referral, counters map[string]int64) {
	for _, s := range referralScopes(r) {
		for c, n := range counters {
			t.counts.Add(s, c, n)
		}
	}
}

// metric adds a count of 1 to the CloudWatch metric name, with dimension
// pairs.
func (t *tally) metric(name string, dims ...string) {
	t.metrics = append(t.metrics, point{name: name, unit: metrics.Count, value: 1, dims: dims})
}

// value adds a value of the CloudWatch metric name.
func (t *tally) value(name string, v float64, unit string) {
	t.metrics = append(t.metrics, point{name: name, unit: unit, value: v})
}

// emit emits the tally's metrics: call it once its counts are written.
func (t *tally) emit(m *metrics.Emitter) {
	for _, p := range t.metrics {
		m.Emit(p.name, p.value, p.unit, p.dims...)
	}
}

// statusMetrics are the CloudWatch metrics of the statuses that have one.
var statusMetrics = map[referral.Status]string{
	referral.Consented: "Consents", referral.Connected: "Connections", referral.Unreachable: "Unreachable",
	referral.Attended: "Attendances",
}

// countedStatus marks a status-changed event whose counts ride in the
// transaction that writes it, so that its effect does not count it again.
const countedStatus = "counted"

// arrival reports whether ev is the referral's arrival at ev.Status: a
// status-changed event not marked counted before its change is applied (a
// flag on the status the referral has is marked so, see channelFailed). An
// arrival is counted once, and an arrival at a closed status closes the
// referral (App.apply); a flag on a closed referral does neither again.
func arrival(ev referral.Event) bool {
	return ev.Type == referral.StatusChanged && ev.Data[countedStatus] == ""
}

// statuses counts the status changes among events — a referral's arrival
// at a status and the funnel stage it marks, with the time it took to
// consent or to connect — and marks each event counted. A status is
// reached once (the lifecycle moves forward only), so each is counted once;
// an event marked counted already (a flag on the status the referral has,
// see channelFailed) is no arrival and is not counted again.
func (t *tally) statuses(r *referral.Referral, events []referral.Event) {
	for i, ev := range events {
		if !arrival(ev) {
			continue
		}
		t.referral(r, statusCounters(r, ev))
		if m, ok := statusMetrics[ev.Status]; ok {
			t.metric(m)
		}
		data := maps.Clone(ev.Data)
		if data == nil {
			data = map[string]string{}
		}
		data[countedStatus] = "1"
		events[i].Data = data
	}
}

// statusCounters are the counters of a referral's arrival at the status of
// event ev.
func statusCounters(r *referral.Referral, ev referral.Event) map[string]int64 {
	c := map[string]int64{"s_" + string(ev.Status): 1}
	if stage, ok := stageOf[ev.Status]; ok {
		c[stage] = 1
	}
	switch ev.Status {
	case referral.Consented:
		c[bucket("tc", ev.At.Sub(r.CreatedAt))] = 1
	case referral.Connected:
		c[bucket("tx", ev.At.Sub(r.CreatedAt))] = 1
	case referral.Attended:
		// From consent to the start of the first meeting attended.
		if r.Consent != nil && r.FirstMeeting != nil {
			c[bucket("tm", r.FirstMeeting.Start.Sub(r.Consent.SignedAt))] = 1
		}
	}
	return c
}

// CountContacted counts the patient contacted by the clinic's QR code,
// opened on their phone, when it is the only way they are reached (they
// gave no contact): a patient who gave one is counted with their first
// consent link sent. Once per referral, through a ledger entry of its own.
func (a *App) CountContacted(ctx context.Context, r *referral.Referral, at time.Time) error {
	if r.Patient.Email != "" || r.Patient.Phone != "" {
		return nil
	}
	c := dynamo.NewCounts(at)
	for _, s := range referralScopes(r) {
		c.Add(s, "contacted", 1)
	}
	_, err := a.Referrals.Count(ctx, r.ID+"#count#contacted", *c)
	return err
}

// countLegacyStatus counts the status of a status-changed event written
// before counts rode in their change's transaction (one not marked
// counted), once, through a ledger entry of its own.
func (a *App) countLegacyStatus(ctx context.Context, r *referral.Referral, ev referral.Event) error {
	if ev.Data[countedStatus] != "" {
		return nil
	}
	c := dynamo.NewCounts(ev.At)
	for _, s := range referralScopes(r) {
		for k, n := range statusCounters(r, ev) {
			c.Add(s, k, n)
		}
	}
	counted, err := a.Referrals.Count(ctx, r.ID+"#count#"+string(ev.Status), *c)
	if m, ok := statusMetrics[ev.Status]; ok && counted {
		a.Metrics.Emit(m, 1, metrics.Count)
	}
	return err
}

// answerCounts counts a group's first answer to a route — accepted,
// declined or timed out — and, but for a time-out, how long it took since
// the group was notified (the route's own time until it is answered).
func answerCounts(c *dynamo.Counts, clinicID string, rt referral.Route, to referral.RouteStatus, at time.Time) {
	if rt.Status != referral.RouteNotified {
		return
	}
	scope := "C#" + clinicID + "#G#" + rt.GroupID
	switch to {
	case referral.RouteAccepted, referral.RouteDeclined:
		c.Add(scope, bucket("gr", at.Sub(rt.At)), 1)
	case referral.RouteTimedOut:
	default:
		return
	}
	c.Add(scope, "g_"+strings.ReplaceAll(string(to), "-", "_"), 1)
}

// firstContact counts, from the answers among records, the referral's
// first answer from a group (marked first by answerRoute): the time from
// consent to it, once per referral, since a referral has one first answer.
func (t *tally) firstContact(r *referral.Referral, records []referral.Event) {
	for _, ev := range records {
		if ev.Type != referral.RouteAnswered || ev.Data["first"] == "" || r.Consent == nil {
			continue
		}
		d := ev.At.Sub(r.Consent.SignedAt)
		t.referral(r, map[string]int64{bucket("fc", d): 1})
		t.value("TimeToFirstContact", d.Seconds(), metrics.Seconds)
	}
}
