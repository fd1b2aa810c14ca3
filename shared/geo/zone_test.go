package geo

import "testing"

func TestZoneOfPostal(t *testing.T) {
	for _, c := range []struct{ country, zip, want string }{
		{"US", "30303", "America/New_York"},  // Atlanta
		{"", "94110", "America/Los_Angeles"}, // San Francisco
		{"us", "60601", "America/Chicago"},   // Chicago
		{"", "78701", "America/Chicago"},     // Austin
		{"", "79901", "America/Denver"},      // El Paso
		{"", "32501", "America/Chicago"},     // Pensacola
		{"", "32301", "America/New_York"},    // Tallahassee
		{"", "37902", "America/New_York"},    // Knoxville
		{"", "37203", "America/Chicago"},     // Nashville
		{"", "85004", "America/Phoenix"},     // Phoenix
		{"", "80202", "America/Denver"},      // Denver
		{"", "96813", "Pacific/Honolulu"},    // Honolulu
		{"", "99501", "America/Anchorage"},   // Anchorage
		{"", "98101-1234", "America/Los_Angeles"},
		{"", "09001", ""}, // military mail
		{"CA", "30303", ""},
		{"", "3030", ""},
		{"", "abcde", ""},
	} {
		if got := ZoneOfPostal(c.country, c.zip); got != c.want {
			t.Errorf("ZoneOfPostal(%q, %q) = %q, want %q", c.country, c.zip, got, c.want)
		}
	}
}
