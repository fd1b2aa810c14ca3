package textlimit

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func ny(t testing.TB) *time.Location {
	t.Helper()
	l, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestDecide: one a day, three in any seven days, not at night; a text
// that cannot go now waits while it is still of use, else goes by email,
// else is not sent.
func TestDecide(t *testing.T) {
	loc := ny(t)
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	sends := func(ss ...string) Sends {
		var out Sends
		for _, s := range ss {
			out = append(out, at(s))
		}
		return out
	}
	tests := []struct {
		name   string
		sent   Sends
		now    string
		latest string // "" for none
		email  bool
		want   Kind
		wantAt string
	}{
		{name: "nothing sent", now: "2026-03-10 10:00", want: SendNow},
		{name: "one sent today: tomorrow morning", sent: sends("2026-03-10 09:00"), now: "2026-03-10 10:00", want: Wait, wantAt: "2026-03-11 08:00"},
		{name: "one sent yesterday late", sent: sends("2026-03-09 20:59"), now: "2026-03-10 08:00", want: SendNow},
		{name: "three in the seven days: the day the first leaves them", sent: sends("2026-03-07 10:00", "2026-03-08 10:00", "2026-03-09 10:00"),
			now: "2026-03-10 10:00", want: Wait, wantAt: "2026-03-14 08:00"},
		{name: "the third is eight days back", sent: sends("2026-03-02 10:00", "2026-03-08 10:00", "2026-03-09 10:00"),
			now: "2026-03-10 10:00", want: SendNow},
		{name: "seven days back still counts", sent: sends("2026-03-04 10:00", "2026-03-08 10:00", "2026-03-09 10:00"),
			now: "2026-03-10 10:00", want: Wait, wantAt: "2026-03-11 08:00"},
		{name: "order of the record does not matter", sent: sends("2026-03-09 10:00", "2026-03-07 10:00", "2026-03-08 10:00"),
			now: "2026-03-10 10:00", want: Wait, wantAt: "2026-03-14 08:00"},
		{name: "at night it waits for the morning", now: "2026-03-10 21:00", want: Wait, wantAt: "2026-03-11 08:00"},
		{name: "early it waits for eight", now: "2026-03-10 06:30", want: Wait, wantAt: "2026-03-10 08:00"},
		{name: "waiting would be too late: email", sent: sends("2026-03-10 09:00"), now: "2026-03-10 10:00", latest: "2026-03-10 19:00", email: true, want: ByEmail},
		{name: "too late and no email: not sent", sent: sends("2026-03-10 09:00"), now: "2026-03-10 10:00", latest: "2026-03-10 19:00", want: Skip},
		{name: "in time after waiting", sent: sends("2026-03-10 09:00"), now: "2026-03-10 10:00", latest: "2026-03-11 19:00", email: true, want: Wait, wantAt: "2026-03-11 08:00"},
		// 20:30 EST on the 7th is 01:30 UTC on the 8th: it counts on the 7th.
		{name: "days are the patient's, across the change", sent: sends("2026-03-07 20:30"), now: "2026-03-08 09:00", want: SendNow},
		{name: "the morning after the change, in daylight time", sent: sends("2026-03-08 09:00"), now: "2026-03-08 10:00", want: Wait, wantAt: "2026-03-09 08:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var latest time.Time
			if tt.latest != "" {
				latest = at(tt.latest)
			}
			d := Default.Decide(tt.sent, at(tt.now), loc, latest, tt.email)
			if d.Kind != tt.want {
				t.Fatalf("%s, want %s (at %s)", d.Kind, tt.want, d.At)
			}
			if tt.wantAt != "" && !d.At.Equal(at(tt.wantAt)) {
				t.Errorf("at %s, want %s", d.At.In(loc), tt.wantAt)
			}
		})
	}
}

// TestDecideInUTC: without the patient's zone, days are UTC days.
func TestDecideInUTC(t *testing.T) {
	sent := Sends{time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
	d := Policy{PerDay: 1, PerWeek: 3}.Decide(sent, time.Date(2026, 3, 10, 23, 59, 0, 0, time.UTC), nil, time.Time{}, false)
	if d.Kind != Wait || !d.At.Equal(time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("%+v", d)
	}
}

// TestKeep: the record keeps the last PerWeek sends, in order.
func TestKeep(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var s Sends
	for i := range 5 {
		s = s.Keep(t0.AddDate(0, 0, 4-i), 3) // newest first, out of order
	}
	if len(s) != 3 || !s[0].Equal(t0.AddDate(0, 0, 2)) || !s[2].Equal(t0.AddDate(0, 0, 4)) {
		t.Errorf("%v", s)
	}
}

// TestNeverMoreThanTheLimits: far more texts due than the limits allow,
// at random times over four weeks; each is sent when Decide says so (a
// wait is tried again at its time). No local day gets two, no seven days
// in a row more than three, none goes at night, and every text that was
// allowed to wait went.
func TestNeverMoreThanTheLimits(t *testing.T) {
	loc := ny(t)
	r := rand.New(rand.NewPCG(7, 23))
	start := time.Date(2026, 2, 23, 0, 0, 0, 0, loc) // across the March change
	for round := range 50 {
		var due []time.Time
		for range 5 + r.IntN(20) {
			due = append(due, start.Add(time.Duration(r.Int64N(int64(28*24*time.Hour)))))
		}
		sort.Slice(due, func(i, j int) bool { return due[i].Before(due[j]) })
		var sent Sends
		var all []time.Time
		queue := append([]time.Time(nil), due...)
		for len(queue) > 0 {
			sort.Slice(queue, func(i, j int) bool { return queue[i].Before(queue[j]) })
			now := queue[0]
			queue = queue[1:]
			d := Default.Decide(sent, now, loc, time.Time{}, false)
			switch d.Kind {
			case SendNow:
				sent = sent.Keep(now, Default.PerWeek)
				all = append(all, now)
			case Wait:
				if !d.At.After(now) {
					t.Fatalf("round %d: a wait that is no wait", round)
				}
				queue = append(queue, d.At)
			default:
				t.Fatalf("round %d: %s without a latest", round, d.Kind)
			}
		}
		if len(all) != len(due) {
			t.Fatalf("round %d: %d of %d sent", round, len(all), len(due))
		}
		perDay := map[time.Time]int{}
		for _, s := range all {
			day := localDay(s, loc)
			perDay[day]++
			if perDay[day] > 1 {
				t.Errorf("round %d: two texts on %s", round, day.Format("2006-01-02"))
			}
			if h := s.In(loc).Hour(); h < 8 || h >= 21 {
				t.Errorf("round %d: a text at %s", round, s.In(loc))
			}
			n := 0
			for _, o := range all {
				if d := localDay(o, loc); !d.After(day) && d.After(day.AddDate(0, 0, -7)) {
					n++
				}
			}
			if n > 3 {
				t.Errorf("round %d: %d texts in the seven days to %s", round, n, day.Format("2006-01-02"))
			}
		}
	}
}
