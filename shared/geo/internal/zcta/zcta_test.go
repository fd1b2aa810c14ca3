package zcta

import (
	"bytes"
	"compress/gzip"
	"errors"
	"slices"
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
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, recs) {
		t.Errorf("Read(Write(x)) = %v, want %v", got, recs)
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
		{"out of range", []Record{{ZIP: 100000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Write(&bytes.Buffer{}, tt.recs); err == nil {
				t.Error("Write accepted records out of order or range")
			}
		})
	}
}

func TestReadRefusesBadInput(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	tests := []struct {
		name     string
		in       []byte
		isFormat bool
	}{
		{"not gzip", []byte("1001,1,1\n"), false},
		{"empty", gz(""), true},
		{"wrong header", gz("geoid,latitude,longitude\n"), true},
		{"two fields", gz(Header + "\n1001,1\n"), true},
		{"not a number", gz(Header + "\n1001,x,1\n"), true},
		{"zip goes back", gz(Header + "\n1001,1,1\n-1,0,0\n"), true},
		{"zip repeats", gz(Header + "\n1001,1,1\n0,0,0\n"), true},
		{"zip beyond 99999", gz(Header + "\n100000,1,1\n"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.in))
			if err == nil {
				t.Fatal("Read accepted bad input")
			}
			if errors.Is(err, ErrFormat) != tt.isFormat {
				t.Errorf("errors.Is(err, ErrFormat) = %v, want %v (err: %v)", !tt.isFormat, tt.isFormat, err)
			}
		})
	}
}
