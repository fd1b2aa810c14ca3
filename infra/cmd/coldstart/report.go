package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result gathers the measurements of one function.
type result struct {
	name     string
	binary   int64
	first    []time.Duration
	init     []time.Duration
	warm     []time.Duration
	outcomes map[string]int
	coldPeak int64           // the largest peak memory after a cold first answer
	warmPeak int64           // the largest peak memory after the warm invocations
	coldCPU  []time.Duration // CPU time of each cold start up to its first answer
	failure  string          // build or run failure; the row shows it instead of numbers
}

func (r *result) add(m measurement) {
	r.first = append(r.first, m.firstAnswer)
	if m.init > 0 {
		r.init = append(r.init, m.init)
	}
	if m.warm > 0 {
		r.warm = append(r.warm, m.warm)
	}
	r.coldPeak, r.warmPeak = max(r.coldPeak, m.coldPeak), max(r.warmPeak, m.warmPeak)
	if m.coldCPU > 0 {
		r.coldCPU = append(r.coldCPU, m.coldCPU)
	}
	if r.outcomes == nil {
		r.outcomes = map[string]int{}
	}
	r.outcomes[m.outcome]++
}

// percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method, or 0 for no data.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

func printTable(w io.Writer, results []result, runs int) {
	var floor time.Duration
	for _, r := range results {
		if r.name == floorName {
			floor = percentile(r.first, 50)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "function\tbinary MB\truns\tfirst answer p50 ms\tp90 ms\tINIT p50 ms\twarm p50 ms\tx floor\tcold CPU p50 ms\tpeak MB cold\tpeak MB warm\tresult\n")
	for _, r := range results {
		if r.failure != "" && len(r.first) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t0\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", r.name, mb(r.binary), r.failure)
			continue
		}
		p50 := percentile(r.first, 50)
		ratio := "-"
		if floor > 0 {
			ratio = fmt.Sprintf("%.2f", float64(p50)/float64(floor))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.name, mb(r.binary), len(r.first), runs,
			ms(p50), ms(percentile(r.first, 90)), ms(percentile(r.init, 50)), ms(percentile(r.warm, 50)),
			ratio, ms(percentile(r.coldCPU, 50)), mb(r.coldPeak), mb(r.warmPeak), summary(r))
	}
	tw.Flush()
}

func mb(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/(1<<20))
}

// summary lists the outcomes of a function's runs, most frequent first.
func summary(r result) string {
	keys := slices.SortedFunc(maps.Keys(r.outcomes), func(a, b string) int {
		if r.outcomes[a] != r.outcomes[b] {
			return r.outcomes[b] - r.outcomes[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, r.outcomes[k]))
	}
	if r.failure != "" {
		parts = append(parts, r.failure)
	}
	return strings.Join(parts, ", ")
}
