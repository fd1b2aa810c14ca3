// Package zcta reads and writes the compact form of the US ZIP Code Tabulation
// Area centroid table that shared/geo embeds.
//
// The form is gzip-compressed text. The first line is the Header. Every other
// line holds three comma-separated decimal integers: the difference from the
// previous record's ZIP code, latitude and longitude, where latitude and
// longitude are in units of 1e-4 degree (about 11 m) and the "previous record"
// of the first line is 0,0,0. Records are sorted by ZIP code with no repeats,
// so the ZIP differences are always positive. Delta coding keeps the numbers
// short, and gzip does the rest: 33k places fit in under 200 KB.
package zcta

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Header is the first line of the compact form; it names the format version.
const Header = "# handoff zcta centroids v1: delta zip,lat*1e4,lon*1e4"

// Scale is the number of units per degree in the compact form.
const Scale = 1e4

// Record is one ZIP Code Tabulation Area and its centroid in 1e-4 degree units.
type Record struct {
	ZIP int32 // 0..99999; "01001" is 1001
	Lat int32
	Lon int32
}

// Degrees converts a coordinate to 1e-4 degree units, rounding half away from zero.
func Degrees(deg float64) int32 { return int32(math.Round(deg * Scale)) }

// Write writes records in the compact form. The records must be sorted by ZIP
// code with no repeats; Write returns an error naming the first one that is
// not, or the writer's error.
func Write(w io.Writer, recs []Record) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("zcta: new gzip writer: %w", err)
	}
	bw := bufio.NewWriter(zw)
	if _, err := bw.WriteString(Header + "\n"); err != nil {
		return fmt.Errorf("zcta: write header: %w", err)
	}
	var prev Record
	buf := make([]byte, 0, 32)
	for i, r := range recs {
		if r.ZIP < 0 || r.ZIP > 99999 {
			return fmt.Errorf("zcta: record %d: zip out of range", i)
		}
		if i > 0 && r.ZIP <= prev.ZIP {
			return fmt.Errorf("zcta: record %d: not sorted or repeated", i)
		}
		buf = buf[:0]
		buf = strconv.AppendInt(buf, int64(r.ZIP-prev.ZIP), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(r.Lat-prev.Lat), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(r.Lon-prev.Lon), 10)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("zcta: write record %d: %w", i, err)
		}
		prev = r
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("zcta: flush: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("zcta: close gzip: %w", err)
	}
	return nil
}

// ErrFormat is returned by Read for input that is not in the compact form.
var ErrFormat = errors.New("zcta: not in the compact form")

// Read reads the compact form written by Write. It returns an error wrapping
// ErrFormat for a bad header, a bad line or records out of order, or the
// reader's error.
func Read(r io.Reader) ([]Record, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("zcta: open gzip: %w", err)
	}
	defer zr.Close()
	sc := bufio.NewScanner(zr)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("zcta: read header: %w", err)
		}
		return nil, fmt.Errorf("%w: empty", ErrFormat)
	}
	if sc.Text() != Header {
		return nil, fmt.Errorf("%w: unknown header", ErrFormat)
	}
	recs := make([]Record, 0, 34000)
	var prev Record
	for line := 2; sc.Scan(); line++ {
		dz, rest, ok1 := strings.Cut(sc.Text(), ",")
		dlat, dlon, ok2 := strings.Cut(rest, ",")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: line %d: want three fields", ErrFormat, line)
		}
		z, err1 := strconv.ParseInt(dz, 10, 32)
		la, err2 := strconv.ParseInt(dlat, 10, 32)
		lo, err3 := strconv.ParseInt(dlon, 10, 32)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrFormat, line, err)
		}
		cur := Record{ZIP: prev.ZIP + int32(z), Lat: prev.Lat + int32(la), Lon: prev.Lon + int32(lo)}
		if z <= 0 && len(recs) > 0 || cur.ZIP < 0 || cur.ZIP > 99999 {
			return nil, fmt.Errorf("%w: line %d: zip out of order or range", ErrFormat, line)
		}
		recs = append(recs, cur)
		prev = cur
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("zcta: read: %w", err)
	}
	return recs, nil
}
