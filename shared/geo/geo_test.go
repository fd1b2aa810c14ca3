package geo

import (
	"math"
	"slices"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name      string
		lat, lon  float64
		precision uint
		want      string
	}{
		{"wikipedia example", 42.605, -5.603, 5, "ezs42"},
		{"jutland", 57.64911, 10.40744, 11, "u4pruydqqvj"},
		{"san francisco mission, precision 6", 37.75, -122.41, 6, "9q8yy2"},
		{"precision 0 taken as 1", 42.605, -5.603, 0, "e"},
		{"precision above 12 taken as 12", 57.64911, 10.40744, 20, "u4pruydqqvj8"},
		{"north pole is inside the top cell", 90, 0, 3, "upb"},
		{"beyond the pole is clamped", 91, 0, 3, "upb"},
		{"south pole", -90, 0, 3, "h00"},
		{"just below the north pole", math.Nextafter(90, 0), 0, 12, Encode(90, 0, 12)},
		{"just west of the antimeridian", 0, math.Nextafter(180, 0), 3, "xbp"},
		{"longitude 180 wraps to -180", 0, 180, 2, Encode(0, -180, 2)},
		{"longitude 540 wraps to -180", 10, 540, 4, Encode(10, -180, 4)},
		{"longitude -190 wraps to 170", 10, -190, 4, Encode(10, 170, 4)},
		{"NaN taken as 0", math.NaN(), math.NaN(), 3, Encode(0, 0, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Encode(tt.lat, tt.lon, tt.precision); got != tt.want {
				t.Errorf("Encode(%v, %v, %d) = %q, want %q", tt.lat, tt.lon, tt.precision, got, tt.want)
			}
		})
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		cell string
		want bool
	}{
		{"9q8yy2", true},
		{"u", true},
		{"u4pruydqqvj8", true},
		{"", false},
		{"u4pruydqqvjwx", false}, // 13 characters
		{"9Q8YYK", false},        // upper case is not the geohash alphabet
		{"9q8yya", false},        // 'a' is not in the alphabet
		{"9q8 yk", false},
	}
	for _, tt := range tests {
		t.Run(tt.cell, func(t *testing.T) {
			if got := Valid(tt.cell); got != tt.want {
				t.Errorf("Valid(%q) = %v, want %v", tt.cell, got, tt.want)
			}
		})
	}
}

func TestCenter(t *testing.T) {
	t.Run("cell centre holds its cell", func(t *testing.T) {
		for _, cell := range []string{"ezs42", "9q8yy2", "u4pruydqqvj", "b", "h00"} {
			lat, lon := Center(cell)
			if got := Encode(lat, lon, uint(len(cell))); got != cell {
				t.Errorf("Encode(Center(%q)) = %q", cell, got)
			}
		}
	})
	t.Run("ezs42 centre", func(t *testing.T) {
		lat, lon := Center("ezs42")
		if math.Abs(lat-42.6050) > 0.001 || math.Abs(lon-(-5.6030)) > 0.001 {
			t.Errorf("Center(ezs42) = %v, %v; want about 42.605, -5.603", lat, lon)
		}
	})
	t.Run("invalid cell is NaN", func(t *testing.T) {
		lat, lon := Center("not-a-cell")
		if !math.IsNaN(lat) || !math.IsNaN(lon) {
			t.Errorf("Center(invalid) = %v, %v; want NaN, NaN", lat, lon)
		}
	})
}

func TestNeighbors(t *testing.T) {
	tests := []struct {
		name string
		cell string
		want []string
	}{
		{
			name: "ezs42, N NE E SE S SW W NW",
			cell: "ezs42",
			want: []string{"ezs48", "ezs49", "ezs43", "ezs41", "ezs40", "ezefp", "ezefr", "ezefx"},
		},
		{
			name: "across the antimeridian",
			cell: Encode(0.01, 179.999, 3),
			want: []string{"xbr", "802", "800", "2pb", "rzz", "rzy", "xbn", "xbq"},
		},
		{
			name: "top row has no northern neighbours",
			cell: "u", // 45..90 N, 0..45 E
			want: []string{"v", "t", "s", "e", "g"},
		},
		{name: "invalid cell", cell: "A", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Neighbors(tt.cell)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Neighbors(%q) = %q, want %q", tt.cell, got, tt.want)
			}
		})
	}
}

func TestRing(t *testing.T) {
	got := Ring("9q8yy2")
	if len(got) != 9 || got[0] != "9q8yy2" {
		t.Fatalf("Ring = %q; want the cell then 8 neighbours", got)
	}
	if !slices.Equal(got[1:], Neighbors("9q8yy2")) {
		t.Errorf("Ring[1:] = %q, want Neighbors", got[1:])
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c] {
			t.Errorf("Ring holds %q twice", c)
		}
		seen[c] = true
		// Every ring cell touches the centre cell: centres at most one cell
		// away in each direction.
		lat0, lon0 := Center(got[0])
		lat, lon := Center(c)
		if math.Abs(lat-lat0) > 0.0055*1.01 || math.Abs(lon-lon0) > 0.011*1.01 {
			t.Errorf("ring cell %q is not adjacent to %q", c, got[0])
		}
	}
	if Ring("") != nil {
		t.Error("Ring of an invalid cell is not nil")
	}
}

func TestDistanceKm(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tol              float64
	}{
		{"same point", 37.75, -122.41, 37.75, -122.41, 0, 1e-9},
		{"one degree on the equator", 0, 0, 0, 1, 2 * math.Pi * EarthRadiusKm / 360, 1e-9},
		{"antipodes", 0, 0, 0, 180, math.Pi * EarthRadiusKm, 1e-6},
		{"pole to pole", 90, 0, -90, 0, math.Pi * EarthRadiusKm, 1e-6},
		{"san francisco to los angeles", 37.7749, -122.4194, 34.0522, -118.2437, 559.1, 0.5},
		{"across the antimeridian", 0, 179.5, 0, -179.5, 2 * math.Pi * EarthRadiusKm / 360, 1e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DistanceKm(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
			if math.Abs(got-tt.want) > tt.tol {
				t.Errorf("DistanceKm = %.6f, want %.6f ± %g", got, tt.want, tt.tol)
			}
			if back := DistanceKm(tt.lat2, tt.lon2, tt.lat1, tt.lon1); math.Abs(back-got) > 1e-9 {
				t.Errorf("DistanceKm is not symmetric: %v vs %v", got, back)
			}
		})
	}
}
