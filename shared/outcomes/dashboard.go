package outcomes

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/pages"
)

// adminWeeks is how many weeks the operator's page shows.
const adminWeeks = 12

// Dashboard is what the signed-in operator's page shows: the last 12
// weeks (Monday to Sunday, UTC, the current week last) of all clinics.
func (o *Reports) Dashboard(ctx context.Context) (pages.AdminView, error) {
	today := o.App.Clock().Truncate(24 * time.Hour)
	monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	from := monday.AddDate(0, 0, -7*(adminWeeks-1))
	// One read of the 12 weeks: the report and the weekly trend both come
	// from it.
	items, err := o.App.Referrals.Outcomes(ctx, from, today, "C#")
	if err != nil {
		return pages.AdminView{}, err
	}
	rep := summarize(Query{From: from, To: today}, items)
	v := pages.AdminView{SignedIn: true, From: rep.From, To: rep.To}
	for _, s := range FunnelStages {
		v.Funnel = append(v.Funnel, pages.AdminCount{Label: strings.ToUpper(s[:1]) + s[1:], N: deref(rep.Funnel[s])})
	}
	weeks := make([]pages.AdminWeek, adminWeeks)
	for i := range weeks {
		weeks[i].Label = from.AddDate(0, 0, 7*i).Format("2006-01-02")
	}
	hist := map[string]int64{}
	for _, it := range items {
		if strings.Count(it.Scope, "#") != 1 {
			continue // a topic's or a group's counters
		}
		d, err := time.Parse("2006-01-02", it.Day)
		if err != nil {
			continue
		}
		w := int(d.Sub(from).Hours()) / (24 * 7)
		if w < 0 || w >= adminWeeks {
			continue
		}
		weeks[w].Received += it.Counters["received"]
		weeks[w].Connected += it.Counters["connected"]
		add(hist, it.Counters)
	}
	v.Weeks = weeks
	v.Connect, v.FirstContact, v.FirstMeeting = histogramOf(hist, "tx"), histogramOf(hist, "fc"), histogramOf(hist, "tm")
	for _, g := range rep.Groups {
		row := pages.AdminGroup{ID: g.GroupID, MedianResponse: "—", ResponseRate: "—"}
		row.Notified, row.Accepted, row.Declined, row.TimedOut = deref(g.Notified), deref(g.Accepted), deref(g.Declined), deref(g.TimedOut)
		if row.Notified > 0 {
			row.ResponseRate = fmt.Sprintf("%.0f%%", 100*float64(row.Accepted+row.Declined)/float64(row.Notified))
		}
		if g.MedianResponseHours != nil {
			row.MedianResponse = hoursLabel(int(*g.MedianResponseHours))
		}
		v.Groups = append(v.Groups, row)
	}
	slices.SortStableFunc(v.Groups, func(x, y pages.AdminGroup) int { return int(y.Notified - x.Notified) })
	return v, nil
}

// histogramOf is a duration histogram's bars, one per bucket.
func histogramOf(hist map[string]int64, prefix string) []pages.AdminCount {
	var out []pages.AdminCount
	for _, b := range app.HourBuckets {
		out = append(out, pages.AdminCount{Label: hoursLabel(b), N: hist[prefix+"_le_"+strconv.Itoa(b)]})
	}
	return append(out, pages.AdminCount{Label: "Longer", N: hist[prefix+"_gt"]})
}

func deref(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// hoursLabel writes a bucket's bound for a person: "8 hours", "3 days".
func hoursLabel(h int) string {
	switch {
	case h == 1:
		return "1 hour"
	case h < 48:
		return strconv.Itoa(h) + " hours"
	case h%24 == 0:
		return strconv.Itoa(h/24) + " days"
	}
	return strconv.Itoa(h) + " hours"
}
