package zcta

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	recs := []Record{
		{ZIP: 0, Lat: 0, Lon: 0},
		{ZIP: 1001, Lat: Degrees(42.06258358503375), Lon: Degrees(-72.625881680436)},
		{ZIP: 94110, Lat: Degrees(37.74997483681539), Lon: Degrees(-122.41533142474673)},
		{ZIP: 99929, Lat: Degrees(56.369174584832656), Lon: Degrees(-131.95815616489116)},
		{ZIP: 99999, Lat: -90_0000, Lon: 180_0000},
	}
	var buf bytes.Buffer
	if err := Write(&buf, recs); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != len(Magic)+RecordSize*len(recs) {
		t.Errorf("%d bytes for %d records", buf.Len(), len(recs))
	}
	tbl, err := Open(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Len() != len(recs) {
		t.Fatalf("Len = %d, want %d", tbl.Len(), len(recs))
	}
	for i, want := range recs {
		if got := tbl.At(i); got != want {
			t.Errorf("At(%d) = %v, want %v", i, got, want)
		}
		if got, ok := tbl.Find(want.ZIP); !ok || got != want {
			t.Errorf("Find(%d) = %v, %v; want %v", want.ZIP, got, ok, want)
		}
	}
	for _, zip := range []int32{1, 1000, 1002, 50000, 99998, 100000, -1} {
		if r, ok := tbl.Find(zip); ok {
			t.Errorf("Find(%d) = %v, want none", zip, r)
		}
	}
	if recs[2].Lat != 377500 || recs[2].Lon != -1224153 {
		t.Errorf("Degrees rounds 37.74997, -122.41533 to %d, %d", recs[2].Lat, recs[2].Lon)
	}
}

func TestWriteRefusesDisorder(t *testing.T) {
	tests := []struct {
		name string
		recs []Record
	}{
		{"repeat", []Record{{ZIP: 5}, {ZIP: 5}}},
		{"descending", []Record{{ZIP: 6}, {ZIP: 5}}},
		{"zip out of range", []Record{{ZIP: 100000}}},
		{"negative zip", []Record{{ZIP: -1}}},
		{"latitude out of range", []Record{{ZIP: 1, Lat: 90_0001}}},
		{"longitude out of range", []Record{{ZIP: 1, Lon: -180_0001}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Write(&bytes.Buffer{}, tt.recs); err == nil {
				t.Error("Write accepted records out of order or range")
			}
		})
	}
}

func TestOpenRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", []byte("zcta")},
		{"the old gzip form", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00")},
		{"wrong header", []byte("zcta v1\n")},
		{"a partial record", []byte(Magic + "\x00\x03\xe9\x06")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(tt.in); !errors.Is(err, ErrFormat) {
				t.Fatalf("Open = %v, want ErrFormat", err)
			}
		})
	}
	if tbl, err := Open([]byte(Magic)); err != nil || tbl.Len() != 0 {
		t.Errorf("an empty table: %v, %d records", err, tbl.Len())
	}
}
