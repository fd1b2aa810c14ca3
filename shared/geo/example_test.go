package geo_test

import (
	"fmt"

	"github.com/handoff-health/handoff/shared/geo"
)

func ExamplePostalCentroid() {
	lat, lon, ok := geo.PostalCentroid("US", "94110-1234")
	fmt.Println(lat, lon, ok)
	cell := geo.Encode(lat, lon, 6)
	fmt.Println(cell, len(geo.Ring(cell)))
	_, _, ok = geo.PostalCentroid("US", "00000")
	fmt.Println(ok)
	// Output:
	// 37.75 -122.4153 true
	// 9q8yy2 9
	// false
}

func ExampleDistanceKm() {
	fmt.Printf("%.0f km\n", geo.DistanceKm(37.7749, -122.4194, 34.0522, -118.2437))
	// Output: 559 km
}
