package geo

import (
	"math"
	"testing"

	"github.com/handoff-health/handoff/shared/geo/internal/zcta"
)

func TestEmbeddedTable(t *testing.T) {
	tbl, err := zips()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if got := tbl.Len(); got != 32989 {
		t.Errorf("table holds %d ZCTAs, want 32989", got)
	}
	recs := make([]zcta.Record, tbl.Len())
	for i := range recs {
		recs[i] = tbl.At(i)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].ZIP <= recs[i-1].ZIP {
			t.Fatalf("table not sorted at %d", i)
		}
	}
	// The table is the 2018 ZCTA centroids it was made from: a checksum of
	// every record, taken when the form changed from delta-coded gzip text.
	var sum int64
	for i, r := range recs {
		sum += int64(i+1) * (int64(r.ZIP) + 7*int64(r.Lat) + 13*int64(r.Lon))
	}
	if sum != embeddedChecksum {
		t.Errorf("records checksum %d, want %d", sum, embeddedChecksum)
	}
	for _, r := range recs {
		// The 50 states and DC lie between these bounds.
		if r.Lat < 17_0000 || r.Lat > 72_0000 || (r.Lon > -64_0000 && r.Lon < 170_0000) {
			t.Errorf("zip %05d at %d, %d is outside the US", r.ZIP, r.Lat, r.Lon)
		}
	}
}

func TestPostalCentroid(t *testing.T) {
	tests := []struct {
		name, country, postal string
		lat, lon              float64
		ok                    bool
	}{
		{"san francisco", "US", "94110", 37.7500, -122.4153, true},
		{"leading zero", "US", "01001", 42.0626, -72.6259, true},
		{"new york", "US", "10001", 40.7506, -73.9972, true},
		{"chicago, country empty", "", "60601", 41.8853, -87.6221, true},
		{"last zip in the table", "US", "99929", 56.3692, -131.9582, true},
		{"zip+4", "US", "94110-1234", 37.7500, -122.4153, true},
		{"country lower case", "us", "94110", 37.7500, -122.4153, true},
		{"surrounding spaces", "US", " 94110 ", 37.7500, -122.4153, true},
		{"other country", "CA", "94110", 0, 0, false},
		{"mexico", "MX", "06600", 0, 0, false},
		{"four digits", "US", "9411", 0, 0, false},
		{"six digits", "US", "941101", 0, 0, false},
		{"short plus four", "US", "94110-12", 0, 0, false},
		{"letters", "US", "ABCDE", 0, 0, false},
		{"space inside", "US", "941 10", 0, 0, false},
		{"plus four with letters", "US", "94110-12AB", 0, 0, false},
		{"empty", "US", "", 0, 0, false},
		{"no area (White House)", "US", "20500", 0, 0, false},
		{"not in the table (Puerto Rico)", "US", "00601", 0, 0, false},
		{"zero", "US", "00000", 0, 0, false},
		{"full-width digits", "US", "９４１１０", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lat, lon, ok := PostalCentroid(tt.country, tt.postal)
			if ok != tt.ok {
				t.Fatalf("PostalCentroid(%q, %q) ok = %v, want %v", tt.country, tt.postal, ok, tt.ok)
			}
			if math.Abs(lat-tt.lat) > 1e-9 || math.Abs(lon-tt.lon) > 1e-9 {
				t.Errorf("PostalCentroid(%q, %q) = %v, %v; want %v, %v", tt.country, tt.postal, lat, lon, tt.lat, tt.lon)
			}
		})
	}
}

// BenchmarkZIPOpen measures the first-use cost: checking the embedded
// table's header and length (there is nothing to decompress or parse).
func BenchmarkZIPOpen(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := zcta.Open(zctaBin); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPostalCentroid measures one lookup once the table is loaded.
func BenchmarkPostalCentroid(b *testing.B) {
	if _, _, ok := PostalCentroid("US", "94110"); !ok {
		b.Fatal("94110 not found")
	}
	b.ReportAllocs()
	for b.Loop() {
		PostalCentroid("US", "94110-1234")
	}
}

func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Encode(37.75, -122.41, 6)
	}
}

// embeddedChecksum is TestEmbeddedTable's checksum of the 32,989 records.
const embeddedChecksum = -5485159368695909
