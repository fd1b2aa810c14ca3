package directory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/phone"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/topics"
)

// DefaultMaxImportBytes is the largest feed an import reads when
// ImportOptions.MaxBytes is not set.
const DefaultMaxImportBytes = 10 << 20

// Import formats, as the admin API and the operator CLI name them.
const (
	FormatMeetingGuide = "meeting-guide"
	FormatHSDS         = "hsds"
)

// ImportOptions say how to read a feed.
type ImportOptions struct {
	// Topic is the topic code every imported group gets (e.g. "alcohol").
	// Required for a Meeting Guide feed; for HSDS, when empty, a service's
	// taxonomy terms are mapped to topics where they can be.
	Topic string
	// Fellowship names the fellowship of a Meeting Guide feed ("aa", "na",
	// "smart", "al-anon", ...), which sets the groups' model and spirituality
	// (see FellowshipDefaults). Optional.
	Fellowship string
	// ContactEmail is the contact for groups whose rows carry none.
	ContactEmail string
	// Source names the feed in listings and in group ids ("meeting-guide" or
	// "hsds" when empty).
	Source string
	// Timezone is the IANA time zone of meetings whose rows carry none. When
	// empty, it is taken from the row's US state or Canadian province.
	Timezone string
	// Language is the BCP-47 language of meetings whose rows name none
	// ("en" when empty).
	Language string
	// MaxBytes caps the feed's size (DefaultMaxImportBytes when 0).
	MaxBytes int64
	// WithdrawMissing asks the store to pause the groups of Source that the
	// feed no longer carries (meetings that closed or left the feed). It
	// needs a Source named by the caller: two feeds under the default source
	// would withdraw each other's groups.
	WithdrawMissing bool
}

// Result is what an import made of a feed: the listings, ready for the
// store, and the rows it could not use.
type Result struct {
	Groups  []Group
	Skipped []Skip
	// InferredZone names the time zone given to meetings whose rows carry
	// none (Meeting Guide: the zone the feed's located meetings agree on),
	// and those rows; the zero value when there were none.
	InferredZone InferredZone
}

// InferredZone is a time zone an import gave meetings that named none.
type InferredZone struct {
	Timezone string `json:"timezone"`
	Rows     []int  `json:"rows"` // the rows' positions in the feed, from 0
}

// Skip is one row of a feed left out of an import, and why.
type Skip struct {
	Index  int    `json:"index"`  // the row's position in the feed, from 0
	Reason string `json:"reason"` // plain words; never a value from the row
}

// Import reads a feed in the named format (FormatMeetingGuide or FormatHSDS).
// It returns a problem.Invalid error for an unknown format or bad options, and
// the errors of ImportMeetingGuide and ImportHSDS.
func Import(format string, r io.Reader, opt ImportOptions) (Result, error) {
	switch strings.ToLower(strings.TrimSpace(format)) {
	case FormatMeetingGuide, "meetingguide", "tsml":
		return ImportMeetingGuide(r, opt)
	case FormatHSDS:
		return ImportHSDS(r, opt)
	}
	return Result{}, problem.Invalidf([]problem.FieldError{{Field: "format", Detail: "must be meeting-guide or hsds"}},
		"Unknown import format.")
}

// check validates the options and fills defaults. topicRequired is set for
// formats that carry no topic of their own.
func (o *ImportOptions) check(defaultSource string, topicRequired bool) error {
	var fields []problem.FieldError
	o.Topic = lowerTrim(o.Topic)
	switch {
	case o.Topic == "" && topicRequired:
		fields = append(fields, problem.FieldError{Field: "topic", Detail: "is required: the topic every group of the feed serves, e.g. alcohol"})
	case o.Topic != "" && !topics.Valid(o.Topic):
		fields = append(fields, problem.FieldError{Field: "topic", Detail: "is not a topic of the published vocabulary"})
	}
	o.Fellowship = lowerTrim(o.Fellowship)
	if _, _, ok := FellowshipDefaults(o.Fellowship); !ok {
		fields = append(fields, problem.FieldError{Field: "fellowship", Detail: "is not a known fellowship (aa, na, ca, ga, oa, al-anon, nar-anon, smart, lifering, sos, other)"})
	}
	o.ContactEmail = strings.TrimSpace(o.ContactEmail)
	if o.ContactEmail != "" && !validEmail(o.ContactEmail) {
		fields = append(fields, problem.FieldError{Field: "contact_email", Detail: "must be an email address"})
	}
	o.Timezone = strings.TrimSpace(o.Timezone)
	if o.Timezone != "" && !validTimezone(o.Timezone) {
		fields = append(fields, problem.FieldError{Field: "timezone", Detail: "must be an IANA time zone such as America/Chicago"})
	}
	o.Language = strings.TrimSpace(o.Language)
	if o.Language == "" {
		o.Language = "en"
	}
	o.Source = lowerTrim(o.Source)
	if o.Source == "" {
		o.Source = defaultSource
	}
	if len(o.Source) > 64 || !sourcePattern().MatchString(o.Source) {
		fields = append(fields, problem.FieldError{Field: "source", Detail: "must be up to 64 lower-case letters, digits, '.', '_' or '-'"})
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxImportBytes
	}
	if len(fields) > 0 {
		return problem.Invalidf(fields, "The import options are not valid.")
	}
	return nil
}

// FellowshipDefaults returns the model and spirituality of a fellowship's
// groups. ok is false for an unknown fellowship; "" and "other" give no
// defaults.
func FellowshipDefaults(fellowship string) (model, spirituality string, ok bool) {
	switch fellowship {
	case "", "other":
		return "", "", true
	case "aa", "na", "ca", "ga", "oa", "ma", "cma", "ha":
		return ModelTwelveStep, Spiritual, true
	case "al-anon", "nar-anon", "alateen", "coda":
		return ModelFamily, Spiritual, true
	case "smart", "lifering", "sos":
		return ModelSecularRecovery, Secular, true
	}
	return "", "", false
}

// readFeed reads at most max bytes of a JSON feed. It returns a
// problem.TooLarge error for a longer one and a problem.Malformed error for
// one that is not JSON; the message gives the byte offset, never content.
func readFeed(r io.Reader, max int64) (json.RawMessage, error) {
	body, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read feed: %w", err)
	}
	if int64(len(body)) > max {
		return nil, problem.Errorf(problem.TooLarge, "The feed is larger than %d bytes.", max)
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a UTF-8 byte-order mark
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, problem.Errorf(problem.Malformed, "The feed is not valid JSON (error at byte %d).", se.Offset)
		}
		return nil, problem.Errorf(problem.Malformed, "The feed is not valid JSON.")
	}
	return body, nil
}

// rowsOf splits a JSON array into its elements, or says it is not an array.
func rowsOf(body json.RawMessage, what string) ([]json.RawMessage, error) {
	var rows []json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, problem.Errorf(problem.Malformed, "The feed must be a JSON array of %s.", what)
	}
	return rows, nil
}

// rowError says in plain words why a row could not be decoded.
func rowError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "row is not a JSON object"
		}
		return "field " + te.Field + " has the wrong type"
	}
	return "row could not be read"
}

// text is a string field read leniently: feeds write numbers (postal codes,
// ids) and null where a string is meant. Control characters are dropped as
// it is read (see OneLine), so no name, address or note a feed stores can
// carry a line break into a subject line, a header or a text.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(OneLine(s))
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || string(b) == "true" || string(b) == "false":
		*t = text(b)
	default:
		return &json.UnmarshalTypeError{Value: "object or array", Type: reflect.TypeFor[string]()}
	}
	return nil
}

// number is a numeric field read leniently (a number or a numeric string).
// noContactReason is the skip reason of a row with no contact email when the
// import gave none for the feed.
const noContactReason = "no contact email (give the feed a contact: contact_email in the API, -contact-email in handoff import)"

// place gives an imported location its point: the feed's latitude and
// longitude when they are a real point (rounded to 1e-5 degree, about 1 m),
// else the centroid of its US postal code. It returns nil when neither places
// it: a row that cannot be placed is skipped.
func place(l *Location, lat, lon number) *Location {
	if lat.ok && lon.ok && math.Abs(lat.v) <= 90 && math.Abs(lon.v) <= 180 && (lat.v != 0 || lon.v != 0) {
		l.Lat, l.Lon = math.Round(lat.v*1e5)/1e5, math.Round(lon.v*1e5)/1e5
		return l
	}
	if l.PostalCode != "" {
		if la, lo, ok := geo.PostalCentroid(l.Country, l.PostalCode); ok {
			l.Lat, l.Lon = la, lo
			return l
		}
	}
	return nil
}

type number struct {
	v  float64
	ok bool
}

func (n *number) UnmarshalJSON(b []byte) error {
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	if t == "" {
		*n = number{}
		return nil
	}
	v, err := strconv.ParseFloat(string(t), 64)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeFor[float64]()}
	}
	*n = number{v: v, ok: true}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && len(s) <= 254
}

// firstEmail returns the first candidate that is a bare email address.
func firstEmail(candidates ...text) string {
	for _, c := range candidates {
		for _, part := range strings.FieldsFunc(string(c), func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
			if validEmail(part) {
				return part
			}
		}
	}
	return ""
}

// slug turns a name into lower-case a-z, 0-9 and single dashes.
func slug(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
		if b.Len() >= max {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// importID makes a stable group id from the source, the group's name and the
// key that identifies it in the feed: the same group gets the same id on
// every import of the feed, so a re-import updates it.
func importID(source, name, key string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + key))
	suffix := hex.EncodeToString(sum[:4])
	src := slug(source, 20)
	n := slug(name, 64-len(src)-len(suffix)-2)
	if n == "" {
		return src + "-" + suffix
	}
	return src + "-" + n + "-" + suffix
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut])
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// regionZones gives the main IANA time zone of each US state and Canadian
// province, by postal abbreviation and by name, for feeds that carry no time
// zone. States split between zones get the zone most of their people use;
// ImportOptions.Timezone overrides it.
var regionZones = map[string]string{
	"AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": "America/Chicago",
	"CA": "America/Los_Angeles", "CO": "America/Denver", "CT": "America/New_York", "DE": "America/New_York",
	"DC": "America/New_York", "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
	"ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis", "IA": "America/Chicago",
	"KS": "America/Chicago", "KY": "America/New_York", "LA": "America/Chicago", "ME": "America/New_York",
	"MD": "America/New_York", "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
	"MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver", "NE": "America/Chicago",
	"NV": "America/Los_Angeles", "NH": "America/New_York", "NJ": "America/New_York", "NM": "America/Denver",
	"NY": "America/New_York", "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
	"OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York", "RI": "America/New_York",
	"SC": "America/New_York", "SD": "America/Chicago", "TN": "America/Chicago", "TX": "America/Chicago",
	"UT": "America/Denver", "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
	"WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver", "PR": "America/Puerto_Rico",
	"AB": "America/Edmonton", "BC": "America/Vancouver", "MB": "America/Winnipeg", "NB": "America/Moncton",
	"NL": "America/St_Johns", "NS": "America/Halifax", "NT": "America/Yellowknife", "NU": "America/Iqaluit",
	"ON": "America/Toronto", "PE": "America/Halifax", "QC": "America/Toronto", "SK": "America/Regina",
	"YT":      "America/Whitehorse",
	"ALBERTA": "America/Edmonton", "BRITISH COLUMBIA": "America/Vancouver", "MANITOBA": "America/Winnipeg",
	"NEW BRUNSWICK": "America/Moncton", "NEWFOUNDLAND AND LABRADOR": "America/St_Johns",
	"NOVA SCOTIA": "America/Halifax", "ONTARIO": "America/Toronto", "PRINCE EDWARD ISLAND": "America/Halifax",
	"QUEBEC": "America/Toronto", "SASKATCHEWAN": "America/Regina", "YUKON": "America/Whitehorse",
}

// canadianRegions are the provinces and territories regionZones names.
var canadianRegions = map[string]bool{
	"AB": true, "BC": true, "MB": true, "NB": true, "NL": true, "NS": true, "NT": true, "NU": true,
	"ON": true, "PE": true, "QC": true, "SK": true, "YT": true, "ALBERTA": true, "BRITISH COLUMBIA": true,
	"MANITOBA": true, "NEW BRUNSWICK": true, "NEWFOUNDLAND AND LABRADOR": true, "NOVA SCOTIA": true,
	"ONTARIO": true, "PRINCE EDWARD ISLAND": true, "QUEBEC": true, "SASKATCHEWAN": true, "YUKON": true,
}

// regionCountry is the country, US or CA, of the state or province an
// address names (as zoneOfAddress finds it), or "" when it names none.
func regionCountry(state, address string) string {
	switch r := regionOf(state, address); {
	case r == "":
		return ""
	case canadianRegions[r]:
		return "CA"
	}
	return "US"
}

// textPhone reads a contact's phone from a feed in E.164, in country (ISO
// 3166-1) when it is written nationally; "" when it cannot be read (a
// number of no known country, a number that cannot be dialled).
func textPhone(p text, country string) string {
	s := strings.Trim(string(p), `" `)
	if s == "" {
		return ""
	}
	if country == "" && !strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "00") {
		return ""
	}
	e, ok := phone.ToE164(s, country)
	if !ok {
		return ""
	}
	return e
}

// zoneOfAddress finds the time zone of a state or province named in an
// address: a part such as "DE 19971" or "Alberta".
func zoneOfAddress(state string, address string) string {
	return regionZones[regionOf(state, address)]
}

// regionOf finds the state or province (a regionZones key) an address
// names, or "".
func regionOf(state string, address string) string {
	if s := strings.ToUpper(strings.TrimSpace(state)); regionZones[s] != "" {
		return s
	}
	for _, part := range strings.Split(address, ",") {
		part = strings.ToUpper(strings.TrimSpace(part))
		if regionZones[part] != "" {
			return part
		}
		if f := strings.Fields(part); len(f) == 2 && isDigits(f[1]) && regionZones[f[0]] != "" {
			return f[0]
		}
	}
	return ""
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// usZIPOf finds a US ZIP code in an address such as
// "18 Olive Ave, Rehoboth Beach, DE 19971, USA": the five digits after a
// state abbreviation.
func usZIPOf(address string) string {
	for _, part := range strings.Split(address, ",") {
		f := strings.Fields(strings.TrimSpace(part))
		if len(f) == 2 && len(f[0]) == 2 && len(f[1]) >= 5 && isDigits(f[1][:5]) && (len(f[1]) == 5 || f[1][5] == '-') {
			return f[1][:5]
		}
	}
	return ""
}
