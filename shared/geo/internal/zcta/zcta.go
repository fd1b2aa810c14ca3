// Package zcta writes and reads the US ZIP Code Tabulation Area centroid
// table that shared/geo embeds.
//
// The form is fixed-width binary, so that a lookup is a binary search over the
// embedded bytes, with nothing to decompress or parse first (a cold function
// answers its first referral without loading 33k places). It starts with the
// 8-byte Magic; then come the records, sorted by ZIP code with no repeats,
// each RecordSize bytes: the ZIP code, the latitude and the longitude as
// 24-bit big-endian integers (the coordinates in two's complement, in units of
// 1e-4 degree, about 11 m). 33k places take 297 KB.
package zcta

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// Magic opens the form; it names the format version.
const Magic = "zcta v2\n"

// RecordSize is the size of one record in bytes.
const RecordSize = 9

// Scale is the number of units per degree.
const Scale = 1e4

// Record is one ZIP Code Tabulation Area and its centroid in 1e-4 degree units.
type Record struct {
	ZIP int32 // 0..99999; "01001" is 1001
	Lat int32
	Lon int32
}

// Degrees converts a coordinate to 1e-4 degree units, rounding half away from zero.
func Degrees(deg float64) int32 { return int32(math.Round(deg * Scale)) }

// Write writes records in the form. The records must be sorted by ZIP code
// with no repeats, with coordinates within ±90 and ±180 degrees; Write returns
// an error naming the first one that is not, or the writer's error.
func Write(w io.Writer, recs []Record) error {
	buf := make([]byte, 0, len(Magic)+RecordSize*len(recs))
	buf = append(buf, Magic...)
	for i, r := range recs {
		switch {
		case r.ZIP < 0 || r.ZIP > 99999:
			return fmt.Errorf("zcta: record %d: zip out of range", i)
		case i > 0 && r.ZIP <= recs[i-1].ZIP:
			return fmt.Errorf("zcta: record %d: not sorted or repeated", i)
		case r.Lat < -90*Scale || r.Lat > 90*Scale || r.Lon < -180*Scale || r.Lon > 180*Scale:
			return fmt.Errorf("zcta: record %d: coordinates out of range", i)
		}
		buf = put24(put24(put24(buf, r.ZIP), r.Lat), r.Lon)
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("zcta: write: %w", err)
	}
	return nil
}

func put24(b []byte, v int32) []byte { return append(b, byte(v>>16), byte(v>>8), byte(v)) }

// get24 reads a 24-bit big-endian two's complement integer.
func get24(b []byte) int32 { return int32(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8) >> 8 }

// ErrFormat is returned by Open for data that is not in the form.
var ErrFormat = errors.New("zcta: not in the table form")

// Table is the form's bytes, opened for lookups.
type Table struct{ recs []byte }

// Open checks data's magic and length — not the records, which Write
// checked when it made them — and returns the table. It keeps data.
func Open(data []byte) (Table, error) {
	if len(data) < len(Magic) || string(data[:len(Magic)]) != Magic {
		return Table{}, fmt.Errorf("%w: unknown header", ErrFormat)
	}
	recs := data[len(Magic):]
	if len(recs)%RecordSize != 0 {
		return Table{}, fmt.Errorf("%w: %d bytes of records is not a whole number of records", ErrFormat, len(recs))
	}
	return Table{recs: recs}, nil
}

// Len is the number of records.
func (t Table) Len() int { return len(t.recs) / RecordSize }

// At returns record i, 0 ≤ i < Len.
func (t Table) At(i int) Record {
	b := t.recs[i*RecordSize : (i+1)*RecordSize]
	return Record{ZIP: get24(b[0:3]), Lat: get24(b[3:6]), Lon: get24(b[6:9])}
}

// Find returns the record of a ZIP code, by binary search.
func (t Table) Find(zip int32) (Record, bool) {
	i := sort.Search(t.Len(), func(i int) bool { return get24(t.recs[i*RecordSize:]) >= zip })
	if i == t.Len() {
		return Record{}, false
	}
	r := t.At(i)
	return r, r.ZIP == zip
}
