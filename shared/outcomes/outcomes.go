// Package outcomes reads the outcome counters back, beside the core
// (shared/app), for the clinic API's and the operator's reports
// (GET /v1/clinics/{clinic}/outcomes, GET /v1/admin/outcomes, JSON or CSV)
// and the operator's page (/admin): the funnel, the statuses reached, the
// time to consent, to connect, to a group's first answer and to the first
// meeting, the channels' messages, each group's answers, and the funnel by
// topic and by the consent link's first channel.
//
// The counting is the core's: each state change adds its counts in its
// own transaction (see app.App.Apply), per day and scope — a clinic, a
// clinic and a topic, a clinic and a channel, a clinic and a group — and
// durations as histograms of HourBuckets. A report reads the days it spans
// with one Query per day and adds them up; the operator's totals are sums
// over clinics. A clinic's own view suppresses a count of 1 to 10 in any
// breakdown (by topic, by group, by channel), so a small count cannot
// point at a patient.
package outcomes

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
)

// FunnelStages are the stages a referral reaches, in order: received by
// handoff, the patient contacted (the consent link sent), the link opened,
// consented, routed to a group, accepted by a group, connected, and went
// to the first meeting the group chose.
var FunnelStages = []string{"received", "contacted", "viewed", "consented", "routed", "accepted", "connected", "attended"}

// Query asks for the outcomes of the days From..To (UTC, inclusive),
// of one clinic or all, of one topic or all.
type Query struct {
	From, To time.Time
	Clinic   string
	Topic    string
	// ClinicView is the clinic's own view: counts of 1 to 10 broken down by
	// topic, by group or by channel are suppressed.
	ClinicView bool
}

// MaxDays is the longest span one report reads.
const MaxDays = 366

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

// Channel counts messages to patients on one channel.
type Channel struct {
	Sent   int64 `json:"sent"`
	Failed int64 `json:"failed"`
}

// Group is one group's answers. In a clinic's view a count of 1 to 10
// is null.
type Group struct {
	GroupID             string   `json:"group_id"`
	Notified            *int64   `json:"notified"`
	Accepted            *int64   `json:"accepted"`
	Declined            *int64   `json:"declined"`
	TimedOut            *int64   `json:"timed_out"`
	MedianResponseHours *float64 `json:"median_response_hours"`
}

// Report is the funnel and what surrounds it, for a span of days.
// Hours are the upper bound of the histogram bucket the quantile falls in
// (1, 2, 4, 8, 12, 24, 48, 72, 120, 168, 336, 720, 2160 hours); null when
// there is nothing to measure or the quantile is past 2160 hours.
type Report struct {
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
	Channels      map[string]Channel           `json:"channels"`
	Groups        []Group                      `json:"groups"`
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

// Reports reads the outcome reports, on the core a.
type Reports struct {
	App *app.App
}

// New returns the outcome reports on a.
func New(a *app.App) *Reports { return &Reports{App: a} }

// Admin is the operator's report. Errors: problem.Unauthorized,
// problem.Invalid, and the store's.
func (o *Reports) Admin(ctx context.Context, bearer string, q Query) (Report, error) {
	if err := o.App.CheckAdmin(ctx, bearer); err != nil {
		return Report{}, err
	}
	q.ClinicView = false
	return o.read(ctx, q)
}

// Clinic is a clinic's report of its own referrals. Errors:
// problem.Unauthorized (one answer for an unknown clinic and a wrong key),
// problem.Invalid, and the store's.
func (o *Reports) Clinic(ctx context.Context, clinicID, bearer string, q Query) (Report, error) {
	if err := o.App.CheckClinicKey(ctx, clinicID, bearer); err != nil {
		return Report{}, err
	}
	q.Clinic, q.ClinicView = clinicID, true
	return o.read(ctx, q)
}

func (o *Reports) read(ctx context.Context, q Query) (Report, error) {
	if q.To.Before(q.From) {
		return Report{}, problem.Invalidf([]problem.FieldError{{Field: "to", Detail: "must not be before from"}}, "The span of days is not valid.")
	}
	if q.To.Sub(q.From) >= MaxDays*24*time.Hour {
		return Report{}, problem.Invalidf([]problem.FieldError{{Field: "to", Detail: fmt.Sprintf("a report spans at most %d days", MaxDays)}}, "The span of days is too long.")
	}
	prefix := "C#"
	if q.Clinic != "" {
		prefix = "C#" + q.Clinic
	}
	items, err := o.App.Referrals.Outcomes(ctx, q.From, q.To, prefix)
	if err != nil {
		return Report{}, err
	}
	return summarize(q, items), nil
}

// summarize adds up one span's counter items into the report q asks for.
func summarize(q Query, items []dynamo.OutcomeItem) Report {
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
	rep := Report{
		From: q.From.Format(dynamo.OutcomeDayFormat), To: q.To.Format(dynamo.OutcomeDayFormat),
		Clinic: q.Clinic, Topic: q.Topic, Suppressed: q.ClinicView,
		Funnel: map[string]*int64{}, Statuses: map[string]*int64{}, Channels: map[string]Channel{},
		Groups: []Group{}, Topics: map[string]map[string]*int64{}, FunnelByChannel: map[string]map[string]*int64{},
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
		for _, ch := range []string{app.ChannelEmail, app.ChannelSMS} {
			rep.Channels[ch] = Channel{Sent: sum[ch+"_sent"], Failed: sum[ch+"_failed"]}
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
		gr := Group{GroupID: g, Notified: keep(c["g_notified"]), Accepted: keep(c["g_accepted"]),
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
	for _, b := range app.HourBuckets {
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
				h := float64(app.HourBuckets[i])
				return &h
			}
		}
		return nil
	}
	d.P50Hours, d.P90Hours = quantile(0.5), quantile(0.9)
	return d
}
