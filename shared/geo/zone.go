package geo

import (
	"slices"
	"strings"
)

// zip3Zone is one run of US three-digit ZIP prefixes and the IANA zone most of
// their area keeps. The runs follow the postal service's prefix-to-state
// assignment; a state split between two zones is split where its prefixes
// are (the Florida panhandle, east Tennessee, west Kentucky, the Indiana
// corners, west Texas, west Nebraska and South Dakota, north Idaho). A few
// prefixes straddle a zone line; they take the zone of their main city.
type zip3Zone struct {
	upTo int // the last prefix of the run
	zone string
}

// zip3Zones run in order of upTo; a prefix belongs to the first run whose
// upTo is not below it. "" marks prefixes of no US state (military mail).
var zip3Zones = []zip3Zone{
	{4, ""}, {5, "America/New_York"}, {9, "America/Puerto_Rico"},
	{89, "America/New_York"},            // MA RI NH ME VT CT NJ
	{99, ""}, {219, "America/New_York"}, // NY PA DE DC MD
	{319, "America/New_York"},                           // VA WV NC SC GA
	{323, "America/New_York"}, {325, "America/Chicago"}, // Florida panhandle
	{339, "America/New_York"}, {340, ""}, {349, "America/New_York"},
	{369, "America/Chicago"}, // AL
	{372, "America/Chicago"}, {374, "America/New_York"}, {375, "America/Chicago"},
	{379, "America/New_York"}, {385, "America/Chicago"}, // TN
	{397, "America/Chicago"}, {399, "America/New_York"}, // MS, GA
	{419, "America/New_York"}, {424, "America/Chicago"}, {427, "America/New_York"}, // KY
	{459, "America/New_York"}, // OH
	{462, "America/Indiana/Indianapolis"}, {464, "America/Chicago"},
	{475, "America/Indiana/Indianapolis"}, {477, "America/Chicago"},
	{479, "America/Indiana/Indianapolis"},               // IN
	{499, "America/Detroit"},                            // MI
	{568, "America/Chicago"}, {569, "America/New_York"}, // IA WI MN, DC
	{574, "America/Chicago"}, {577, "America/Denver"}, // SD
	{588, "America/Chicago"}, {599, "America/Denver"}, // ND, MT
	{692, "America/Chicago"}, {693, "America/Denver"}, // IL MO KS NE, west NE
	{797, "America/Chicago"}, {799, "America/Denver"}, // LA AR OK TX, El Paso
	{831, "America/Denver"}, {834, "America/Boise"}, {835, "America/Los_Angeles"},
	{837, "America/Boise"}, {838, "America/Los_Angeles"}, // CO WY, ID
	{847, "America/Denver"}, {849, ""}, {865, "America/Phoenix"}, // UT, AZ
	{884, "America/Denver"}, {885, "America/Denver"}, {888, ""}, // NM, El Paso
	{898, "America/Los_Angeles"}, {961, "America/Los_Angeles"}, // NV, CA
	{966, ""}, {968, "Pacific/Honolulu"}, {969, "Pacific/Guam"},
	{994, "America/Los_Angeles"}, {999, "America/Anchorage"}, // OR WA, AK
}

// ZoneOfPostal returns the IANA time zone a US ZIP code most likely lies in,
// from its first three digits, or "" for another country, a malformed code
// or a prefix of no state. It is a coarse guess, as a location from a postal
// code is: right for the city a prefix serves, possibly an hour off at the
// edge of a zone.
func ZoneOfPostal(country, postal string) string {
	if country != "" && !strings.EqualFold(country, "US") {
		return ""
	}
	zip, ok := parseZIP(strings.TrimSpace(postal))
	if !ok {
		return ""
	}
	p := int(zip / 100)
	i, _ := slices.BinarySearchFunc(zip3Zones, p, func(z zip3Zone, p int) int { return z.upTo - p })
	if i == len(zip3Zones) {
		return ""
	}
	return zip3Zones[i].zone
}
