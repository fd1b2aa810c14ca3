package phone

import "testing"

func TestValidE164(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"+14155550100", true},
		{"+12125551234", true},
		{"+442079460958", true},
		{"+5215512345678", true},
		{"+34912345678", true},
		{"+4155550100", true},    // +41 (CH) and a 8-digit national number
		{"14155550100", false},   // no plus
		{"+1415555010", false},   // NANP needs 10 digits
		{"+11155550100", false},  // area code starts with 1
		{"+14151550100", false},  // exchange starts with 1
		{"+19115550100", false},  // N11 area code
		{"+15555555555", false},  // 555 is not an area code
		{"+12995550100", false},  // N9X is reserved
		{"+0123456789", false},   // no country code 0
		{"+999123456789", false}, // 999 is not in service
		{"+1 415 555 0100", false},
		{"+1415555010a", false},
		{"+", false},
		{"", false},
		{"+1234567890123456", false}, // too long
	}
	for _, tc := range tests {
		if got := ValidE164(tc.in); got != tc.want {
			t.Errorf("ValidE164(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestToE164(t *testing.T) {
	tests := []struct {
		in, region, want string
		ok               bool
	}{
		{"(415) 555-0100", "US", "+14155550100", true},
		{"415.555.0100", "", "+14155550100", true},
		{"1-415-555-0100", "US", "+14155550100", true},
		{"+44 20 7946 0958", "US", "+442079460958", true},
		{"0044 20 7946 0958", "", "+442079460958", true},
		{"020 7946 0958", "GB", "+442079460958", true},
		{"55 1234 5678", "MX", "+525512345678", true},
		{"555-0100", "US", "", false},
		{"call me", "US", "", false},
		{"0201234567", "ZZ", "", false},
	}
	for _, tc := range tests {
		got, ok := ToE164(tc.in, tc.region)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ToE164(%q, %q) = %q, %v; want %q, %v", tc.in, tc.region, got, ok, tc.want, tc.ok)
		}
	}
}
