package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// mgRow is one meeting of a Meeting Guide feed (the Code for Recovery
// Meeting Guide API). Fields are read leniently: real feeds write days as
// arrays or strings, times as "7:30 PM", and numbers as strings.
type mgRow struct {
	Name             text            `json:"name"`
	Slug             text            `json:"slug"`
	Day              json.RawMessage `json:"day"`
	Time             text            `json:"time"`
	EndTime          text            `json:"end_time"`
	Timezone         text            `json:"timezone"`
	Types            json.RawMessage `json:"types"`
	Group            text            `json:"group"`
	GroupID          text            `json:"group_id"`
	GroupNotes       text            `json:"group_notes"`
	Location         text            `json:"location"`
	Address          text            `json:"address"`
	City             text            `json:"city"`
	State            text            `json:"state"`
	PostalCode       text            `json:"postal_code"`
	Country          text            `json:"country"`
	FormattedAddress text            `json:"formatted_address"`
	Latitude         number          `json:"latitude"`
	Longitude        number          `json:"longitude"`
	Approximate      text            `json:"approximate"`
	Region           text            `json:"region"`
	ConferenceURL    text            `json:"conference_url"`
	ConferencePhone  text            `json:"conference_phone"`
	AttendanceOption text            `json:"attendance_option"`
	Email            text            `json:"email"`
	Contact1Name     text            `json:"contact_1_name"`
	Contact1Email    text            `json:"contact_1_email"`
	Contact1Phone    text            `json:"contact_1_phone"`
	Contact2Name     text            `json:"contact_2_name"`
	Contact2Email    text            `json:"contact_2_email"`
	Contact2Phone    text            `json:"contact_2_phone"`
	Contact3Email    text            `json:"contact_3_email"`
	// The service entity responsible for the listing: the group's office.
	Entity           text `json:"entity"`
	EntityEmail      text `json:"entity_email"`
	EntityPhone      text `json:"entity_phone"`
	EntityURL        text `json:"entity_url"`
	EntityWebsiteURL text `json:"entity_website_url"`
}

// mgLanguages maps the Meeting Guide type codes that name a language to
// BCP-47 tags.
var mgLanguages = map[string]string{
	"EN": "en", "S": "es", "FR": "fr", "POL": "pl", "POR": "pt", "RUS": "ru", "UK": "uk",
	"ITA": "it", "DE": "de", "KOR": "ko", "JA": "ja", "TL": "tl", "AR": "ar", "FA": "fa",
	"HI": "hi", "PUN": "pa", "HE": "he", "EL": "el", "TUR": "tr", "NL": "nl", "SV": "sv",
	"DA": "da", "NO": "no", "FI": "fi", "IS": "is", "HU": "hu", "HR": "hr", "BG": "bg",
	"SK": "sk", "SL": "sl", "LT": "lt", "MT": "mt", "KA": "ka", "AM": "am", "AF": "af",
	"ML": "ml", "NE": "ne", "TH": "th",
}

// mgAudiences maps Meeting Guide type codes to audiences.
var mgAudiences = map[string]string{
	"W": "women", "M": "men", "Y": "young-people", "SEN": "seniors", "BE": "newcomers",
	"LGBTQ": "lgbtq", "G": "lgbtq", "L": "lgbtq", "BI": "lgbtq", "T": "lgbtq", "NB": "lgbtq",
	"POC": "people-of-color", "N": "indigenous", "NDG": "indigenous", "P": "professionals",
}

// mgAccess maps Meeting Guide type codes to accessibility features. The
// place's features (all but asl) count only for meetings held in person.
var mgAccess = map[string]string{
	"X": "wheelchair", "XB": "wheelchair-restroom", "FF": "fragrance-free", "BA": "childcare", "ASL": "asl",
}

// mgMeeting is a row read and checked, before rows are folded into groups.
type mgMeeting struct {
	index      int
	key        string // which group the row belongs to
	groupName  string
	notes      string
	days       []int
	start, end int // minutes after midnight; end < 0 when not given
	timezone   string
	inPerson   bool
	online     bool
	closed     bool // the meeting is not being held for now
	onlineURL  string
	joinPhone  string
	location   *Location
	languages  []string
	audience   []string
	access     []string
	secular    bool
	contact    Contact
	office     Office
	located    bool // its zone comes from the row (its timezone, or its place's state)
}

// ImportMeetingGuide reads a Meeting Guide JSON feed (an array of meetings,
// https://github.com/code4recovery/spec) and folds its meetings into group
// listings: by the row's group_id or group, else by meeting name and place.
//
// Type codes are mapped: A to secular, language codes (S, FR, POL, ...) to
// languages, W, M, Y, SEN, LGBTQ, BE, POC ... to audiences, X, XB, FF, BA
// and ASL to accessibility. Attendance follows attendance_option when the
// row has it, else a conference_url or conference_phone makes a meeting
// online and a specific address makes it in person. TC (location temporarily
// closed) leaves a meeting online when it has a link, and closed otherwise; a
// group whose meetings are all closed is listed as temporarily closed and not
// accepting referrals. An in-person meeting needs latitude/longitude or a US
// postal code; a hybrid one without either is listed as online only.
//
// A meeting's time zone is its row's timezone, else ImportOptions.Timezone,
// else the zone of its place's state or province, else the zone the feed's
// located meetings agree on (see agreedZone; Result.InferredZone lists the
// rows that got it).
//
// The contact is the first contact_N with an email; its phone is kept in
// E.164 when it can be read (in the row's country, else the country of its
// state or province), and never agrees to texts. The entity_* fields give
// the group's Office.
//
// A row that cannot be used is skipped with its index and reason — no name,
// no day or time (by appointment), an unreadable day or time, no place for an
// in-person meeting, no way to attend, no time zone (none of its own, and the
// feed's located meetings name none or disagree), or a group with no
// contact email (its rows' email and contact_N_email fields, else
// ImportOptions.ContactEmail) — never the whole feed. A folded group that
// fails Validate skips its rows with the failing fields.
//
// It returns a problem.Invalid error for bad options, a problem.TooLarge
// error for a feed over ImportOptions.MaxBytes and a problem.Malformed error
// for a feed that is not a JSON array (the message gives a byte offset,
// never content).
func ImportMeetingGuide(r io.Reader, opt ImportOptions) (Result, error) {
	if err := opt.check(FormatMeetingGuide, true); err != nil {
		return Result{}, err
	}
	body, err := readFeed(r, opt.MaxBytes)
	if err != nil {
		return Result{}, err
	}
	rows, err := rowsOf(body, "meetings")
	if err != nil {
		return Result{}, err
	}
	var res Result
	var read []mgMeeting
	for i, raw := range rows {
		m, reason := readMGRow(i, raw, &opt)
		if reason != "" {
			res.Skipped = append(res.Skipped, Skip{Index: i, Reason: reason})
			continue
		}
		read = append(read, m)
	}
	zone, zoneSkip := agreedZone(read)
	var order []string
	byKey := map[string][]mgMeeting{}
	for _, m := range read {
		if m.timezone == "" {
			if zone == "" {
				res.Skipped = append(res.Skipped, Skip{Index: m.index, Reason: zoneSkip})
				continue
			}
			m.timezone = zone
			res.InferredZone.Timezone = zone
			res.InferredZone.Rows = append(res.InferredZone.Rows, m.index)
		}
		if _, ok := byKey[m.key]; !ok {
			order = append(order, m.key)
		}
		byKey[m.key] = append(byKey[m.key], m)
	}
	for _, key := range order {
		ms := byKey[key]
		g, reason := foldMeetings(key, ms, &opt)
		if reason == "" {
			g.Normalize()
			if err := g.Validate(); err != nil {
				reason = SkipReason(err)
			}
		}
		if reason != "" {
			for _, m := range ms {
				res.Skipped = append(res.Skipped, Skip{Index: m.index, Reason: reason})
			}
			continue
		}
		res.Groups = append(res.Groups, g)
	}
	slices.SortStableFunc(res.Skipped, func(a, b Skip) int { return a.Index - b.Index })
	return res, nil
}

// readMGRow reads one row; a non-empty reason says why it is skipped.
func readMGRow(i int, raw json.RawMessage, opt *ImportOptions) (mgMeeting, string) {
	var r mgRow
	if err := json.Unmarshal(raw, &r); err != nil {
		return mgMeeting{}, rowError(err)
	}
	m := mgMeeting{index: i, end: -1}
	name := string(r.Name)
	if name == "" {
		return m, "no name"
	}
	if len(bytes.TrimSpace(r.Day)) == 0 || string(bytes.TrimSpace(r.Day)) == "null" || r.Time == "" {
		return m, "no day and time (meetings by appointment are not listed)"
	}
	days, ok := parseDays(r.Day)
	if !ok {
		return m, "day must be 0 (Sunday) to 6 (Saturday), a list of them, or a day name"
	}
	m.days = days
	if m.start, ok = parseClock(string(r.Time)); !ok {
		return m, "time must be HH:MM (24-hour) or like 7:30 PM"
	}
	if r.EndTime != "" {
		if end, ok := parseClock(string(r.EndTime)); ok {
			m.end = end
		}
	}

	types := parseTypes(r.Types)
	tc := slices.Contains(types, "TC")
	link := string(r.ConferenceURL)
	if u, err := url.Parse(link); link != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		link = ""
	}
	hasLink := link != "" || r.ConferencePhone != ""
	approximate := strings.EqualFold(string(r.Approximate), "yes")
	hasPlace := !approximate && (r.Latitude.ok || r.Address != "" || r.FormattedAddress != "")
	switch strings.ToLower(string(r.AttendanceOption)) {
	case "in_person":
		m.inPerson = true
	case "online":
		m.online = hasLink
	case "hybrid":
		m.inPerson, m.online = true, hasLink
	case "inactive":
		m.inPerson, m.closed = hasPlace, true
	default:
		m.inPerson, m.online = hasPlace, hasLink
	}
	if tc {
		if m.online {
			m.inPerson = false // the place is closed; the meeting goes on online
		} else {
			m.closed = true
		}
	}
	if m.online {
		m.onlineURL = link
		if link == "" {
			m.joinPhone = string(r.ConferencePhone)
		}
	}
	if m.inPerson {
		m.location = placeOf(&r)
		if m.location == nil {
			if !m.online {
				return m, "no place for an in-person meeting (give latitude and longitude, or a US postal code)"
			}
			m.inPerson = false // listed as online only: its place cannot be found
		}
	}
	if !m.inPerson && !m.online {
		return m, "no way to attend: no specific address and no online link"
	}

	m.timezone = string(r.Timezone)
	if m.timezone != "" && !validTimezone(m.timezone) {
		m.timezone = ""
	}
	if m.timezone == "" {
		m.timezone = opt.Timezone
	}
	if m.timezone == "" {
		m.timezone = zoneOfAddress(string(r.State), string(r.FormattedAddress)+","+string(r.Address))
	}
	// A meeting with no zone yet takes the one the feed's located meetings
	// agree on, once every row is read (see agreedZone).
	m.located = m.inPerson && m.timezone != ""

	for _, t := range types {
		switch {
		case t == "A":
			m.secular = true
		case mgLanguages[t] != "":
			m.languages = appendNew(m.languages, mgLanguages[t])
		case mgAudiences[t] != "":
			m.audience = appendNew(m.audience, mgAudiences[t])
		case mgAccess[t] != "" && (m.inPerson || t == "ASL"):
			m.access = appendNew(m.access, mgAccess[t])
		}
	}

	region := ""
	if m.location != nil {
		region = m.location.Country
	}
	if region == "" {
		region = regionCountry(string(r.State), string(r.FormattedAddress)+","+string(r.Address))
	}
	switch email := firstEmail(r.Email, r.Contact1Email, r.Contact2Email, r.Contact3Email); {
	case email == "":
	case email == firstEmail(r.Contact1Email):
		m.contact = Contact{Name: string(r.Contact1Name), Email: email, Phone: textPhone(r.Contact1Phone, region)}
	case email == firstEmail(r.Contact2Email):
		m.contact = Contact{Name: string(r.Contact2Name), Email: email, Phone: textPhone(r.Contact2Phone, region)}
	default:
		m.contact = Contact{Email: email}
	}
	m.office = officeOf(r.Entity, r.EntityEmail, r.EntityPhone, r.EntityURL, r.EntityWebsiteURL)

	m.groupName = string(r.Group)
	if m.groupName == "" {
		m.groupName = name
	}
	m.notes = string(r.GroupNotes)
	if m.notes == "" {
		m.notes = strings.Trim(string(r.Location)+", "+string(r.Region), ", ")
	}
	switch {
	case r.GroupID != "":
		m.key = "group-id:" + string(r.GroupID)
	case r.Group != "":
		m.key = "group:" + strings.ToLower(string(r.Group))
	default:
		place := string(r.FormattedAddress) + string(r.Address)
		if r.Latitude.ok && r.Longitude.ok {
			place = fmt.Sprintf("%.4f,%.4f", r.Latitude.v, r.Longitude.v)
		}
		if !m.inPerson {
			place = ""
		}
		m.key = "meeting:" + strings.ToLower(name) + "|" + strings.ToLower(place)
	}
	return m, ""
}

// placeOf finds where a row meets: its latitude/longitude, else the centroid
// of its US postal code. It returns nil when neither is there.
func placeOf(r *mgRow) *Location {
	address := string(r.Address)
	if address == "" {
		address, _, _ = strings.Cut(string(r.FormattedAddress), ",")
	}
	l := &Location{
		PostalCode: string(r.PostalCode), Address: truncate(address, 200), City: truncate(string(r.City), 100),
		Region: truncate(string(r.State), 100), Country: strings.ToUpper(string(r.Country)),
	}
	if l.PostalCode == "" {
		l.PostalCode = usZIPOf(string(r.FormattedAddress))
	}
	if l.Country == "USA" || (l.Country == "" && strings.HasSuffix(string(r.FormattedAddress), "USA")) {
		l.Country = "US"
	}
	if len(l.Country) != 2 {
		l.Country = ""
	}
	return place(l, r.Latitude, r.Longitude)
}

// foldMeetings makes one group of the rows that share a key; a non-empty
// reason says why the group is skipped.
func foldMeetings(key string, ms []mgMeeting, opt *ImportOptions) (Group, string) {
	first := ms[0]
	model, spirituality, _ := FellowshipDefaults(opt.Fellowship)
	if model == "" {
		model = ModelTwelveStep // the Meeting Guide format lists 12-step meetings
	}
	g := Group{
		ID:          importID(opt.Source, first.groupName, key),
		Name:        truncate(first.groupName, 200),
		Description: truncate(first.notes, 2000),
		Topics:      []string{opt.Topic},
		Model:       model, Spirituality: spirituality,
		Source:             opt.Source,
		AcceptingReferrals: true,
	}
	open := ms[:0:0]
	for _, m := range ms {
		if !m.closed {
			open = append(open, m)
		}
	}
	listed := open
	if len(open) == 0 {
		listed = ms // every meeting is closed: list them, closed
		g.TemporarilyClosed, g.AcceptingReferrals = true, false
	}
	allSecular := true
	var phones []string
	for _, m := range listed {
		allSecular = allSecular && m.secular
		switch {
		case m.inPerson && m.online:
			g.Formats = appendNew(g.Formats, Hybrid)
		case m.inPerson:
			g.Formats = appendNew(g.Formats, InPerson)
		default:
			g.Formats = appendNew(g.Formats, Online)
		}
		if !g.HasLocation() && m.location != nil {
			g.Location = *m.location
		}
		if m.joinPhone != "" {
			phones = appendNew(phones, m.joinPhone)
		}
		langs := m.languages
		if len(langs) == 0 {
			langs = []string{opt.Language}
		}
		for _, l := range langs {
			if len(g.Languages) < MaxLanguages {
				g.Languages = appendNew(g.Languages, l)
			}
		}
		for _, a := range m.audience {
			g.Audience = appendNew(g.Audience, a)
		}
		for _, a := range m.access {
			g.Accessibility = appendNew(g.Accessibility, a)
		}
		for _, d := range m.days {
			if len(g.Meetings) >= 60 {
				break
			}
			mt := Meeting{Day: days[d], Time: formatHHMM(m.start), Timezone: m.timezone, OnlineURL: m.onlineURL}
			if m.end >= 0 {
				mt.EndTime = formatHHMM(m.end)
			}
			// The same meeting may be listed twice, in person and online.
			i := slices.IndexFunc(g.Meetings, func(x Meeting) bool { return x.Day == mt.Day && x.Time == mt.Time })
			switch {
			case i < 0:
				g.Meetings = append(g.Meetings, mt)
			case g.Meetings[i].OnlineURL == "":
				g.Meetings[i].OnlineURL = mt.OnlineURL
			}
		}
	}
	if allSecular {
		g.Spirituality = Secular
	}
	if len(phones) > 0 {
		g.JoinInstructions = truncate("Join by phone: "+strings.Join(phones, " or "), 500)
	}
	for _, m := range ms {
		if m.contact.Email != "" {
			g.Contact = m.contact
			break
		}
	}
	for _, m := range ms {
		if !m.office.IsZero() {
			g.Office = m.office
			break
		}
	}
	if g.Contact.Email == "" {
		if opt.ContactEmail == "" {
			return g, noContactReason
		}
		g.Contact = Contact{Email: opt.ContactEmail}
	}
	if g.Contact.Name == "" {
		g.Contact.Name = truncate(g.Name, 100)
	}
	slices.SortStableFunc(g.Meetings, func(a, b Meeting) int {
		if c := (dayIndex(a.Day)+6)%7 - (dayIndex(b.Day)+6)%7; c != 0 {
			return c // Monday first
		}
		return strings.Compare(a.Time, b.Time)
	})
	return g, ""
}

// Reasons a meeting without a time zone is skipped.
const (
	noZoneReason        = "no time zone (give timezone for the feed)"
	zonesDisagreeReason = "no time zone, and the feed's meetings with a place are in %d time zones (%s), so this one's cannot be told (give timezone for the feed)"
)

// agreedZone is the time zone the feed's located meetings agree on: those
// that meet at a place and whose zone their own row gives (its timezone
// field, or its place's state or province). An online meeting without a
// zone of its own meets in it (an intergroup's online meetings keep its
// local time). When they do not agree, or there are none, zone is "" and
// reason says why a meeting without a zone is skipped.
func agreedZone(ms []mgMeeting) (zone, reason string) {
	var zones []string
	for _, m := range ms {
		if m.located {
			zones = appendNew(zones, m.timezone)
		}
	}
	switch len(zones) {
	case 0:
		return "", noZoneReason
	case 1:
		return zones[0], ""
	}
	slices.Sort(zones)
	shown := zones
	if len(shown) > 3 {
		shown = append(shown[:3:3], "…")
	}
	return "", fmt.Sprintf(zonesDisagreeReason, len(zones), strings.Join(shown, ", "))
}

// officeOf is the service office a row names (Meeting Guide entity_*
// fields), or the zero Office. Its email and link are kept only when they
// are an address and an http(s) URL; its name and phone as written.
func officeOf(name, email, phone, link, website text) Office {
	o := Office{Name: truncate(string(name), 200), Email: firstEmail(email), Phone: truncate(string(phone), 40)}
	for _, l := range []text{link, website} {
		if u, err := url.Parse(string(l)); l != "" && err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(l) <= 500 {
			o.URL = string(l)
			break
		}
	}
	if o.Email == "" && o.Phone == "" && o.URL == "" {
		return Office{} // a name alone answers for nobody
	}
	return o
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// parseTypes reads the types field: an array of codes or a comma-separated
// string. Codes are upper-cased; unknown codes are kept and ignored later.
func parseTypes(raw json.RawMessage) []string {
	var list []text
	if err := json.Unmarshal(raw, &list); err != nil {
		var one text
		if json.Unmarshal(raw, &one) != nil {
			return nil
		}
		for _, c := range strings.Split(string(one), ",") {
			list = append(list, text(strings.TrimSpace(c)))
		}
	}
	out := make([]string, 0, len(list))
	for _, t := range list {
		if t != "" {
			out = append(out, strings.ToUpper(string(t)))
		}
	}
	return out
}

// parseDays reads a day field: 0 (Sunday) to 6 (Saturday) as a number or a
// string, a day name, or an array of these.
func parseDays(raw json.RawMessage) ([]int, bool) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		list = []json.RawMessage{raw}
	}
	var out []int
	for _, item := range list {
		var t text
		if json.Unmarshal(item, &t) != nil || t == "" {
			return nil, false
		}
		d := dayOf(string(t))
		if d < 0 {
			return nil, false
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, len(out) > 0
}

func dayOf(s string) int {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n >= 0 && n <= 6 && n == math.Trunc(n) {
			return int(n)
		}
		return -1
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) >= 3 {
		return dayIndex(s[:3])
	}
	return -1
}

// parseClock reads a time of day as minutes after midnight: "19:00",
// "7:00", "19:00:00", "7:30 PM", "11:00 a.m.", "noon", "midnight".
func parseClock(s string) (int, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "noon", "12 noon":
		return 12 * 60, true
	case "midnight":
		return 0, true
	}
	s = strings.ReplaceAll(s, ".", "")
	ampm := ""
	for _, suffix := range []string{"am", "pm"} {
		if rest, ok := strings.CutSuffix(s, suffix); ok {
			ampm, s = suffix, strings.TrimSpace(rest)
		}
	}
	hs, ms, hasMin := strings.Cut(s, ":")
	if !hasMin {
		ms = "00"
	}
	ms, _, _ = strings.Cut(ms, ":") // drop seconds
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || len(ms) != 2 || m < 0 || m > 59 || h < 0 {
		return 0, false
	}
	switch ampm {
	case "":
		if h > 23 || !hasMin {
			return 0, false
		}
	case "am":
		if h < 1 || h > 12 {
			return 0, false
		}
		h %= 12
	case "pm":
		if h < 1 || h > 12 {
			return 0, false
		}
		h = h%12 + 12
	}
	return h*60 + m, true
}
