package directory

import (
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/language"

	"github.com/handoff-health/handoff/shared/topics"
)

// The parts of Open Referral HSDS 3.0 (https://docs.openreferral.org) that a
// listing needs. Everything else a record carries is ignored.
type (
	hsdsService struct {
		ID                 text                    `json:"id"`
		Name               text                    `json:"name"`
		Description        text                    `json:"description"`
		URL                text                    `json:"url"`
		Email              text                    `json:"email"`
		Status             text                    `json:"status"`
		Languages          []hsdsLanguage          `json:"languages"`
		Schedules          []hsdsSchedule          `json:"schedules"`
		Contacts           []hsdsContact           `json:"contacts"`
		Phones             []hsdsPhone             `json:"phones"`
		ServiceAtLocations []hsdsServiceAtLocation `json:"service_at_locations"`
		Organization       *hsdsOrganization       `json:"organization"`
		Attributes         []hsdsAttribute         `json:"attributes"`
	}
	hsdsServiceAtLocation struct {
		ID        text           `json:"id"`
		Contacts  []hsdsContact  `json:"contacts"`
		Phones    []hsdsPhone    `json:"phones"`
		Schedules []hsdsSchedule `json:"schedules"`
		Location  *hsdsLocation  `json:"location"`
	}
	hsdsLocation struct {
		ID            text                `json:"id"`
		LocationType  text                `json:"location_type"`
		URL           text                `json:"url"`
		Name          text                `json:"name"`
		Latitude      number              `json:"latitude"`
		Longitude     number              `json:"longitude"`
		Languages     []hsdsLanguage      `json:"languages"`
		Addresses     []hsdsAddress       `json:"addresses"`
		Contacts      []hsdsContact       `json:"contacts"`
		Phones        []hsdsPhone         `json:"phones"`
		Accessibility []hsdsAccessibility `json:"accessibility"`
		Schedules     []hsdsSchedule      `json:"schedules"`
	}
	hsdsAddress struct {
		Address1      text `json:"address_1"`
		City          text `json:"city"`
		StateProvince text `json:"state_province"`
		PostalCode    text `json:"postal_code"`
		Country       text `json:"country"`
		AddressType   text `json:"address_type"`
	}
	hsdsSchedule struct {
		Freq          text   `json:"freq"`
		ByDay         text   `json:"byday"`
		OpensAt       text   `json:"opens_at"`
		ClosesAt      text   `json:"closes_at"`
		Timezone      number `json:"timezone"`
		AttendingType text   `json:"attending_type"`
	}
	hsdsLanguage struct {
		Name text `json:"name"`
		Code text `json:"code"`
	}
	hsdsContact struct {
		Name   text        `json:"name"`
		Email  text        `json:"email"`
		Phones []hsdsPhone `json:"phones"`
	}
	hsdsPhone struct {
		Number text `json:"number"`
	}
	hsdsAccessibility struct {
		Description text `json:"description"`
		Details     text `json:"details"`
	}
	hsdsOrganization struct {
		Name     text          `json:"name"`
		Email    text          `json:"email"`
		Website  text          `json:"website"`
		Phones   []hsdsPhone   `json:"phones"`
		Services []hsdsService `json:"services"`
	}
	hsdsAttribute struct {
		TaxonomyTerm *struct {
			Code text `json:"code"`
			Name text `json:"name"`
		} `json:"taxonomy_term"`
	}
)

// ImportHSDS reads Open Referral HSDS 3.0 JSON and makes one listing per
// service and location: a paginated list ({"contents": [...]}) or an array
// of services, service_at_location records (each with its service), or
// organizations (with their services); a single such object is taken as a
// list of one. A row's index is its position in the list.
//
// A service's location gives the group's place (latitude/longitude, else the
// centroid of a US postal code in its address); a virtual location, or an
// attending_type that speaks of attending remotely or online, makes it
// online. Weekly schedules (freq WEEKLY or DAILY, byday, opens_at, closes_at)
// become meetings, in ImportOptions.Timezone, else the schedule's UTC offset,
// else the zone of the address's state or province; valid_from/valid_to are
// not read. Languages come from the service and its location; the contact
// from the service-at-location's, service's or location's contacts, then the
// service's or organization's email, then ImportOptions.ContactEmail; its
// phone from the first of that contact's numbers, else of the service's
// (at the location, the service's own, the location's), that reads in
// E.164, and it never agrees to texts. The organization (its name, email,
// first phone and website) is the group's Office. Topics
// are ImportOptions.Topic, or, when it is empty, the topics the service's
// taxonomy terms name (see TopicsFromTerm).
//
// A row that cannot be used is skipped with its index and reason, never the
// whole import. It returns a problem.Invalid error for bad options, a
// problem.TooLarge error for a body over ImportOptions.MaxBytes and a
// problem.Malformed error for a body that is not HSDS JSON.
func ImportHSDS(r io.Reader, opt ImportOptions) (Result, error) {
	if err := opt.check(FormatHSDS, false); err != nil {
		return Result{}, err
	}
	body, err := readFeed(r, opt.MaxBytes)
	if err != nil {
		return Result{}, err
	}
	rows, err := hsdsRows(body)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for i, raw := range rows {
		var row struct {
			hsdsService
			LocationType text          `json:"location_type"`
			Location     *hsdsLocation `json:"location"`
			Service      *hsdsService  `json:"service"`
			Services     []hsdsService `json:"services"`
			Website      text          `json:"website"`
		}
		if err := json.Unmarshal(raw, &row); err != nil {
			res.Skipped = append(res.Skipped, Skip{Index: i, Reason: rowError(err)})
			continue
		}
		var pairs []hsdsPair
		switch {
		case row.LocationType != "": // a location on its own: no service to list
		case row.Service != nil: // a service_at_location with its service
			sal := &hsdsServiceAtLocation{ID: row.ID, Contacts: row.Contacts, Phones: row.Phones, Schedules: row.Schedules, Location: row.Location}
			pairs = append(pairs, hsdsPair{svc: row.Service, sal: sal, org: row.Service.Organization})
		case row.Services != nil: // an organization
			for j := range row.Services {
				pairs = append(pairs, pairsOf(&row.Services[j], &hsdsOrganization{Name: row.Name, Email: row.Email, Website: row.Website, Phones: row.Phones})...)
			}
		default:
			pairs = pairsOf(&row.hsdsService, row.Organization)
		}
		if len(pairs) == 0 {
			res.Skipped = append(res.Skipped, Skip{Index: i, Reason: "no service in the row"})
			continue
		}
		for _, p := range pairs {
			g, reason := p.group(&opt, len(pairs) > 1)
			if reason == "" {
				g.Normalize()
				if err := g.Validate(); err != nil {
					reason = SkipReason(err)
				}
			}
			if reason != "" {
				res.Skipped = append(res.Skipped, Skip{Index: i, Reason: reason})
				continue
			}
			res.Groups = append(res.Groups, g)
		}
	}
	return res, nil
}

// hsdsRows finds the list of records in a body.
func hsdsRows(body json.RawMessage) ([]json.RawMessage, error) {
	var page struct {
		Contents []json.RawMessage `json:"contents"`
	}
	switch firstByte(body) {
	case '[':
		return rowsOf(body, "HSDS services")
	case '{':
		if err := json.Unmarshal(body, &page); err == nil && page.Contents != nil {
			return page.Contents, nil
		}
		return []json.RawMessage{body}, nil
	}
	return rowsOf(body, "HSDS services")
}

func firstByte(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

// hsdsPair is a service at one of its locations (sal is nil for a service
// with none).
type hsdsPair struct {
	svc *hsdsService
	sal *hsdsServiceAtLocation
	org *hsdsOrganization
}

func pairsOf(svc *hsdsService, org *hsdsOrganization) []hsdsPair {
	if svc.Name == "" && svc.ID == "" {
		return nil
	}
	if org == nil {
		org = svc.Organization
	}
	if len(svc.ServiceAtLocations) == 0 {
		return []hsdsPair{{svc: svc, org: org}}
	}
	out := make([]hsdsPair, len(svc.ServiceAtLocations))
	for i := range svc.ServiceAtLocations {
		out[i] = hsdsPair{svc: svc, sal: &svc.ServiceAtLocations[i], org: org}
	}
	return out
}

// remoteWords are what an attending_type says when a service can be
// attended without coming in.
var remoteWords = []string{"remote", "online", "virtual", "video", "zoom", "teleconference"}

func (p hsdsPair) group(opt *ImportOptions, several bool) (Group, string) {
	svc := p.svc
	if svc.Name == "" {
		return Group{}, "no name"
	}
	status := strings.ToLower(string(svc.Status))
	switch status {
	case "inactive", "defunct":
		return Group{}, "the service is " + status
	}
	var loc *hsdsLocation
	var salID text
	var schedules []hsdsSchedule
	var contacts []hsdsContact
	var phones []hsdsPhone // the service's own numbers: at the location, of the service, of the location
	if p.sal != nil {
		loc, salID, schedules, contacts, phones = p.sal.Location, p.sal.ID, p.sal.Schedules, p.sal.Contacts, p.sal.Phones
	}
	if len(schedules) == 0 {
		schedules = svc.Schedules
	}
	contacts = append(contacts, svc.Contacts...)
	phones = append(slices.Clone(phones), svc.Phones...)
	if loc != nil {
		if len(schedules) == 0 {
			schedules = loc.Schedules
		}
		contacts = append(contacts, loc.Contacts...)
		phones = append(phones, loc.Phones...)
	}

	topicCodes := []string{opt.Topic}
	if opt.Topic == "" {
		topicCodes = nil
		for _, a := range svc.Attributes {
			if a.TaxonomyTerm == nil {
				continue
			}
			for _, t := range TopicsFromTerm(string(a.TaxonomyTerm.Name) + " " + string(a.TaxonomyTerm.Code)) {
				if len(topicCodes) < MaxTopics {
					topicCodes = appendNew(topicCodes, t)
				}
			}
		}
		if len(topicCodes) == 0 {
			return Group{}, "no topic (give topic for the import, or taxonomy terms that name one)"
		}
	}
	model, spirituality, _ := FellowshipDefaults(opt.Fellowship)
	if model == "" {
		model = ModelPeerSupport
	}
	key := string(svc.ID) + "|" + string(salID)
	if loc != nil {
		key += "|" + string(loc.ID)
	}
	name := string(svc.Name)
	if several && loc != nil && loc.Name != "" {
		name += " (" + string(loc.Name) + ")"
	}
	g := Group{
		ID: importID(opt.Source, string(svc.Name), key), Name: truncate(name, 200),
		Description: truncate(string(svc.Description), 2000), Topics: topicCodes,
		Model: model, Spirituality: spirituality, Source: opt.Source,
		AcceptingReferrals: true, TemporarilyClosed: status == "temporarily closed",
	}
	if g.TemporarilyClosed {
		g.AcceptingReferrals = false
	}

	// How one attends.
	remote := ""
	for _, s := range schedules {
		if containsAny(strings.ToLower(string(s.AttendingType)), remoteWords) {
			remote = string(s.AttendingType)
		}
	}
	online := remote != ""
	onlineURL := ""
	var addr *hsdsAddress
	inPerson := false
	if loc != nil {
		switch strings.ToLower(string(loc.LocationType)) {
		case "virtual":
			online, onlineURL = true, string(loc.URL)
		default:
			addr = physicalAddress(loc.Addresses)
			if place := hsdsPlace(loc, addr); place != nil {
				g.Location, inPerson = *place, true
			}
			if !inPerson && !online {
				return Group{}, "no place for an in-person service (latitude/longitude missing or out of range, and no US postal code)"
			}
		}
	}
	switch {
	case inPerson && online:
		g.Formats = []string{Hybrid}
	case inPerson:
		g.Formats = []string{InPerson}
	case online:
		g.Formats = []string{Online}
	default:
		return Group{}, "no location and no way to attend online"
	}
	if online && onlineURL == "" {
		g.JoinInstructions = remote
		if svc.URL != "" {
			g.JoinInstructions = strings.TrimSuffix(remote, ".") + ". Details: " + string(svc.URL)
		}
		g.JoinInstructions = truncate(g.JoinInstructions, 500)
	}
	if loc != nil {
		for _, a := range loc.Accessibility {
			t := strings.ToLower(string(a.Description) + " " + string(a.Details))
			if inPerson && strings.Contains(t, "wheelchair") {
				g.Accessibility = appendNew(g.Accessibility, "wheelchair")
			}
			if inPerson && (strings.Contains(t, "induction loop") || strings.Contains(t, "hearing loop")) {
				g.Accessibility = appendNew(g.Accessibility, "hearing-loop")
			}
		}
	}

	// Languages.
	langs := svc.Languages
	if loc != nil {
		langs = append(slices.Clone(langs), loc.Languages...)
	}
	for _, l := range langs {
		if t, err := language.Parse(string(l.Code)); err == nil && len(g.Languages) < MaxLanguages {
			g.Languages = appendNew(g.Languages, t.String())
		}
	}
	if len(g.Languages) == 0 {
		g.Languages = []string{opt.Language}
	}

	// Meetings.
	for _, s := range schedules {
		ms, ok := weeklyMeetings(s)
		if !ok {
			continue
		}
		tz := opt.Timezone
		if tz == "" {
			tz = offsetZone(s.Timezone)
		}
		if tz == "" && addr != nil {
			tz = zoneOfAddress(string(addr.StateProvince), "")
		}
		if tz == "" {
			return Group{}, "no time zone (give timezone for the feed)"
		}
		for _, m := range ms {
			m.Timezone, m.OnlineURL = tz, onlineURL
			if len(g.Meetings) < 60 && !slices.ContainsFunc(g.Meetings, func(x Meeting) bool { return x.Day == m.Day && x.Time == m.Time }) {
				g.Meetings = append(g.Meetings, m)
			}
		}
	}

	// Contact: the first with an email, with the first of its numbers that
	// reads in E.164, else of the service's (never agreeing to texts).
	country := g.Location.Country
	if country == "" && addr != nil {
		country = regionCountry(string(addr.StateProvince), "")
	}
	for _, c := range contacts {
		if e := firstEmail(c.Email); e != "" {
			g.Contact = Contact{Name: truncate(string(c.Name), 100), Email: e, Phone: firstPhone(c.Phones, country)}
			break
		}
	}
	if g.Contact.Phone == "" {
		g.Contact.Phone = firstPhone(phones, country)
	}
	if p.org != nil {
		g.Office = hsdsOffice(p.org)
	}
	if g.Contact.Email == "" {
		var orgEmail text
		if p.org != nil {
			orgEmail = p.org.Email
		}
		g.Contact.Email = firstEmail(svc.Email, orgEmail)
	}
	if g.Contact.Email == "" {
		if opt.ContactEmail == "" {
			return Group{}, noContactReason
		}
		g.Contact.Email = opt.ContactEmail
	}
	if g.Contact.Name == "" {
		g.Contact.Name = truncate(string(svc.Name), 100)
	}
	return g, ""
}

// firstPhone is the first number that reads in E.164 (see textPhone), or "".
func firstPhone(ps []hsdsPhone, country string) string {
	for _, p := range ps {
		if e := textPhone(p.Number, country); e != "" {
			return e
		}
	}
	return ""
}

// hsdsOffice is an organization as a group's office: its name, email, first
// phone (as written) and website.
func hsdsOffice(org *hsdsOrganization) Office {
	var phone text
	if len(org.Phones) > 0 {
		phone = text(strings.Trim(string(org.Phones[0].Number), `" `))
	}
	return officeOf(org.Name, org.Email, phone, org.Website, "")
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// physicalAddress picks the address a group meets at: the physical one, else
// the first.
func physicalAddress(as []hsdsAddress) *hsdsAddress {
	for i := range as {
		if strings.EqualFold(string(as[i].AddressType), "physical") {
			return &as[i]
		}
	}
	if len(as) > 0 {
		return &as[0]
	}
	return nil
}

// hsdsPlace places a location: its latitude/longitude when they are on the
// globe, else its address's US postal code. It returns nil when neither works.
func hsdsPlace(loc *hsdsLocation, addr *hsdsAddress) *Location {
	l := &Location{}
	if addr != nil {
		l.Address = truncate(string(addr.Address1), 200)
		l.City = truncate(string(addr.City), 100)
		l.Region = truncate(string(addr.StateProvince), 100)
		l.PostalCode = truncate(string(addr.PostalCode), 16)
		if c := strings.ToUpper(string(addr.Country)); len(c) == 2 {
			l.Country = c
		}
	}
	return place(l, loc.Latitude, loc.Longitude)
}

// rruleDays are RFC 5545 BYDAY codes in Sunday-first order.
var rruleDays = [...]string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

// weeklyMeetings turns a weekly (or daily) schedule into meetings without a
// time zone. ok is false for a schedule that is not weekly or has no time.
func weeklyMeetings(s hsdsSchedule) ([]Meeting, bool) {
	freq := strings.ToUpper(string(s.Freq))
	if freq != "WEEKLY" && freq != "DAILY" && freq != "" {
		return nil, false
	}
	start, ok := parseClock(string(s.OpensAt))
	if !ok {
		return nil, false
	}
	end, endOK := parseClock(string(s.ClosesAt))
	var ds []int
	if freq == "DAILY" && s.ByDay == "" {
		ds = []int{1, 2, 3, 4, 5, 6, 0}
	}
	for _, code := range strings.Split(strings.ToUpper(string(s.ByDay)), ",") {
		if i := slices.Index(rruleDays[:], strings.TrimSpace(code)); i >= 0 {
			ds = append(ds, i) // codes with an ordinal ("1MO") are monthly: not listed
		}
	}
	out := make([]Meeting, 0, len(ds))
	for _, d := range ds {
		m := Meeting{Day: days[d], Time: formatHHMM(start)}
		if endOK {
			m.EndTime = formatHHMM(end)
		}
		out = append(out, m)
	}
	return out, len(out) > 0
}

// offsetZone names the fixed-offset IANA zone of a whole-hour UTC offset
// (Etc/GMT-3 is UTC+3: the sign is inverted in those names).
func offsetZone(n number) string {
	if !n.ok || n.v != math.Trunc(n.v) || n.v < -12 || n.v > 14 {
		return ""
	}
	h := int(n.v)
	switch {
	case h == 0:
		return "Etc/UTC"
	case h > 0:
		return "Etc/GMT-" + strconv.Itoa(h)
	}
	return "Etc/GMT+" + strconv.Itoa(-h)
}

// termTopics maps words of a taxonomy term to topics, first match first.
var termTopics = []struct {
	words []string
	topic string
}{
	{[]string{"al-anon", "alateen", "families of alcoholics", "family members of alcoholics"}, topics.FamilyAlcohol},
	{[]string{"nar-anon", "families of drug", "family members of substance", "families of substance"}, topics.FamilyDrugs},
	{[]string{"alcohol"}, topics.Alcohol},
	{[]string{"narcotics", "drug", "substance use", "substance abuse", "opioid"}, topics.Drugs},
	{[]string{"gambl"}, topics.Gambling},
	{[]string{"grief", "bereavement", "loss of a"}, topics.Grief},
	{[]string{"cancer", "oncology"}, topics.Cancer},
	{[]string{"diabet"}, topics.Diabetes},
	{[]string{"bipolar"}, topics.Bipolar},
	{[]string{"depress"}, topics.Depression},
	{[]string{"anxiety", "panic"}, topics.Anxiety},
	{[]string{"eating disorder", "anorexia", "bulimia", "binge eating"}, topics.EatingDisorders},
	{[]string{"trauma", "ptsd", "post-traumatic"}, topics.Trauma},
	{[]string{"chronic pain"}, topics.ChronicPain},
	{[]string{"caregiver", "carer"}, topics.Caregivers},
	{[]string{"parenting", "parent support"}, topics.Parenting},
}

// TopicsFromTerm returns the topics a taxonomy term's words name (e.g.
// "Bereavement Support Groups" → grief), or nil when it names none. It
// looks for plain words, so it works with any taxonomy that spells its
// terms out (AIRS/211 LA, Open Eligibility).
func TopicsFromTerm(term string) []string {
	t := strings.ToLower(term)
	var out []string
	for _, m := range termTopics {
		if containsAny(t, m.words) {
			out = appendNew(out, m.topic)
		}
	}
	if slices.Contains(out, topics.FamilyAlcohol) {
		out = slices.DeleteFunc(out, func(s string) bool { return s == topics.Alcohol })
	}
	if slices.Contains(out, topics.FamilyDrugs) {
		out = slices.DeleteFunc(out, func(s string) bool { return s == topics.Drugs })
	}
	return out
}
