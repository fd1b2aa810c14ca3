package directory

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/referral"
)

// DefaultLimit is how many matches Rank returns when Query.Limit is not set.
const DefaultLimit = 3

// MaxDistanceKm is the farthest an in-person group is offered.
const MaxDistanceKm = 80.0

// Query is what a referral asks of the directory.
type Query struct {
	Topics []string
	// Lat and Lon are the patient's coarse location (a cell's centre), valid
	// when HasLocation is set. Without a location only online groups match.
	Lat, Lon    float64
	HasLocation bool
	// Language is the patient's preferred language (BCP-47): a soft
	// preference. Prefs.Languages, when given, are required instead: a group
	// must offer one of them, and the first is preferred.
	Language string
	Prefs    referral.Preferences
	// Limit is how many matches to return (DefaultLimit when 0 or less).
	Limit int
	// Now is when the match is made: a no-capacity penalty running at Now
	// lowers a group's score.
	Now time.Time
	// Zone is the patient's IANA time zone (see geo.ZoneOfPostal), "" when
	// unknown: online meetings are then ranked and described by the
	// patient's clock (see online.go).
	Zone string
}

// Candidate is the compact copy of a listing that ranking needs. The store
// keeps one on every match-index item, so one read of a cell gives
// candidates without reading each group.
type Candidate struct {
	GroupID           string    `json:"group_id"`
	Name              string    `json:"name"`
	Topics            []string  `json:"topics"`
	Model             string    `json:"model,omitempty"`
	Spirituality      string    `json:"spirituality,omitempty"`
	Formats           []string  `json:"formats"`
	Languages         []string  `json:"languages"`
	Meetings          []Slot    `json:"meetings,omitempty"`
	HasLocation       bool      `json:"has_location,omitempty"`
	Lat               float64   `json:"lat,omitempty"`
	Lon               float64   `json:"lon,omitempty"`
	Audience          []string  `json:"audience,omitempty"`
	Accessibility     []string  `json:"accessibility,omitempty"`
	Accepting         bool      `json:"accepting"`
	Paused            bool      `json:"paused,omitempty"`
	PausedUntil       time.Time `json:"paused_until,omitzero"` // a paused group is offered again from then
	TemporarilyClosed bool      `json:"temporarily_closed,omitempty"`
	WeeklyCapacity    int       `json:"weekly_capacity,omitempty"`
	PenaltyUntil      time.Time `json:"penalty_until,omitzero"`
}

// Slot is when a meeting starts, in the group's local time.
type Slot struct {
	Day  string `json:"day"`  // mon..sun
	Time string `json:"time"` // HH:MM
	Zone string `json:"tz,omitempty"`
}

// CandidateOf makes the compact copy of a listing. A group of the
// secular-recovery model that does not state its spirituality counts as
// secular.
func CandidateOf(g Group) Candidate {
	c := Candidate{
		GroupID: g.ID, Name: g.Name, Topics: g.Topics, Model: g.Model, Spirituality: g.Spirituality,
		Formats: g.Formats, Languages: g.Languages, Audience: g.Audience, Accessibility: g.Accessibility,
		Accepting: g.AcceptingReferrals, Paused: g.Paused, TemporarilyClosed: g.TemporarilyClosed,
		WeeklyCapacity: g.WeeklyCapacity, PenaltyUntil: g.PenaltyUntil,
	}
	if g.Paused {
		c.PausedUntil = g.PausedUntil
	}
	if c.Spirituality == "" && c.Model == ModelSecularRecovery {
		c.Spirituality = Secular
	}
	if g.HasLocation() {
		c.HasLocation, c.Lat, c.Lon = true, g.Location.Lat, g.Location.Lon
	}
	for _, m := range g.Meetings {
		c.Meetings = append(c.Meetings, Slot{Day: m.Day, Time: m.Time, Zone: m.Timezone})
	}
	return c
}

// Match is one group offered for a referral, best first.
type Match struct {
	Group      GroupRef `json:"group"`
	Score      float64  `json:"score"`
	DistanceKm float64  `json:"distance_km"` // left out of JSON for a group offered online
	Reasons    []string `json:"reasons"`
	// Online is set when the group is offered for online attendance.
	Online bool `json:"online,omitempty"`
}

// GroupRef names a group.
type GroupRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Weights of the score's parts. A group's score is the sum of the parts that
// apply; only their order matters, not their scale.
const (
	weightDistance     = 3.0 // in person: 3 at 0 km falling to 0 at MaxDistanceKm
	onlineDistance     = 0.5 // online attendance counts as a middling distance
	weightSchedule     = 1.5 // a meeting on a preferred day and time of day
	weightLanguage     = 2.0 // the first preferred language; later ones half
	weightSpirituality = 1.5 // added on a match, taken off on a clash
	weightAudience     = 1.0 // added on a match; taken off for a group for another audience
	weightAccess       = 0.5 // per accessibility need met (wheelchair is a filter)
	penaltyNoCapacity  = 2.5 // after a recent no-capacity decline
)

// exclusiveAudiences are audiences a group is only for: such a group is
// ranked down for a patient who did not ask for it.
var exclusiveAudiences = [...]string{"women", "men", "teens", "young-people"}

// Rank filters and orders candidates for a query and returns the best
// Query.Limit of them. The same group seen several times (from several cells
// or topics) counts once.
//
// A candidate is dropped unless it shares a topic with the query, accepts
// referrals, is neither paused nor temporarily closed, and can be attended the
// way the patient accepts (Prefs.Formats, empty for any): in person within
// MaxDistanceKm of the patient (with wheelchair access when the patient needs
// it), or online. When Prefs.Languages is given the group must offer one of
// them.
//
// The score then adds closeness (online attendance counts as a middling
// distance), a meeting at a preferred day and time of day (morning before
// 12:00, afternoon before 17:00, evening after), the preferred language, the
// spirituality asked for, the audience and accessibility asked for, and takes
// off for a clashing spirituality, a group for another audience and a recent
// no-capacity decline. Ties are broken by distance, then group id, so the
// order is the same on every run. Reasons say in plain words why each group
// was offered.
func Rank(q Query, cands []Candidate) []Match {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	p := newPrefs(q)
	seen := make(map[string]struct{}, len(cands))
	top := make([]ranked, 0, limit+1)
	for i := range cands {
		c := &cands[i]
		if _, dup := seen[c.GroupID]; dup {
			continue
		}
		seen[c.GroupID] = struct{}{}
		r, ok := p.rank(c)
		if !ok {
			continue
		}
		r.cand = c
		if len(top) == limit && !r.before(&top[limit-1]) {
			continue
		}
		at, _ := slices.BinarySearchFunc(top, r, func(a, b ranked) int {
			if a.before(&b) {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, at, r)
		if len(top) > limit {
			top = top[:limit]
		}
	}
	out := make([]Match, len(top))
	for i := range top {
		out[i] = p.match(&top[i])
	}
	return out
}

// ranked is a candidate that passed the filters, with its rounded score and
// distance (rounded so that ties are ties in what callers see).
type ranked struct {
	cand     *Candidate
	score    float64
	distance float64
	online   bool
}

func (a *ranked) before(b *ranked) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if a.distance != b.distance {
		return a.distance < b.distance
	}
	return a.cand.GroupID < b.cand.GroupID
}

// prefs is a query made ready for scoring many candidates.
type prefs struct {
	q                       Query
	inPerson, online, hyb   bool
	wheelchair              bool
	softAccess              []string
	langs                   []string // preferred languages, base subtags, in order
	requireLang             bool
	days                    [7]bool
	anyDay                  bool
	morning, afternoon, eve bool
	anyTime                 bool
	zone                    *time.Location // the patient's, nil when unknown
}

func newPrefs(q Query) *prefs {
	p := &prefs{q: q, zone: loadZone(q.Zone)}
	if len(q.Prefs.Formats) == 0 {
		p.inPerson, p.online = true, true
	}
	for _, f := range q.Prefs.Formats {
		switch f {
		case InPerson:
			p.inPerson = true
		case Online:
			p.online = true
		case Hybrid:
			p.hyb = true
		}
	}
	for _, a := range q.Prefs.Accessibility {
		if a == "wheelchair" {
			p.wheelchair = true
		} else {
			p.softAccess = append(p.softAccess, a)
		}
	}
	if len(q.Prefs.Languages) > 0 {
		p.requireLang = true
		for _, l := range q.Prefs.Languages {
			p.langs = append(p.langs, BaseLanguage(l))
		}
	} else if q.Language != "" {
		p.langs = []string{BaseLanguage(q.Language)}
	}
	for _, d := range q.Prefs.Days {
		if i := dayIndex(d); i >= 0 {
			p.days[i], p.anyDay = true, true
		}
	}
	for _, t := range q.Prefs.Times {
		switch t {
		case "morning":
			p.morning, p.anyTime = true, true
		case "afternoon":
			p.afternoon, p.anyTime = true, true
		case "evening":
			p.eve, p.anyTime = true, true
		}
	}
	return p
}

func (p *prefs) rank(c *Candidate) (ranked, bool) {
	paused := c.Paused && (c.PausedUntil.IsZero() || p.q.Now.Before(c.PausedUntil))
	if !c.Accepting || paused || c.TemporarilyClosed || !sharesAny(c.Topics, p.q.Topics) {
		return ranked{}, false
	}
	inPerson, online, hybrid := formatsOf(c.Formats)
	r := ranked{}
	score := 0.0
	// In person first: it is preferred whenever it is possible.
	viaInPerson := false
	if inPerson && (p.inPerson || (p.hyb && hybrid)) && p.q.HasLocation && c.HasLocation &&
		(!p.wheelchair || slices.Contains(c.Accessibility, "wheelchair")) {
		d := geo.DistanceKm(p.q.Lat, p.q.Lon, c.Lat, c.Lon)
		if d <= MaxDistanceKm {
			viaInPerson = true
			r.distance = math.Round(d*100) / 100
			score += weightDistance * (1 - d/MaxDistanceKm)
		}
	}
	if !viaInPerson {
		if !online || !(p.online || (p.hyb && hybrid)) {
			return ranked{}, false
		}
		r.online = true
		score += p.onlineCloseness(c)
	}
	if len(p.langs) > 0 {
		best := -1
		for i, l := range p.langs {
			if offersLanguage(c.Languages, l) {
				best = i
				break
			}
		}
		switch {
		case best == 0:
			score += weightLanguage
		case best > 0:
			score += weightLanguage / 2
		case p.requireLang:
			return ranked{}, false
		}
	}
	if fit := p.scheduleFit(p.slotsFor(c, r.online)); fit > 0 {
		score += weightSchedule * fit
	}
	if want := p.q.Prefs.Spirituality; want != "" && c.Spirituality != "" {
		if want == c.Spirituality {
			score += weightSpirituality
		} else {
			score -= weightSpirituality
		}
	}
	if len(c.Audience) > 0 {
		if sharesAny(c.Audience, p.q.Prefs.Audience) {
			score += weightAudience
		} else if sharesAny(c.Audience, exclusiveAudiences[:]) {
			score -= weightAudience
		}
	}
	for _, a := range p.softAccess {
		if slices.Contains(c.Accessibility, a) {
			score += weightAccess
		}
	}
	if c.PenaltyUntil.After(p.q.Now) {
		score -= penaltyNoCapacity
	}
	r.score = math.Round(score*1000) / 1000
	return r, true
}

// scheduleFit is 1 when a meeting falls on a preferred day at a preferred
// time of day, ½ when one of the two preferences given is met, 0 otherwise
// (and 0 when the patient gave no preference).
func (p *prefs) scheduleFit(slots []Slot) float64 {
	if !p.anyDay && !p.anyTime {
		return 0
	}
	best := 0.0
	for _, m := range slots {
		f := p.slotFit(m)
		best = max(best, f)
		if best == 1 {
			break
		}
	}
	return best
}

func (p *prefs) slotFit(m Slot) float64 {
	dayOK, timeOK := !p.anyDay, !p.anyTime
	if p.anyDay {
		if i := dayIndex(m.Day); i >= 0 {
			dayOK = p.days[i]
		}
	}
	if p.anyTime {
		switch partOfDay(m.Time) {
		case "morning":
			timeOK = p.morning
		case "afternoon":
			timeOK = p.afternoon
		case "evening":
			timeOK = p.eve
		}
	}
	switch {
	case dayOK && timeOK:
		return 1
	case p.anyDay && p.anyTime && (dayOK || timeOK):
		return 0.5
	}
	return 0
}

// partOfDay names when a meeting at "HH:MM" falls: morning before 12:00,
// afternoon before 17:00, evening after; "" for an unreadable time.
func partOfDay(hhmm string) string {
	mins, ok := parseHHMM(hhmm)
	switch {
	case !ok:
		return ""
	case mins < 12*60:
		return "morning"
	case mins < 17*60:
		return "afternoon"
	}
	return "evening"
}

// match renders a ranked candidate, with the reasons it was offered.
func (p *prefs) match(r *ranked) Match {
	c := r.cand
	m := Match{Group: GroupRef{ID: c.GroupID, Name: c.Name}, Score: r.score, DistanceKm: r.distance, Online: r.online}
	if r.online {
		m.Reasons = append(m.Reasons, "online")
	} else {
		m.Reasons = append(m.Reasons, distanceText(r.distance))
	}
	if local := p.onlineReasons(r); len(local) > 0 {
		m.Reasons = append(m.Reasons, local...)
	} else if p.anyDay || p.anyTime {
		for _, s := range c.Meetings {
			if p.slotFit(s) == 1 {
				m.Reasons = append(m.Reasons, "meets "+dayNames[max(dayIndex(s.Day), 0)]+" "+partOfDay(s.Time))
				break
			}
		}
	}
	if want := p.q.Prefs.Spirituality; want != "" && want == c.Spirituality {
		m.Reasons = append(m.Reasons, want)
	}
	for _, l := range p.langs {
		if offersLanguage(c.Languages, l) {
			if l != "en" || p.requireLang {
				m.Reasons = append(m.Reasons, languageName(l)+"-speaking")
			}
			break
		}
	}
	for _, a := range c.Audience {
		if slices.Contains(p.q.Prefs.Audience, a) {
			m.Reasons = append(m.Reasons, "for "+audienceText(a))
		}
	}
	if p.wheelchair && !r.online {
		m.Reasons = append(m.Reasons, "wheelchair accessible")
	}
	for _, a := range p.softAccess {
		if slices.Contains(c.Accessibility, a) {
			m.Reasons = append(m.Reasons, accessText(a))
		}
	}
	return m
}

func distanceText(km float64) string {
	if km < 10 {
		return strconv.FormatFloat(km, 'f', 1, 64) + " km away"
	}
	return strconv.FormatFloat(math.Round(km), 'f', 0, 64) + " km away"
}

func formatsOf(fs []string) (inPerson, online, hybrid bool) {
	for _, f := range fs {
		switch f {
		case InPerson:
			inPerson = true
		case Online:
			online = true
		case Hybrid:
			inPerson, online, hybrid = true, true, true
		}
	}
	return inPerson, online, hybrid
}

func offersLanguage(langs []string, base string) bool {
	for _, l := range langs {
		if BaseLanguage(l) == base {
			return true
		}
	}
	return false
}

func sharesAny(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// languageNames are the English names of the languages groups commonly meet
// in, for reasons; another language is named by its code.
var languageNames = map[string]string{
	"en": "English", "es": "Spanish", "fr": "French", "pt": "Portuguese", "pl": "Polish",
	"ru": "Russian", "uk": "Ukrainian", "zh": "Chinese", "vi": "Vietnamese", "ko": "Korean",
	"ja": "Japanese", "tl": "Tagalog", "ar": "Arabic", "fa": "Persian", "hi": "Hindi",
	"pa": "Punjabi", "de": "German", "it": "Italian", "he": "Hebrew", "ht": "Haitian Creole",
	"el": "Greek", "tr": "Turkish", "nl": "Dutch", "sv": "Swedish", "am": "Amharic",
	"ase": "American Sign Language",
}

func languageName(base string) string {
	if n, ok := languageNames[base]; ok {
		return n
	}
	return base
}

func audienceText(a string) string {
	switch a {
	case "young-people":
		return "young people"
	case "people-of-color":
		return "people of color"
	case "lgbtq":
		return "LGBTQ+ people"
	}
	return a
}

func accessText(a string) string {
	switch a {
	case "asl":
		return "American Sign Language"
	case "hearing-loop":
		return "hearing loop"
	case "wheelchair-restroom":
		return "wheelchair-accessible restroom"
	case "fragrance-free":
		return "fragrance free"
	case "childcare":
		return "childcare available"
	}
	return a
}
