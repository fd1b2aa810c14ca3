package directory

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/language"

	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/phone"
)

// UnansweredPause is the pause reason of a group whose contact left two
// listing checks in a row unanswered. Only an answer of its contact lifts
// it: a PUT of the listing or a feed's import keeps it, unless it names a
// new contact (who has not been asked yet).
const UnansweredPause = "listing checks unanswered"

// Group is a self-help group's listing, as published in the contract (json
// names are the API's and the table's). A group meets at one place (Location)
// and/or online, on a weekly schedule (Meetings).
type Group struct {
	ID          string   `json:"id" validate:"required,groupid"`
	Name        string   `json:"name" validate:"required,max=200"`
	Description string   `json:"description" validate:"max=2000"`
	Topics      []string `json:"topics" validate:"required,min=1,max=5,unique,dive,topic"`
	// Model is the kind of group: twelve-step, secular-recovery, peer-support,
	// disease-specific, family or other.
	Model string `json:"model" validate:"required,oneof=twelve-step secular-recovery peer-support disease-specific family other"`
	// Spirituality is spiritual or secular; empty when the listing does not say.
	Spirituality string `json:"spirituality,omitempty" validate:"omitempty,oneof=spiritual secular"`
	// Formats are how one can attend: in-person, online, hybrid.
	Formats []string `json:"formats" validate:"required,min=1,max=3,unique,dive,oneof=in-person online hybrid"`
	// Languages are BCP-47 tags, in the group's order (the first is its main one).
	Languages []string  `json:"languages" validate:"required,min=1,max=5,unique,dive,language"`
	Meetings  []Meeting `json:"meetings" validate:"max=60,dive"`
	// JoinInstructions say how to join online when no meeting carries a link
	// (e.g. "write to the contact for the link").
	JoinInstructions string `json:"join_instructions,omitempty" validate:"max=500"`
	// Location is where the group meets in person; the zero Location (left
	// out of JSON) for a group that meets only online.
	Location Location `json:"location,omitzero"`
	// Audience narrows who the group is for (see Audiences).
	Audience []string `json:"audience,omitempty" validate:"max=8,unique,dive,audience"`
	// Accessibility lists what the meeting place offers (see AccessibilityFeatures).
	Accessibility []string `json:"accessibility,omitempty" validate:"max=8,unique,dive,accessibility"`
	Contact       Contact  `json:"contact"`
	// Office is the service office its feed names (a Meeting Guide feed's
	// entity, an HSDS organization): who may answer for the group when its
	// contact is silent. The zero Office (left out of JSON) when none.
	Office             Office `json:"office,omitzero"`
	AcceptingReferrals bool   `json:"accepting_referrals"`
	// WeeklyCapacity caps the referrals routed to the group per ISO week; 0 is
	// no cap.
	WeeklyCapacity int `json:"weekly_capacity,omitempty" validate:"gte=0,lte=1000"`
	// Source names where the listing came from ("admin", or an import's source).
	Source string `json:"source" validate:"required,max=64,source"`

	// Paused is set when mail to the contact bounces or is refused, or its
	// listing checks go unanswered (UnansweredPause): a paused
	// group is never offered. A PUT of the listing clears it, except a
	// pause its contact chose, which has an end (PausedUntil, see
	// PausedAt), and the unanswered checks' pause, which only an answer
	// lifts. Other pauses have no end.
	Paused       bool   `json:"paused"`
	PausedReason string `json:"paused_reason,omitempty" validate:"max=200"`
	// TemporarilyClosed marks a group that is not meeting for now (e.g. its
	// place is closed and it has no online meeting): it is never offered.
	TemporarilyClosed bool `json:"temporarily_closed"`
	// PenaltyUntil lowers the group's ranking until then, after it declined a
	// referral for lack of capacity. Set by the store, kept across PUTs.
	PenaltyUntil time.Time `json:"penalty_until,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
	// Listing checks (see shared/listing), set by the store and kept
	// across PUTs: when the contact was last asked whether the listing is
	// right, when they last answered, and until when they paused the group.
	ListingCheckedAt time.Time `json:"listing_checked_at,omitzero"`
	LastConfirmedAt  time.Time `json:"last_confirmed_at,omitzero"`
	PausedUntil      time.Time `json:"paused_until,omitzero"`
	// ListingUnanswered counts the checks in a row nobody answered; from
	// two on, the group is paused with the reason UnansweredPause.
	ListingUnanswered int `json:"listing_unanswered,omitempty"`
	// HandoverTo is the contact the current one handed the group to, until
	// the new address confirms by its own link; HandoverSeq numbers the
	// hand-overs asked for, ContactSeq the one the contact is from (listing
	// links of an earlier contact stop working).
	HandoverTo  *Contact `json:"handover_to,omitempty"`
	HandoverSeq int      `json:"handover_seq,omitempty"`
	ContactSeq  int      `json:"contact_seq,omitempty"`
}

// Meeting is one weekly meeting of a group, in the group's local time.
type Meeting struct {
	Day       string `json:"day" validate:"required,oneof=mon tue wed thu fri sat sun"`
	Time      string `json:"time" validate:"required,hhmm"`
	EndTime   string `json:"end_time" validate:"required,hhmm"`
	Timezone  string `json:"timezone" validate:"required,timezone"`
	OnlineURL string `json:"online_url,omitempty" validate:"omitempty,max=500,http_url"`
}

// Location is where a group meets in person. Lat and Lon place it for
// matching; the rest is shown to a patient who chooses the group.
type Location struct {
	Lat        float64 `json:"lat" validate:"latitude"`
	Lon        float64 `json:"lon" validate:"longitude"`
	PostalCode string  `json:"postal_code" validate:"max=16"`
	Address    string  `json:"address,omitempty" validate:"max=200"`
	City       string  `json:"city,omitempty" validate:"max=100"`
	Region     string  `json:"region,omitempty" validate:"max=100"`
	Country    string  `json:"country,omitempty" validate:"omitempty,iso3166_1_alpha2"`
}

// Contact is who answers referrals for the group. It is never shown to a
// patient unless the patient chose to contact the group themselves.
type Contact struct {
	Name  string `json:"name" validate:"required,max=100"`
	Email string `json:"email" validate:"required,max=254,email"`
	// Phone is the contact's number in E.164 form (+14155550100).
	// Normalize writes a number written nationally in E.164 when the
	// listing's country tells how to read it.
	Phone string `json:"phone,omitempty" validate:"omitempty,e164phone"`
	// Texts tells that the contact agreed to get referral notices by text
	// at Phone (false by default). Only the contact (on the listing page)
	// or the operator turns it on; an import never does, nor turns off an
	// agreement the same contact gave (see Contact.KeepTexts).
	Texts bool `json:"texts,omitzero"`
}

// KeepTexts carries the contact's agreement to texts over from old, the
// stored contact, to c, a listing written without saying (a feed's import,
// or a PUT with no texts field): when old agreed and c names the same
// person (the same email address), c keeps old's number and agreement. A
// new contact has agreed to nothing: c is left as it is.
func (c *Contact) KeepTexts(old Contact) {
	if old.Texts && old.Phone != "" && strings.EqualFold(c.Email, old.Email) {
		c.Phone, c.Texts = old.Phone, true
	}
}

// Office is a service office as a feed gives it: the intergroup, central
// office or district committee (Meeting Guide entity_*), or the
// organization (HSDS) behind a group's listing. Phone is kept as written.
type Office struct {
	Name  string `json:"name,omitempty" validate:"max=200"`
	Email string `json:"email,omitempty" validate:"omitempty,max=254,email"`
	Phone string `json:"phone,omitempty" validate:"max=40"`
	URL   string `json:"url,omitempty" validate:"omitempty,max=500,http_url"`
}

// IsZero reports whether the office is empty.
func (o Office) IsZero() bool { return o == Office{} }

// Limits on a listing, so a group's match-index items fit one DynamoDB
// transaction (see shared/dynamo): MaxTopics × (3 cell levels + MaxLanguages
// online partitions) new items, as many removed, plus the group itself.
const (
	MaxTopics    = 5
	MaxLanguages = 5
)

// Formats.
const (
	InPerson = "in-person"
	Online   = "online"
	Hybrid   = "hybrid"
)

// Spirituality values.
const (
	Spiritual = "spiritual"
	Secular   = "secular"
)

// Group models.
const (
	ModelTwelveStep      = "twelve-step"
	ModelSecularRecovery = "secular-recovery"
	ModelPeerSupport     = "peer-support"
	ModelDiseaseSpecific = "disease-specific"
	ModelFamily          = "family"
	ModelOther           = "other"
)

// audiences is the closed vocabulary of Group.Audience and of a patient's
// audience preference.
var audiences = [...]string{
	"women", "men", "young-people", "seniors", "lgbtq", "newcomers",
	"people-of-color", "indigenous", "professionals", "veterans", "parents", "teens",
}

// accessibilityFeatures is the closed vocabulary of Group.Accessibility and
// of a patient's accessibility needs.
var accessibilityFeatures = [...]string{
	"wheelchair", "wheelchair-restroom", "asl", "hearing-loop", "fragrance-free", "childcare",
}

// Audiences returns the audience vocabulary. The slice is the caller's own.
func Audiences() []string { return slices.Clone(audiences[:]) }

// AccessibilityFeatures returns the accessibility vocabulary. The slice is
// the caller's own.
func AccessibilityFeatures() []string { return slices.Clone(accessibilityFeatures[:]) }

// ValidAudience reports whether a is in the audience vocabulary.
func ValidAudience(a string) bool { return slices.Contains(audiences[:], a) }

// ValidAccessibility reports whether a is in the accessibility vocabulary.
func ValidAccessibility(a string) bool { return slices.Contains(accessibilityFeatures[:], a) }

// days are the meeting days in the contract's spelling, Sunday first (as
// time.Weekday counts).
var days = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// dayNames are the days written out, for reasons shown to people.
var dayNames = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// DayOf returns the contract's spelling of a weekday ("sun".."sat").
func DayOf(d time.Weekday) string { return days[d%7] }

func dayIndex(day string) int {
	for i, d := range days {
		if d == day {
			return i
		}
	}
	return -1
}

// Timezone is the IANA time zone a group meets in: that of its first
// meeting that names one ("" when none does).
func (g *Group) Timezone() string {
	for _, m := range g.Meetings {
		if m.Timezone != "" {
			return m.Timezone
		}
	}
	return ""
}

// Where is where a group meets, in one line: address, city, postal code,
// those it has.
func (g *Group) Where() string {
	var where []string
	for _, s := range []string{g.Location.Address, g.Location.City, g.Location.PostalCode} {
		if s != "" {
			where = append(where, s)
		}
	}
	return strings.Join(where, ", ")
}

// HasLocation reports whether the listing gives a location.
func (g *Group) HasLocation() bool { return g.Location != (Location{}) }

// InPersonPossible reports whether the group can be attended in person.
func (g *Group) InPersonPossible() bool {
	return slices.Contains(g.Formats, InPerson) || slices.Contains(g.Formats, Hybrid)
}

// OnlinePossible reports whether the group can be attended online.
func (g *Group) OnlinePossible() bool {
	return slices.Contains(g.Formats, Online) || slices.Contains(g.Formats, Hybrid)
}

// Offered reports whether the group may be offered to patients at all: it
// accepts referrals, is not paused and is not temporarily closed.
func (g *Group) Offered() bool {
	return g.AcceptingReferrals && !g.Paused && !g.TemporarilyClosed
}

// PausedAt reports whether the group is paused at now. A pause with an end
// (PausedUntil: its contact paused it for some weeks) is over at that time
// whatever else happens; any other pause lasts until something lifts it.
func (g *Group) PausedAt(now time.Time) bool {
	return g.Paused && (g.PausedUntil.IsZero() || now.Before(g.PausedUntil))
}

// EndPause lifts a pause whose end has come (see PausedAt) and reports
// whether it did. Readers of a stored group call it, so that a pause ends
// on time even before anything writes the group again.
func (g *Group) EndPause(now time.Time) bool {
	if !g.Paused || g.PausedAt(now) {
		return false
	}
	g.Unpause()
	return true
}

// MaxPauseReason is the longest pause reason a group keeps, in bytes.
const MaxPauseReason = 200

// Pause stops the group from being offered until something lifts the
// pause: its contact's mail bounced or was refused, its feed no longer
// carries it, its listing checks went unanswered (UnansweredPause). Such a
// pause has no end; it replaces a pause its contact chose, which had one.
// The reason is shown to operators (it must name no person) and is cut to
// MaxPauseReason bytes.
func (g *Group) Pause(reason string) { g.PauseUntil(reason, time.Time{}) }

// PauseUntil pauses the group until a time (its contact paused it for some
// weeks): it is offered again from then, whatever else happens (see
// PausedAt). A zero until is Pause.
func (g *Group) PauseUntil(reason string, until time.Time) {
	if len(reason) > MaxPauseReason {
		reason = strings.ToValidUTF8(reason[:MaxPauseReason], "")
	}
	g.Paused, g.PausedReason, g.PausedUntil = true, reason, until
}

// Unpause lifts any pause: the group is offered again (if it accepts
// referrals and is not temporarily closed).
func (g *Group) Unpause() { g.Paused, g.PausedReason, g.PausedUntil = false, "", time.Time{} }

// TimedPause reports whether the group is paused with an end: its contact
// paused it for some weeks (see PauseUntil), rather than something that
// only an answer or a new listing lifts.
func (g *Group) TimedPause() bool { return g.Paused && !g.PausedUntil.IsZero() }

// Indexed reports whether the group belongs in the match index: it is
// offered, or only paused until a set time. Its index items then carry the
// pause's end (Candidate.PausedUntil), so that ranking offers it again from
// that time without any write.
func (g *Group) Indexed() bool {
	return g.AcceptingReferrals && !g.TemporarilyClosed && (!g.Paused || g.TimedPause())
}

// Normalize tidies a listing before validation: it trims names, lower-cases
// codes, removes duplicates, puts languages in canonical BCP-47 form, defaults
// languages to English, meeting end times to an hour after the start and the
// source to "admin", and places a location that has only a US postal code at
// the code's centroid. It never invents anything Validate would then accept
// wrongly: values it cannot read are left for Validate to reject.
func (g *Group) Normalize() {
	g.ID = strings.TrimSpace(g.ID)
	g.Name = strings.TrimSpace(g.Name)
	g.Description = strings.TrimSpace(g.Description)
	g.Model = lowerTrim(g.Model)
	g.Spirituality = lowerTrim(g.Spirituality)
	g.Topics = tidyCodes(g.Topics)
	g.Formats = tidyCodes(g.Formats)
	g.Audience = tidyCodes(g.Audience)
	g.Accessibility = tidyCodes(g.Accessibility)
	langs := make([]string, 0, len(g.Languages))
	for _, l := range g.Languages {
		l = strings.TrimSpace(l)
		if t, err := language.Parse(l); err == nil {
			l = t.String()
		}
		if l != "" && !slices.Contains(langs, l) {
			langs = append(langs, l)
		}
	}
	if len(langs) == 0 {
		langs = []string{"en"}
	}
	g.Languages = langs
	if g.Meetings == nil {
		g.Meetings = []Meeting{}
	}
	for i := range g.Meetings {
		m := &g.Meetings[i]
		m.Day = lowerTrim(m.Day)
		if len(m.Day) > 3 {
			m.Day = m.Day[:3] // "monday" → "mon"
		}
		m.Time = strings.TrimSpace(m.Time)
		m.EndTime = strings.TrimSpace(m.EndTime)
		m.Timezone = strings.TrimSpace(m.Timezone)
		m.OnlineURL = strings.TrimSpace(m.OnlineURL)
		if m.EndTime == "" {
			if mins, ok := parseHHMM(m.Time); ok {
				m.EndTime = formatHHMM(mins + 60)
			}
		}
	}
	if g.HasLocation() {
		l := &g.Location
		l.Address, l.City, l.Region = OneLine(l.Address), OneLine(l.City), OneLine(l.Region)
		l.PostalCode = strings.TrimSpace(l.PostalCode)
		l.Country = strings.ToUpper(strings.TrimSpace(l.Country))
		if l.Lat == 0 && l.Lon == 0 && l.PostalCode != "" {
			if lat, lon, ok := geo.PostalCentroid(l.Country, l.PostalCode); ok {
				l.Lat, l.Lon = lat, lon
			}
		}
	}
	g.Name = OneLine(g.Name)
	g.Contact.Name = OneLine(g.Contact.Name)
	g.Contact.Email = strings.TrimSpace(g.Contact.Email)
	country := g.Location.Country
	if country == "" {
		country = regionCountry(g.Location.Region, "") // a US state or Canadian province
	}
	g.Contact.Phone = normalPhone(g.Contact.Phone, country)
	g.Office = Office{
		Name: OneLine(g.Office.Name), Email: strings.TrimSpace(g.Office.Email),
		Phone: OneLine(g.Office.Phone), URL: strings.TrimSpace(g.Office.URL),
	}
	if strings.TrimSpace(g.Source) == "" {
		g.Source = "admin"
	}
	g.Source = lowerTrim(g.Source)
}

func lowerTrim(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// normalPhone writes a contact's number in E.164: as it is when it already
// is, else read in the listing's country (ISO 3166-1, or that of its US
// state or Canadian province; a number with its country code, +… or 00…,
// needs none). A number it cannot read is left,
// trimmed, for Validate to refuse.
func normalPhone(p, country string) string {
	p = strings.TrimSpace(p)
	if p == "" || phone.ValidE164(p) {
		return p
	}
	if country == "" && !strings.HasPrefix(p, "+") && !strings.HasPrefix(p, "00") {
		return p // a national number of no known country
	}
	if e, ok := phone.ToE164(p, country); ok {
		return e
	}
	return p
}

// OneLine removes control characters (CR, LF, TAB and every other Unicode
// Cc) from s, each run of them and of spaces becoming one space, and trims
// it: a name or address a feed wrote over several lines, or with a header
// hidden in it ("Evil\r\nSubject: …"), becomes one plain line.
func OneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }), " ")
}

// tidyCodes lower-cases, trims and de-duplicates codes, keeping their order.
func tidyCodes(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, c := range in {
		c = lowerTrim(c)
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// parseHHMM reads a 24-hour "HH:MM" time as minutes after midnight.
func parseHHMM(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, ok1 := twoDigits(s[0:2])
	m, ok2 := twoDigits(s[3:5])
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

func twoDigits(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// formatHHMM writes minutes after midnight as "HH:MM", wrapping past midnight.
func formatHHMM(mins int) string {
	mins = ((mins % 1440) + 1440) % 1440
	h, m := mins/60, mins%60
	return string([]byte{byte('0' + h/10), byte('0' + h%10), ':', byte('0' + m/10), byte('0' + m%10)})
}

// BaseLanguage returns the primary language subtag of a BCP-47 tag in lower
// case ("es-MX" → "es"): the form matching compares and online match-index
// partitions are keyed by.
func BaseLanguage(tag string) string {
	tag = strings.TrimSpace(tag)
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	return strings.ToLower(tag)
}

// WeekOf names the ISO 8601 week that holds t, in UTC (e.g. "2026-W05"):
// the period a group's weekly capacity counts referrals in.
func WeekOf(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}
