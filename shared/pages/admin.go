package pages

import (
	"fmt"
	"io"
	"math"
	"strconv"
)

// AdminView is what the operator's page (/admin) shows: the sign-in form, or
// the outcomes of the last weeks. English only; no personal data.
type AdminView struct {
	SignedIn  bool
	CSRFToken string // of the sign-in form, or of the sign-out form
	// Notice: "" or "bad-token" (sign-in refused), "signed-out",
	// "staff-invited", "staff-refused" (the invitation was not valid, the
	// clinic unknown or the address staff already).
	Notice string
	// Staff shows the form that invites a clinic's staff member.
	Staff bool
	// The outcomes, when signed in.
	From, To string
	Funnel   []AdminCount // in funnel order
	Weeks    []AdminWeek  // oldest first
	Connect  []AdminCount // time to connect, one bar per histogram bucket
	// FirstContact and FirstMeeting are the times from consent to a
	// group's first answer and to a first meeting attended, as Connect.
	FirstContact []AdminCount
	FirstMeeting []AdminCount
	Groups       []AdminGroup
}

// AdminCount is one labelled count.
type AdminCount struct {
	Label string
	N     int64
}

// AdminWeek is one week of the trend.
type AdminWeek struct {
	Label               string // the week's Monday, e.g. 2026-11-30
	Received, Connected int64
}

// AdminGroup is one row of the groups' table.
type AdminGroup struct {
	ID                                     string
	Notified, Accepted, Declined, TimedOut int64
	ResponseRate                           string // accepted or declined of notified, e.g. "83%"
	MedianResponse                         string // e.g. "8 h", or "—"
}

// Geometry of the charts, in SVG user units.
const (
	chartWidth  = 640
	barHeight   = 28
	barGap      = 10
	labelWidth  = 110
	trendHeight = 180
)

type adminPage struct {
	base
	V       AdminView
	Funnel  []funnelBar
	Trend   trendChart
	FunnelH int
	// Times are the histograms of durations: to connect, to a group's
	// first answer, to the first meeting.
	Times []histChart
}

// histChart is one histogram of durations with its heading and caption.
type histChart struct {
	ID, Heading, Caption string
	Bars                 []histBar
	H                    int
}

type funnelBar struct {
	Label, Count, Rate string
	Y, W, TextX        int
}

type trendChart struct {
	Bars  []trendBar
	Max   int64
	Width int
}

type trendBar struct {
	Label                string
	Received, Connected  int64
	X, W, YR, HR, YC, HC int
}

type histBar struct {
	Label string
	N     int64
	Y, W  int
}

var adminNotices = map[string]bool{"bad-token": true, "signed-out": false, "staff-invited": false, "staff-refused": true}

// RenderAdmin renders the operator's page.
func RenderAdmin(w io.Writer, v AdminView) error {
	t, err := newTr(English)
	if err != nil {
		return err
	}
	p := adminPage{V: v}
	p.base, err = newBase(t, "")
	if err != nil {
		return err
	}
	p.Footer = false
	p.Title = "handoff: outcomes"
	if !v.SignedIn {
		p.Title = "handoff: sign in"
	}
	if v.CSRFToken == "" {
		return fmt.Errorf("admin page: a form token is required")
	}
	if p.Notice, err = newNotice(t, v.Notice, adminNotices); err != nil {
		return err
	}
	if v.SignedIn {
		p.Funnel, p.FunnelH = funnelBars(v.Funnel)
		p.Trend = trend(v.Weeks)
		for _, c := range []struct {
			id, heading, caption string
			bins                 []AdminCount
		}{
			{"connect", "How long it takes to connect", "Referrals connected, by the time from referral to connection", v.Connect},
			{"contact", "How long until a group answers", "Referrals, by the time from consent to a group's first answer", v.FirstContact},
			{"meeting", "How long until the first meeting", "Referrals whose patient went to the first meeting, by the time from consent to its start", v.FirstMeeting},
		} {
			bars, h := histBars(c.bins)
			p.Times = append(p.Times, histChart{ID: c.id, Heading: c.heading, Caption: c.caption, Bars: bars, H: h})
		}
	}
	return renderPage(w, "admin", p)
}

func funnelBars(stages []AdminCount) ([]funnelBar, int) {
	var top int64
	for _, s := range stages {
		top = max(top, s.N)
	}
	var out []funnelBar
	for i, s := range stages {
		b := funnelBar{Label: s.Label, Count: strconv.FormatInt(s.N, 10), Y: i * (barHeight + barGap)}
		if top > 0 {
			b.W = int(math.Round(float64(s.N) / float64(top) * float64(chartWidth-labelWidth-90)))
		}
		if i > 0 && stages[i-1].N > 0 {
			b.Rate = fmt.Sprintf("%.0f%%", 100*float64(s.N)/float64(stages[i-1].N))
		}
		b.TextX = labelWidth + b.W + 6
		out = append(out, b)
	}
	return out, len(stages) * (barHeight + barGap)
}

func trend(weeks []AdminWeek) trendChart {
	c := trendChart{Width: chartWidth}
	for _, wk := range weeks {
		c.Max = max(c.Max, wk.Received, wk.Connected)
	}
	if len(weeks) == 0 {
		return c
	}
	slot := (chartWidth - 40) / len(weeks)
	scale := func(n int64) int {
		if c.Max == 0 {
			return 0
		}
		return int(math.Round(float64(n) / float64(c.Max) * (trendHeight - 30)))
	}
	for i, wk := range weeks {
		bw := max(slot/2-2, 2)
		b := trendBar{Label: wk.Label, Received: wk.Received, Connected: wk.Connected, X: 40 + i*slot, W: bw}
		b.HR, b.HC = scale(wk.Received), scale(wk.Connected)
		b.YR, b.YC = trendHeight-20-b.HR, trendHeight-20-b.HC
		c.Bars = append(c.Bars, b)
	}
	return c
}

func histBars(bins []AdminCount) ([]histBar, int) {
	var top int64
	for _, b := range bins {
		top = max(top, b.N)
	}
	var out []histBar
	for i, b := range bins {
		h := histBar{Label: b.Label, N: b.N, Y: i * (barHeight + barGap)}
		if top > 0 {
			h.W = int(math.Round(float64(b.N) / float64(top) * float64(chartWidth-labelWidth-60)))
		}
		out = append(out, h)
	}
	return out, len(bins) * (barHeight + barGap)
}
