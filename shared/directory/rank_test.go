package directory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/referral"
)

var rankNow = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

// Around Chicago's Loop (41.8847, -87.6245); 0.01° of latitude is 1.11 km.
func cand(id string, dLat float64, edit ...func(*Candidate)) Candidate {
	c := Candidate{
		GroupID: id, Name: "Group " + id, Topics: []string{"alcohol"}, Formats: []string{InPerson},
		Languages: []string{"en"}, HasLocation: true, Lat: 41.8847 + dLat, Lon: -87.6245, Accepting: true,
		Meetings: []Slot{{Day: "mon", Time: "19:00"}},
	}
	for _, e := range edit {
		e(&c)
	}
	return c
}

func query(edit ...func(*Query)) Query {
	q := Query{Topics: []string{"alcohol"}, Lat: 41.8847, Lon: -87.6245, HasLocation: true, Now: rankNow, Limit: 10}
	for _, e := range edit {
		e(&q)
	}
	return q
}

func ids(ms []Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Group.ID
	}
	return out
}

func TestRank(t *testing.T) {
	tests := []struct {
		name  string
		q     Query
		cands []Candidate
		want  []string
	}{
		{name: "closer first", q: query(),
			cands: []Candidate{cand("far", 0.3), cand("near", 0.01), cand("mid", 0.1)},
			want:  []string{"near", "mid", "far"}},
		{name: "topic must overlap", q: query(),
			cands: []Candidate{cand("grief", 0.01, func(c *Candidate) { c.Topics = []string{"grief"} }), cand("aa", 0.2)},
			want:  []string{"aa"}},
		{name: "beyond 80 km in person is out", q: query(),
			cands: []Candidate{cand("81km", 0.73), cand("79km", 0.71)},
			want:  []string{"79km"}},
		{name: "not accepting, paused, closed are out", q: query(),
			cands: []Candidate{
				cand("closed", 0.01, func(c *Candidate) { c.TemporarilyClosed = true }),
				cand("paused", 0.01, func(c *Candidate) { c.Paused = true }),
				cand("full", 0.01, func(c *Candidate) { c.Accepting = false }),
				cand("ok", 0.2)},
			want: []string{"ok"}},
		{name: "the same group from several cells counts once", q: query(),
			cands: []Candidate{cand("a", 0.01), cand("b", 0.02), cand("a", 0.01)},
			want:  []string{"a", "b"}},
		{name: "online only patient gets online and hybrid groups", q: query(func(q *Query) { q.Prefs.Formats = []string{Online} }),
			cands: []Candidate{cand("room", 0.01), cand("zoom", 5, func(c *Candidate) { c.Formats = []string{Online}; c.HasLocation = false }),
				cand("both", 0.02, func(c *Candidate) { c.Formats = []string{Hybrid} })},
			want: []string{"both", "zoom"}},
		{name: "no location: online only", q: query(func(q *Query) { q.HasLocation = false }),
			cands: []Candidate{cand("room", 0.01), cand("zoom", 0, func(c *Candidate) { c.Formats = []string{Online} })},
			want:  []string{"zoom"}},
		{name: "required language filters", q: query(func(q *Query) { q.Prefs.Languages = []string{"es"} }),
			cands: []Candidate{cand("en", 0.01), cand("es", 0.2, func(c *Candidate) { c.Languages = []string{"es-MX"} })},
			want:  []string{"es"}},
		{name: "preferred language is soft", q: query(func(q *Query) { q.Language = "es" }),
			cands: []Candidate{cand("en", 0.01), cand("es", 0.2, func(c *Candidate) { c.Languages = []string{"es"} })},
			want:  []string{"es", "en"}},
		{name: "wheelchair need filters in person only", q: query(func(q *Query) { q.Prefs.Accessibility = []string{"wheelchair"} }),
			cands: []Candidate{cand("stairs", 0.01), cand("ramp", 0.3, func(c *Candidate) { c.Accessibility = []string{"wheelchair"} }),
				cand("zoom", 0, func(c *Candidate) { c.Formats = []string{Online} })},
			want: []string{"ramp", "zoom"}},
		{name: "secular preference lifts secular groups", q: query(func(q *Query) { q.Prefs.Spirituality = Secular }),
			cands: []Candidate{cand("spiritual", 0.01, func(c *Candidate) { c.Spirituality = Spiritual }),
				cand("unsaid", 0.02), cand("secular", 0.2, func(c *Candidate) { c.Spirituality = Secular })},
			want: []string{"secular", "unsaid", "spiritual"}},
		{name: "schedule fit", q: query(func(q *Query) { q.Prefs.Days = []string{"sat"}; q.Prefs.Times = []string{"morning"} }),
			cands: []Candidate{cand("mon-eve", 0.01), cand("sat-eve", 0.05, func(c *Candidate) { c.Meetings = []Slot{{Day: "sat", Time: "19:00"}} }),
				cand("sat-am", 0.1, func(c *Candidate) { c.Meetings = []Slot{{Day: "mon", Time: "19:00"}, {Day: "sat", Time: "09:00"}} })},
			want: []string{"sat-am", "sat-eve", "mon-eve"}},
		{name: "a group for another audience goes down", q: query(),
			cands: []Candidate{cand("men", 0.01, func(c *Candidate) { c.Audience = []string{"men"} }), cand("all", 0.1)},
			want:  []string{"all", "men"}},
		{name: "the audience asked for goes up", q: query(func(q *Query) { q.Prefs.Audience = []string{"women"} }),
			cands: []Candidate{cand("all", 0.01), cand("women", 0.2, func(c *Candidate) { c.Audience = []string{"women"} })},
			want:  []string{"women", "all"}},
		{name: "a recent no-capacity decline goes down", q: query(),
			cands: []Candidate{cand("declined", 0.01, func(c *Candidate) { c.PenaltyUntil = rankNow.Add(time.Hour) }),
				cand("expired-penalty", 0.02, func(c *Candidate) { c.PenaltyUntil = rankNow.Add(-time.Hour) }), cand("other", 0.2)},
			want: []string{"expired-penalty", "other", "declined"}},
		{name: "ties break by id", q: query(),
			cands: []Candidate{cand("c", 0.05), cand("a", 0.05), cand("b", 0.05)},
			want:  []string{"a", "b", "c"}},
		{name: "limit", q: query(func(q *Query) { q.Limit = 2 }),
			cands: []Candidate{cand("d", 0.04), cand("c", 0.03), cand("b", 0.02), cand("a", 0.01)},
			want:  []string{"a", "b"}},
		{name: "default limit is 3", q: query(func(q *Query) { q.Limit = 0 }),
			cands: []Candidate{cand("d", 0.04), cand("c", 0.03), cand("b", 0.02), cand("a", 0.01)},
			want:  []string{"a", "b", "c"}},
		{name: "nothing matches", q: query(func(q *Query) { q.Topics = []string{"cancer"} }),
			cands: []Candidate{cand("a", 0.01)}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(Rank(tt.q, tt.cands))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Rank = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRankReasons(t *testing.T) {
	q := query(func(q *Query) {
		q.Prefs = referral.Preferences{Spirituality: Secular, Languages: []string{"es", "en"}, Days: []string{"mon"},
			Times: []string{"evening"}, Accessibility: []string{"wheelchair", "asl"}, Audience: []string{"women"}}
	})
	c := cand("x", 0.019, func(c *Candidate) {
		c.Spirituality, c.Languages, c.Audience = Secular, []string{"es"}, []string{"women"}
		c.Accessibility = []string{"wheelchair", "asl"}
	})
	ms := Rank(q, []Candidate{c})
	if len(ms) != 1 {
		t.Fatalf("got %d matches", len(ms))
	}
	want := []string{"2.1 km away", "meets Monday evening", "secular", "Spanish-speaking", "for women", "wheelchair accessible", "American Sign Language"}
	if !slices.Equal(ms[0].Reasons, want) {
		t.Errorf("reasons = %q, want %q", ms[0].Reasons, want)
	}
	if ms[0].DistanceKm != 2.11 {
		t.Errorf("distance = %v", ms[0].DistanceKm)
	}
	online := Rank(query(), []Candidate{cand("z", 0, func(c *Candidate) { c.Formats = []string{Online}; c.HasLocation = false })})
	if len(online) != 1 || !online[0].Online || online[0].DistanceKm != 0 || online[0].Reasons[0] != "online" {
		t.Errorf("online match = %+v", online)
	}
}

func TestRankIsDeterministic(t *testing.T) {
	cands := benchCandidates(500)
	q := query(func(q *Query) { q.Limit = 20 })
	want := Rank(q, cands)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(cands)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Rank(q, shuffled); !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("order depends on input order:\n%v\n%v", ids(got), ids(want))
		}
	}
}

// benchCandidates makes n candidates within about 40 km of the query, of
// mixed kinds, deterministically.
func benchCandidates(n int) []Candidate {
	r := rand.New(rand.NewPCG(42, 7))
	spirits := []string{"", Spiritual, Secular}
	out := make([]Candidate, n)
	for i := range out {
		out[i] = cand(fmt.Sprintf("g%04d", i), r.Float64()*0.7-0.35, func(c *Candidate) {
			c.Lon += r.Float64()*0.7 - 0.35
			c.Spirituality = spirits[i%3]
			if i%5 == 0 {
				c.Languages = []string{"es", "en"}
			}
			if i%7 == 0 {
				c.Formats = []string{Hybrid}
			}
			if i%4 == 0 {
				c.Accessibility = []string{"wheelchair"}
			}
			c.Meetings = []Slot{{Day: days[i%7], Time: formatHHMM(7*60 + (i%14)*60)}, {Day: days[(i+3)%7], Time: "19:00"}}
		})
	}
	return out
}

func BenchmarkRank(b *testing.B) {
	cands := benchCandidates(1000)
	q := query(func(q *Query) {
		q.Limit = 3
		q.Language = "es"
		q.Prefs = referral.Preferences{Spirituality: Secular, Days: []string{"mon", "wed"}, Times: []string{"evening"},
			Accessibility: []string{"wheelchair"}}
	})
	b.ReportAllocs()
	for b.Loop() {
		if len(Rank(q, cands)) != 3 {
			b.Fatal("want 3 matches")
		}
	}
}
