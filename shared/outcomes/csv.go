package outcomes

import (
	"encoding/csv"
	"io"
	"maps"
	"slices"
	"strconv"
)

// WriteCSV writes the report as CSV rows: section, key, metric, value (a
// suppressed count's value is "suppressed", a missing duration's empty).
func (r Report) WriteCSV(w io.Writer) error {
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
