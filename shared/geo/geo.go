// Package geo is handoff's coarse location: geohash cells, distances, and the
// centroid of a US ZIP code. It never deals in street addresses.
//
// A patient's location is kept as a geohash cell (precision 6 is about
// 1.2 km × 0.6 km) and the cell's centre, never the point the clinic sent.
// Group matching reads a cell and its neighbours (Ring), so a patient near a
// cell's edge still meets the groups just across it.
//
// ZIP centroids come from an embedded table of the US Census Bureau's ZIP Code
// Tabulation Areas (see ATTRIBUTION.md). The table is parsed on first use, not
// at start-up, so a Lambda that never looks up a ZIP code pays nothing for it.
package geo

import (
	"math"

	"github.com/mmcloughlin/geohash"
)

// MaxPrecision is the longest geohash Encode makes (12 characters, a few cm).
const MaxPrecision = 12

// EarthRadiusKm is the mean Earth radius (IUGG) used by DistanceKm.
const EarthRadiusKm = 6371.0088

// edge is how far inside the top (90°) and east (180°) edges a point on them
// is moved: those edges belong to no cell, and the geohash encoder's float
// arithmetic rounds points within a few ulps of them over the edge. 1e-9° is
// far below the smallest cell (about 1.7e-7° at precision 12).
const edge = 1e-9

// Encode returns the geohash cell of precision characters (1..12; 0 is taken
// as 1 and more than 12 as 12) that holds the point. Latitudes beyond ±90 are
// clamped to the poles and longitudes are wrapped into [-180, 180), so every
// finite point has a cell. A NaN coordinate is taken as 0.
func Encode(lat, lon float64, precision uint) string {
	precision = min(max(precision, 1), MaxPrecision)
	return geohash.EncodeWithPrecision(clampLat(lat), wrapLon(lon), precision)
}

func clampLat(lat float64) float64 {
	switch {
	case math.IsNaN(lat):
		return 0
	case lat > 90-edge:
		return 90 - edge
	case lat < -90:
		return -90
	}
	return lat
}

func wrapLon(lon float64) float64 {
	if math.IsNaN(lon) || math.IsInf(lon, 0) {
		return 0
	}
	if lon < -180 || lon >= 180 {
		lon = math.Mod(lon+180, 360)
		if lon < 0 {
			lon += 360
		}
		lon -= 180
	}
	return min(lon, 180-edge)
}

// Valid reports whether cell is a geohash of 1 to 12 characters in the
// lower-case geohash alphabet.
func Valid(cell string) bool {
	return cell != "" && len(cell) <= MaxPrecision && geohash.Validate(cell) == nil
}

// Center returns the centre of a cell. For a cell that is not Valid it returns
// NaN, NaN: an invalid cell has no place, and no guess is made.
func Center(cell string) (lat, lon float64) {
	if !Valid(cell) {
		return math.NaN(), math.NaN()
	}
	return geohash.DecodeCenter(cell)
}

// Neighbors returns the cells of the same precision around cell, in the order
// N, NE, E, SE, S, SW, W, NW. Across the antimeridian they wrap; at a pole,
// where a cell has no northern (or southern) neighbours, the list is shorter
// and holds each cell once. It returns nil for a cell that is not Valid.
func Neighbors(cell string) []string {
	if !Valid(cell) {
		return nil
	}
	box := geohash.BoundingBox(cell)
	lat, lon := box.Center()
	dLat, dLon := box.MaxLat-box.MinLat, box.MaxLng-box.MinLng
	p := uint(len(cell))
	steps := [8][2]float64{{1, 0}, {1, 1}, {0, 1}, {-1, 1}, {-1, 0}, {-1, -1}, {0, -1}, {1, -1}}
	out := make([]string, 0, 8)
	for _, s := range steps {
		nLat := lat + s[0]*dLat
		if nLat > 90 || nLat < -90 {
			continue // beyond a pole
		}
		n := Encode(nLat, lon+s[1]*dLon, p)
		if n != cell && !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Ring returns cell followed by its Neighbors: the cells a search around a
// point inside cell reads. It returns nil for a cell that is not Valid.
func Ring(cell string) []string {
	if !Valid(cell) {
		return nil
	}
	return append([]string{cell}, Neighbors(cell)...)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// DistanceKm returns the great-circle distance in kilometres between two
// points given in degrees (haversine formula on a sphere of EarthRadiusKm).
func DistanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	dφ := (lat2 - lat1) * rad
	dλ := (lon2 - lon1) * rad
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * EarthRadiusKm * math.Asin(math.Sqrt(min(a, 1)))
}
