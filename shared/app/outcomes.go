package app

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// FunnelStages are the stages a referral reaches, in order: received by
// handoff, the patient contacted (the consent link sent), the link opened,
// consented, routed to a group, accepted by a group, connected, and went
// to the first meeting the group chose.
var FunnelStages = []string{"received", "contacted", "viewed", "consented", "routed", "accepted", "connected", "attended"}

// stageOf is the funnel stage a status marks, if any.
var stageOf = map[referral.Status]string{
	referral.AwaitingConsent: "received", referral.Consented: "consented", referral.Routed: "routed",
	referral.Accepted: "accepted", referral.Connected: "connected", referral.Attended: "attended",
}

// hourBuckets are the upper bounds, in hours, of the duration histograms'
// buckets; a duration past the last counts in "gt" bucket.
var hourBuckets = []int{1, 2, 4, 8, 12, 24, 48, 72, 120, 168, 336, 720, 2160}

// bucket names the histogram bucket of d for the histogram prefix.
func bucket(prefix string, d time.Duration) string {
	for _, b := range hourBuckets {
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

// statuses counts the status changes among events — a referral's arrival
// at a status and the funnel stage it marks, with the time it took to
// consent or to connect — and marks each event counted. A status is
// reached once (the lifecycle moves forward only), so each is counted once.
func (t *tally) statuses(r *referral.Referral, events []referral.Event) {
	for i, ev := range events {
		if ev.Type != referral.StatusChanged {
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

// OutcomeQuery asks for the outcomes of the days From..To (UTC, inclusive),
// of one clinic or all, of one topic or all.
type OutcomeQuery struct {
	From, To time.Time
	Clinic   string
	Topic    string
	// ClinicView is the clinic's own view: counts of 1 to 10 broken down by
	// topic, by group or by channel are suppressed.
	ClinicView bool
}

// MaxOutcomeDays is the longest span one report reads.
const MaxOutcomeDays = 366

// smallCount is the largest count a clinic's view suppresses in a breakdown
// (by topic, by group, by channel).
const smallCount = 10

// Durations summarizes a duration histogram. In a clinic's view of one
// topic a count of 1 to 10 is null, and so are its quantiles.
type Durations struct {
	Count    *int64   `json:"count"`
	P50Hours *float64 `json:"p50_hours"`
	P90Hours *float64 `json:"p90_hours"`
}

// ChannelOutcome counts messages to patients on one channel.
type ChannelOutcome struct {
	Sent   int64 `json:"sent"`
	Failed int64 `json:"failed"`
}

// GroupOutcome is one group's answers. In a clinic's view a count of 1 to 10
// is null.
type GroupOutcome struct {
	GroupID             string   `json:"group_id"`
	Notified            *int64   `json:"notified"`
	Accepted            *int64   `json:"accepted"`
	Declined            *int64   `json:"declined"`
	TimedOut            *int64   `json:"timed_out"`
	MedianResponseHours *float64 `json:"median_response_hours"`
}

// OutcomeReport is the funnel and what surrounds it, for a span of days.
// Hours are the upper bound of the histogram bucket the quantile falls in
// (1, 2, 4, 8, 12, 24, 48, 72, 120, 168, 336, 720, 2160 hours); null when
// there is nothing to measure or the quantile is past 2160 hours.
type OutcomeReport struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Clinic string `json:"clinic,omitempty"`
	Topic  string `json:"topic,omitempty"`
	// Funnel and Statuses: in a clinic's view of one topic (that topic's
	// row of the breakdown) a count of 1 to 10 is null, as in the breakdown.
	Funnel        map[string]*int64            `json:"funnel"`
	Statuses      map[string]*int64            `json:"statuses"`
	TimeToConsent Durations                    `json:"time_to_consent"`
	TimeToConnect Durations                    `json:"time_to_connect"`
	Channels      map[string]ChannelOutcome    `json:"channels"`
	Groups        []GroupOutcome               `json:"groups"`
	Topics        map[string]map[string]*int64 `json:"topics"`
	// FunnelByChannel is the funnel per channel the consent link went by
	// first (not kept per topic: empty for one topic).
	FunnelByChannel map[string]map[string]*int64 `json:"funnel_by_channel"`
	// Suppressed tells that small counts were left out (a clinic's view).
	Suppressed bool `json:"small_counts_suppressed"`
	// TimeToFirstContact is from consent to a group's first answer;
	// TimeToFirstMeeting from consent to the start of a first meeting the
	// patient went to.
	TimeToFirstContact Durations `json:"time_to_first_contact"`
	TimeToFirstMeeting Durations `json:"time_to_first_meeting"`
}

// AdminOutcomes is the operator's report. Errors: Unauthorized, Invalid.
func (a *App) AdminOutcomes(ctx context.Context, bearer string, q OutcomeQuery) (OutcomeReport, error) {
	if err := a.CheckAdmin(ctx, bearer); err != nil {
		return OutcomeReport{}, err
	}
	q.ClinicView = false
	return a.outcomes(ctx, q)
}

// ClinicOutcomes is a clinic's report of its own referrals. Errors:
// Unauthorized (one answer for an unknown clinic and a wrong key), Invalid.
func (a *App) ClinicOutcomes(ctx context.Context, clinicID, bearer string, q OutcomeQuery) (OutcomeReport, error) {
	c, err := a.Clinic(ctx, clinicID)
	if problem.Is(err, problem.NotFound) {
		return OutcomeReport{}, errClinicAuth
	}
	if err != nil {
		return OutcomeReport{}, err
	}
	if !apiKeyMatches(c, bearer) {
		return OutcomeReport{}, errClinicAuth
	}
	q.Clinic, q.ClinicView = clinicID, true
	return a.outcomes(ctx, q)
}

func (a *App) outcomes(ctx context.Context, q OutcomeQuery) (OutcomeReport, error) {
	if q.To.Before(q.From) {
		return OutcomeReport{}, problem.Invalidf([]problem.FieldError{{Field: "to", Detail: "must not be before from"}}, "The span of days is not valid.")
	}
	if q.To.Sub(q.From) >= MaxOutcomeDays*24*time.Hour {
		return OutcomeReport{}, problem.Invalidf([]problem.FieldError{{Field: "to", Detail: fmt.Sprintf("a report spans at most %d days", MaxOutcomeDays)}}, "The span of days is too long.")
	}
	prefix := "C#"
	if q.Clinic != "" {
		prefix = "C#" + q.Clinic
	}
	items, err := a.Referrals.Outcomes(ctx, q.From, q.To, prefix)
	if err != nil {
		return OutcomeReport{}, err
	}
	return summarize(q, items), nil
}

// summarize adds up one span's counter items into the report q asks for.
func summarize(q OutcomeQuery, items []dynamo.OutcomeItem) OutcomeReport {
	// Every scope starts C#<clinic>; the operator's totals sum the clinics.
	sum := map[string]int64{}
	topics := map[string]map[string]int64{}
	groups := map[string]map[string]int64{}
	channels := map[string]map[string]int64{}
	for _, it := range items {
		parts := strings.Split(it.Scope, "#")
		if len(parts) < 2 || (q.Clinic != "" && parts[1] != q.Clinic) {
			continue // another clinic whose id starts the same
		}
		switch {
		case len(parts) == 2 && q.Topic == "":
			add(sum, it.Counters)
		case len(parts) == 4 && parts[2] == "T":
			if q.Topic != "" && parts[3] != q.Topic {
				continue
			}
			if q.Topic != "" {
				add(sum, it.Counters)
			}
			if topics[parts[3]] == nil {
				topics[parts[3]] = map[string]int64{}
			}
			add(topics[parts[3]], it.Counters)
		case len(parts) == 4 && parts[2] == "H" && q.Topic == "":
			if channels[parts[3]] == nil {
				channels[parts[3]] = map[string]int64{}
			}
			add(channels[parts[3]], it.Counters)
		case len(parts) == 4 && parts[2] == "G":
			if groups[parts[3]] == nil {
				groups[parts[3]] = map[string]int64{}
			}
			add(groups[parts[3]], it.Counters)
		}
	}
	keep := func(n int64) *int64 {
		if q.ClinicView && n >= 1 && n <= smallCount {
			return nil
		}
		return &n
	}
	// A clinic's view of one topic is that topic's row of the breakdown:
	// it suppresses what the row does, or the filter would show it.
	keepSum := func(n int64) *int64 {
		if q.Topic != "" {
			return keep(n)
		}
		return &n
	}
	rep := OutcomeReport{
		From: q.From.Format(dynamo.OutcomeDayFormat), To: q.To.Format(dynamo.OutcomeDayFormat),
		Clinic: q.Clinic, Topic: q.Topic, Suppressed: q.ClinicView,
		Funnel: map[string]*int64{}, Statuses: map[string]*int64{}, Channels: map[string]ChannelOutcome{},
		Groups: []GroupOutcome{}, Topics: map[string]map[string]*int64{}, FunnelByChannel: map[string]map[string]*int64{},
		TimeToConsent: durations(sum, "tc").kept(keepSum), TimeToConnect: durations(sum, "tx").kept(keepSum),
		TimeToFirstContact: durations(sum, "fc").kept(keepSum), TimeToFirstMeeting: durations(sum, "tm").kept(keepSum),
	}
	for _, s := range FunnelStages {
		rep.Funnel[s] = keepSum(sum[s])
	}
	for k, n := range sum {
		if st, ok := strings.CutPrefix(k, "s_"); ok {
			rep.Statuses[st] = keepSum(n)
		}
	}
	if q.Topic == "" { // messages are counted per clinic, not per topic
		for _, ch := range []string{ChannelEmail, ChannelSMS} {
			rep.Channels[ch] = ChannelOutcome{Sent: sum[ch+"_sent"], Failed: sum[ch+"_failed"]}
		}
	}
	for _, t := range slices.Sorted(maps.Keys(topics)) {
		row := map[string]*int64{}
		for _, s := range FunnelStages {
			row[s] = keep(topics[t][s])
		}
		rep.Topics[t] = row
	}
	for _, ch := range slices.Sorted(maps.Keys(channels)) {
		row := map[string]*int64{}
		for _, s := range FunnelStages {
			row[s] = keep(channels[ch][s])
		}
		rep.FunnelByChannel[ch] = row
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		c := groups[g]
		gr := GroupOutcome{GroupID: g, Notified: keep(c["g_notified"]), Accepted: keep(c["g_accepted"]),
			Declined: keep(c["g_declined"]), TimedOut: keep(c["g_timed_out"])}
		if d := durations(c, "gr"); d.count > smallCount || (!q.ClinicView && d.count > 0) {
			gr.MedianResponseHours = d.P50Hours
		}
		rep.Groups = append(rep.Groups, gr)
	}
	return rep
}

func add(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// histogram is a duration histogram's count and quantiles.
type histogram struct {
	count              int64
	P50Hours, P90Hours *float64
}

// kept is the histogram as a report shows it: its count through keep, and
// no quantiles when keep suppresses the count.
func (h histogram) kept(keep func(int64) *int64) Durations {
	d := Durations{Count: keep(h.count)}
	if d.Count != nil {
		d.P50Hours, d.P90Hours = h.P50Hours, h.P90Hours
	}
	return d
}

// durations reads a histogram's quantiles.
func durations(c map[string]int64, prefix string) histogram {
	var counts []int64
	var total int64
	for _, b := range hourBuckets {
		n := c[prefix+"_le_"+strconv.Itoa(b)]
		counts = append(counts, n)
		total += n
	}
	total += c[prefix+"_gt"]
	d := histogram{count: total}
	if total == 0 {
		return d
	}
	quantile := func(q float64) *float64 {
		need, seen := int64(float64(total)*q+0.999999), int64(0)
		for i, n := range counts {
			seen += n
			if seen >= need {
				h := float64(hourBuckets[i])
				return &h
			}
		}
		return nil
	}
	d.P50Hours, d.P90Hours = quantile(0.5), quantile(0.9)
	return d
}

// WriteCSV writes the report as CSV rows: section, key, metric, value (a
// suppressed count's value is "suppressed", a missing duration's empty).
func (r OutcomeReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(section, key, metric, value string) { _ = cw.Write([]string{section, key, metric, value}) }
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	opt := func(v *int64) string {
		if v == nil {
			return "suppressed"
		}
		return n(*v)
	}
	hours := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	row("section", "key", "metric", "value")
	row("span", "", "from", r.From)
	row("span", "", "to", r.To)
	for _, s := range FunnelStages {
		row("funnel", "", s, opt(r.Funnel[s]))
	}
	for _, s := range slices.Sorted(maps.Keys(r.Statuses)) {
		row("statuses", "", s, opt(r.Statuses[s]))
	}
	for _, d := range []struct {
		name string
		v    Durations
	}{{"time_to_consent", r.TimeToConsent}, {"time_to_connect", r.TimeToConnect},
		{"time_to_first_contact", r.TimeToFirstContact}, {"time_to_first_meeting", r.TimeToFirstMeeting}} {
		row(d.name, "", "count", opt(d.v.Count))
		row(d.name, "", "p50_hours", hours(d.v.P50Hours))
		row(d.name, "", "p90_hours", hours(d.v.P90Hours))
	}
	for _, ch := range slices.Sorted(maps.Keys(r.Channels)) {
		row("channels", ch, "sent", n(r.Channels[ch].Sent))
		row("channels", ch, "failed", n(r.Channels[ch].Failed))
	}
	for _, g := range r.Groups {
		row("groups", g.GroupID, "notified", opt(g.Notified))
		row("groups", g.GroupID, "accepted", opt(g.Accepted))
		row("groups", g.GroupID, "declined", opt(g.Declined))
		row("groups", g.GroupID, "timed_out", opt(g.TimedOut))
		row("groups", g.GroupID, "median_response_hours", hours(g.MedianResponseHours))
	}
	for _, t := range slices.Sorted(maps.Keys(r.Topics)) {
		for _, s := range FunnelStages {
			row("topics", t, s, opt(r.Topics[t][s]))
		}
	}
	for _, ch := range slices.Sorted(maps.Keys(r.FunnelByChannel)) {
		for _, s := range FunnelStages {
			row("funnel_by_channel", ch, s, opt(r.FunnelByChannel[ch][s]))
		}
	}
	cw.Flush()
	return cw.Error()
}
