package outbound

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// TestCheckCallbackAddr: the addresses a status webhook was first kept from.
func TestCheckCallbackAddr(t *testing.T) {
	tests := []struct {
		ip            string
		allowLoopback bool
		ok            bool
	}{
		{"93.184.216.34", false, true},
		{"2606:2800:220:1:248:1893:25c8:1946", false, true},
		{"127.0.0.1", false, false},
		{"127.0.0.1", true, true},
		{"::1", false, false},
		{"10.0.0.5", true, false},
		{"172.16.3.4", false, false},
		{"192.168.1.1", false, false},
		{"169.254.169.254", true, false}, // instance metadata
		{"fe80::1", false, false},
		{"100.64.0.1", false, false},
		{"0.0.0.0", false, false},
		{"::ffff:10.0.0.1", false, false}, // IPv4-mapped private
		{"fd00::1", false, false},         // unique local
		{"224.0.0.1", false, false},
	}
	for _, tc := range tests {
		err := CheckAddr(netip.MustParseAddr(tc.ip), tc.allowLoopback)
		if (err == nil) != tc.ok {
			t.Errorf("%s (loopback allowed %v): err %v, want ok=%v", tc.ip, tc.allowLoopback, err, tc.ok)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"999999", 24 * time.Hour}, // capped
		{"soon", 0},
	}
	for _, tc := range tests {
		if got := RetryAfter(tc.in, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
