package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result is one request's outcome.
type result struct {
	status  int // 0 when no answer came (a transport error or a timeout)
	latency time.Duration
	failed  bool
	end     time.Time
}

// limits say when a step is saturated.
type limits struct {
	p99      time.Duration // a p99 over this
	achieved float64       // accepted per second under this share of the rate asked
}

var defaultLimits = limits{p99: 50 * time.Millisecond, achieved: 0.95}

// stepReport summarizes one step.
type stepReport struct {
	Rate        int            // asked, per second
	Sent        int            // requests sent
	Accepted    int            // 202 answers
	AcceptedPS  float64        // accepted per second of the step's wall time
	P50         time.Duration  // latency percentiles over every answer
	P90         time.Duration  //
	P99         time.Duration  //
	Max         time.Duration  //
	Errors      map[string]int // by status ("413", …), "no answer" for none
	Saturated   bool
	Why         []string // why the step counts as saturated
	WallSeconds float64
}

// parseSteps reads "50,100,200" as rates per second: each a whole number from
// 1 to 10,000, increasing.
func parseSteps(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("%q is not a rate from 1 to 10000 per second", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("rates must increase (%d after %d)", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no rates given")
	}
	return out, nil
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted latencies by
// the nearest-rank method: the smallest value with at least p% of the values
// at or below it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// summarize turns a step's results into its report. The accepted rate is per
// second of the step's wall time: from its start to the last answer, and at
// least the step's duration.
func summarize(rate int, d time.Duration, start time.Time, rs []result) stepReport {
	rep := stepReport{Rate: rate, Sent: len(rs), Errors: map[string]int{}}
	lat := make([]time.Duration, 0, len(rs))
	last := start.Add(d)
	for _, r := range rs {
		switch {
		case r.status == 202:
			rep.Accepted++
		case r.status == 0 || r.failed:
			rep.Errors["no answer"]++
		default:
			rep.Errors[strconv.Itoa(r.status)]++
		}
		if r.status != 0 {
			lat = append(lat, r.latency)
		}
		if r.end.After(last) {
			last = r.end
		}
	}
	slices.Sort(lat)
	rep.P50, rep.P90, rep.P99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	if len(lat) > 0 {
		rep.Max = lat[len(lat)-1]
	}
	rep.WallSeconds = last.Sub(start).Seconds()
	if rep.WallSeconds > 0 {
		rep.AcceptedPS = float64(rep.Accepted) / rep.WallSeconds
	}
	return rep
}

// evaluate marks the step saturated when its p99 is over the limit, any
// request failed, or it accepted less than the limit's share of the rate.
func (r *stepReport) evaluate(l limits) {
	r.Why = nil
	if r.P99 > l.p99 {
		r.Why = append(r.Why, fmt.Sprintf("p99 %s > %s", ms(r.P99), ms(l.p99)))
	}
	if n := r.errorCount(); n > 0 {
		r.Why = append(r.Why, fmt.Sprintf("%d errors", n))
	}
	if r.AcceptedPS < l.achieved*float64(r.Rate) {
		r.Why = append(r.Why, fmt.Sprintf("accepted %.0f/s < %.0f%% of %d/s", r.AcceptedPS, l.achieved*100, r.Rate))
	}
	r.Saturated = len(r.Why) > 0
}

func (r stepReport) errorCount() int {
	n := 0
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// errorText renders errors by status, "none" when there were none.
func (r stepReport) errorText() string {
	if len(r.Errors) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, r.Errors[k])
	}
	return strings.Join(parts, ", ")
}

func (r stepReport) line() string {
	s := fmt.Sprintf("%5d/s asked: %4d sent, %7.1f accepted/s, p50 %s p90 %s p99 %s, errors: %s",
		r.Rate, r.Sent, r.AcceptedPS, ms(r.P50), ms(r.P90), ms(r.P99), r.errorText())
	if r.Saturated {
		s += " — saturated (" + strings.Join(r.Why, "; ") + ")"
	}
	return s
}

// ms renders a duration in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// saturationPoint is the index of the first saturated step, or -1.
func saturationPoint(reps []stepReport) int {
	for i, r := range reps {
		if r.Saturated {
			return i
		}
	}
	return -1
}

// writeTable prints the steps as a Markdown table and names the saturation point.
func writeTable(w io.Writer, reps []stepReport, l limits) {
	fmt.Fprintln(w, "| asked /s | sent | accepted /s | p50 | p90 | p99 | max | errors by status | saturated |")
	fmt.Fprintln(w, "| --: | --: | --: | --: | --: | --: | --: | --- | --- |")
	for _, r := range reps {
		sat := "no"
		if r.Saturated {
			sat = "yes: " + strings.Join(r.Why, "; ")
		}
		fmt.Fprintf(w, "| %d | %d | %.1f | %s | %s | %s | %s | %s | %s |\n",
			r.Rate, r.Sent, r.AcceptedPS, ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max), r.errorText(), sat)
	}
	fmt.Fprintln(w)
	switch i := saturationPoint(reps); {
	case len(reps) == 0:
		fmt.Fprintln(w, "no step ran")
	case i < 0:
		fmt.Fprintf(w, "not saturated up to %d/s (limits: p99 ≤ %s, no errors, accepted ≥ %.0f%% of the rate)\n",
			reps[len(reps)-1].Rate, ms(l.p99), l.achieved*100)
	case i == 0:
		fmt.Fprintf(w, "saturated already at the first step, %d/s: %s\n", reps[0].Rate, strings.Join(reps[0].Why, "; "))
	default:
		fmt.Fprintf(w, "saturation point: %d/s (%s); the last step within the limits: %d/s\n",
			reps[i].Rate, strings.Join(reps[i].Why, "; "), reps[i-1].Rate)
	}
}
