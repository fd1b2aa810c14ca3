package outcomes

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
)

func ptr(n int64) *int64 { return &n }

func val(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func hours(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestDurations: a histogram's count and the upper bound of the bucket
// each quantile falls in; none past the last bucket, none of an empty one.
func TestDurations(t *testing.T) {
	tests := []struct {
		name     string
		counters map[string]int64
		count    int64
		p50, p90 any
	}{
		{"empty", nil, 0, nil, nil},
		{"one bucket", map[string]int64{"tc_le_4": 3}, 3, 4.0, 4.0},
		{"spread", map[string]int64{"tc_le_1": 5, "tc_le_24": 4, "tc_le_168": 1}, 10, 1.0, 24.0},
		{"past the last", map[string]int64{"tc_le_2": 1, "tc_gt": 9}, 10, nil, nil},
		{"another prefix is not read", map[string]int64{"tx_le_1": 7}, 0, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := durations(tc.counters, "tc")
			if h.count != tc.count || hours(h.P50Hours) != tc.p50 || hours(h.P90Hours) != tc.p90 {
				t.Errorf("durations = %d %v %v, want %d %v %v", h.count, hours(h.P50Hours), hours(h.P90Hours), tc.count, tc.p50, tc.p90)
			}
		})
	}
}

// items are one day's counters of two clinics whose ids start the same.
var items = []dynamo.OutcomeItem{
	{Day: "2026-05-04", Scope: "C#lake", Counters: map[string]int64{"received": 40, "consented": 12, "s_consented": 12, "email_sent": 30, "tc_le_8": 12}},
	{Day: "2026-05-04", Scope: "C#lake#T#alcohol", Counters: map[string]int64{"received": 30, "consented": 9}},
	{Day: "2026-05-04", Scope: "C#lake#T#grief", Counters: map[string]int64{"received": 10, "consented": 3}},
	{Day: "2026-05-04", Scope: "C#lake#H#sms", Counters: map[string]int64{"received": 4}},
	{Day: "2026-05-04", Scope: "C#lake#G#mission-a", Counters: map[string]int64{"g_notified": 14, "g_accepted": 11, "gr_le_2": 11}},
	{Day: "2026-05-04", Scope: "C#lakeside", Counters: map[string]int64{"received": 5}},
}

// TestSummarize: the operator sees every count; a clinic's view suppresses
// a count of 1 to 10 in a breakdown, and in a topic's own report what
// that topic's row does; another clinic whose id starts the same is not
// counted.
func TestSummarize(t *testing.T) {
	day := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	op := summarize(Query{From: day, To: day}, items)
	if val(op.Funnel["received"]) != int64(45) || op.Suppressed {
		t.Errorf("the operator's funnel: received %v, want both clinics' 45", val(op.Funnel["received"]))
	}
	cl := summarize(Query{From: day, To: day, Clinic: "lake", ClinicView: true}, items)
	if val(cl.Funnel["received"]) != int64(40) || val(cl.Funnel["consented"]) != int64(12) || !cl.Suppressed {
		t.Errorf("the clinic's funnel: %v %v", val(cl.Funnel["received"]), val(cl.Funnel["consented"]))
	}
	if val(cl.Topics["alcohol"]["received"]) != int64(30) || val(cl.Topics["grief"]["received"]) != nil || val(cl.Topics["grief"]["consented"]) != nil {
		t.Errorf("the clinic's topics: alcohol %v, grief %v (want suppressed)", val(cl.Topics["alcohol"]["received"]), val(cl.Topics["grief"]["received"]))
	}
	if val(cl.FunnelByChannel["sms"]["received"]) != nil {
		t.Errorf("a small channel count is shown: %v", val(cl.FunnelByChannel["sms"]["received"]))
	}
	if len(cl.Groups) != 1 || val(cl.Groups[0].Accepted) != int64(11) || hours(cl.Groups[0].MedianResponseHours) != 2.0 {
		t.Errorf("the clinic's groups: %+v", cl.Groups)
	}
	if cl.Channels["email"].Sent != 30 || hours(cl.TimeToConsent.P50Hours) != 8.0 || val(cl.TimeToConsent.Count) != int64(12) {
		t.Errorf("channels %+v, time to consent %+v", cl.Channels, cl.TimeToConsent)
	}
	grief := summarize(Query{From: day, To: day, Clinic: "lake", Topic: "grief", ClinicView: true}, items)
	if val(grief.Funnel["received"]) != nil || len(grief.Channels) != 0 {
		t.Errorf("a topic's report shows what its row suppresses: %v, channels %v", val(grief.Funnel["received"]), grief.Channels)
	}
}

// TestWriteCSV: a report's CSV has one row per number, "suppressed" for a
// suppressed count and nothing for a missing duration.
func TestWriteCSV(t *testing.T) {
	r := Report{From: "2026-05-01", To: "2026-05-04",
		Funnel:        map[string]*int64{"received": ptr(40), "attended": ptr(0)},
		Statuses:      map[string]*int64{"consented": nil},
		Channels:      map[string]Channel{"email": {Sent: 30, Failed: 2}},
		Groups:        []Group{{GroupID: "mission-a", Notified: ptr(14), Accepted: ptr(0)}},
		Topics:        map[string]map[string]*int64{"grief": {"received": nil}},
		TimeToConsent: Durations{Count: ptr(0)},
	}
	var b bytes.Buffer
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"span,,from": "2026-05-01", "funnel,,received": "40", "funnel,,attended": "0", "statuses,,consented": "suppressed",
		"time_to_consent,,count": "0", "time_to_consent,,p50_hours": "", "channels,email,failed": "2",
		"groups,mission-a,notified": "14", "groups,mission-a,accepted": "0", "topics,grief,received": "suppressed",
	}
	got := map[string]string{}
	for _, row := range rows[1:] {
		got[strings.Join(row[:3], ",")] = row[3]
	}
	if strings.Join(rows[0], ",") != "section,key,metric,value" {
		t.Errorf("header %v", rows[0])
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestHoursLabel: a bucket's bound for a person.
func TestHoursLabel(t *testing.T) {
	for h, want := range map[int]string{1: "1 hour", 8: "8 hours", 24: "24 hours", 48: "2 days", 2160: "90 days"} {
		if got := hoursLabel(h); got != want {
			t.Errorf("hoursLabel(%d) = %q, want %q", h, got, want)
		}
	}
}
