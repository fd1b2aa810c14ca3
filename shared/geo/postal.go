package geo

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/handoff-health/handoff/shared/geo/internal/zcta"
)

// zctaBin is the US ZCTA centroid table in the fixed-width form of package
// zcta: a lookup searches these bytes where they are, with nothing to load
// first. Regenerate it with internal/zctagen; see ATTRIBUTION.md for its
// source.
//
//go:embed zcta.bin
var zctaBin []byte

// zips opens the embedded table (a check of its header and length).
var zips = sync.OnceValues(func() (zcta.Table, error) {
	t, err := zcta.Open(zctaBin)
	if err != nil {
		return zcta.Table{}, fmt.Errorf("geo: zip centroids: %w", err)
	}
	return t, nil
})

// PostalCentroid returns the centroid of a US postal code: the centre of its
// ZIP Code Tabulation Area, to 4 decimals. country must be "US" (any case) or
// empty; postal is five digits, optionally followed by "-" and four digits
// (ZIP+4, whose extra digits are ignored), with surrounding spaces allowed.
//
// ok is false for any other country, a malformed code, or a code the table does
// not hold (such as a PO-box-only ZIP code, which has no area): it never
// guesses from a nearby code.
func PostalCentroid(country, postal string) (lat, lon float64, ok bool) {
	if country != "" && !strings.EqualFold(country, "US") {
		return 0, 0, false
	}
	zip, ok := parseZIP(strings.TrimSpace(postal))
	if !ok {
		return 0, 0, false
	}
	tbl, err := zips()
	if err != nil {
		// The table is embedded and checked by the tests; a failure here is a
		// broken build, and the honest answer is "unknown".
		return 0, 0, false
	}
	r, found := tbl.Find(zip)
	if !found {
		return 0, 0, false
	}
	return float64(r.Lat) / zcta.Scale, float64(r.Lon) / zcta.Scale, true
}

// parseZIP reads "12345" or "12345-6789".
func parseZIP(s string) (int32, bool) {
	switch {
	case len(s) == 5:
	case len(s) == 10 && s[5] == '-' && digits(s[6:]):
	default:
		return 0, false
	}
	if !digits(s[:5]) {
		return 0, false
	}
	var z int32
	for _, c := range []byte(s[:5]) {
		z = z*10 + int32(c-'0')
	}
	return z, true
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
