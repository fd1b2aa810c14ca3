// Command zctagen turns a ZCTA centroid CSV (columns geoid, latitude,
// longitude, with a header row) into the fixed-width table (package zcta)
// that shared/geo embeds.
// Rows repeated exactly are kept once; a ZIP code listed twice with different
// points is an error. Coordinates are rounded to 4 decimals.
//
//	go run ./shared/geo/internal/zctagen -in zctas_2018.csv -out shared/geo/zcta.bin
package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/handoff-health/handoff/shared/geo/internal/zcta"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "zctagen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("zctagen", flag.ContinueOnError)
	in := fs.String("in", "", "input CSV (geoid,latitude,longitude)")
	out := fs.String("out", "", "output file (the zcta table form)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("both -in and -out are required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := readCSV(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", *in, err)
	}
	var buf bytes.Buffer
	if err := zcta.Write(&buf, recs); err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "zctagen: %d places, %d bytes\n", len(recs), buf.Len())
	return nil
}

func readCSV(r io.Reader) ([]zcta.Record, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 3
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 || rows[0][0] != "geoid" {
		return nil, errors.New("want a header row starting with geoid")
	}
	recs := make([]zcta.Record, 0, len(rows)-1)
	for i, row := range rows[1:] {
		if len(row[0]) != 5 {
			return nil, fmt.Errorf("row %d: geoid is not 5 digits", i+2)
		}
		z, err1 := strconv.ParseInt(row[0], 10, 32)
		lat, err2 := strconv.ParseFloat(row[1], 64)
		lon, err3 := strconv.ParseFloat(row[2], 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("row %d: %w", i+2, err)
		}
		if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return nil, fmt.Errorf("row %d: coordinates out of range", i+2)
		}
		recs = append(recs, zcta.Record{ZIP: int32(z), Lat: zcta.Degrees(lat), Lon: zcta.Degrees(lon)})
	}
	slices.SortFunc(recs, func(a, b zcta.Record) int { return int(a.ZIP - b.ZIP) })
	out := recs[:0]
	for _, r := range recs {
		if n := len(out); n > 0 && out[n-1].ZIP == r.ZIP {
			if out[n-1] != r {
				return nil, fmt.Errorf("zip %05d listed twice with different points", r.ZIP)
			}
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
