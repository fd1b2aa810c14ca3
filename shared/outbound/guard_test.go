package outbound

import (
	"net/netip"
	"testing"
)

// lastAddr is the last address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestCheckAddrRegistries: every range of IANA's IPv4 and IPv6
// special-purpose address registries is refused, at its first and its last
// address; loopback only when allowed.
func TestCheckAddrRegistries(t *testing.T) {
	for _, c := range []struct {
		prefix, name string
	}{
		// IPv4 Special-Purpose Address Registry.
		{"0.0.0.0/8", "this network"}, {"0.0.0.0/32", "this host on this network"},
		{"10.0.0.0/8", "private-use"}, {"100.64.0.0/10", "shared address space"},
		{"127.0.0.0/8", "loopback"}, {"169.254.0.0/16", "link local"},
		{"172.16.0.0/12", "private-use"}, {"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.0.0/29", "IPv4 service continuity prefix"}, {"192.0.0.8/32", "IPv4 dummy address"},
		{"192.0.0.9/32", "port control protocol anycast"}, {"192.0.0.10/32", "TURN anycast"},
		{"192.0.0.170/32", "NAT64/DNS64 discovery"}, {"192.0.0.171/32", "NAT64/DNS64 discovery"},
		{"192.0.2.0/24", "documentation (TEST-NET-1)"}, {"192.31.196.0/24", "AS112-v4"},
		{"192.52.193.0/24", "AMT"}, {"192.88.99.0/24", "deprecated 6to4 relay anycast"},
		{"192.168.0.0/16", "private-use"}, {"192.175.48.0/24", "direct delegation AS112"},
		{"198.18.0.0/15", "benchmarking"}, {"198.51.100.0/24", "documentation (TEST-NET-2)"},
		{"203.0.113.0/24", "documentation (TEST-NET-3)"}, {"240.0.0.0/4", "reserved"},
		{"255.255.255.255/32", "limited broadcast"},
		// Multicast (IPv4 and IPv6 multicast registries).
		{"224.0.0.0/4", "multicast"}, {"ff00::/8", "multicast"},
		// IPv6 Special-Purpose Address Registry.
		{"::1/128", "loopback"}, {"::/128", "unspecified"}, {"::ffff:0:0/96", "IPv4-mapped"},
		{"64:ff9b::/96", "IPv4-IPv6 translation (NAT64)"}, {"64:ff9b:1::/48", "local-use IPv4-IPv6 translation"},
		{"100::/64", "discard-only"}, {"100:0:0:1::/64", "dummy IPv6 prefix"},
		{"2001::/23", "IETF protocol assignments"}, {"2001::/32", "TEREDO"},
		{"2001:1::1/128", "port control protocol anycast"}, {"2001:1::2/128", "TURN anycast"},
		{"2001:1::3/128", "DNS-SD service registration protocol anycast"},
		{"2001:2::/48", "benchmarking"}, {"2001:3::/32", "AMT"}, {"2001:4:112::/48", "AS112-v6"},
		{"2001:10::/28", "deprecated ORCHID"}, {"2001:20::/28", "ORCHIDv2"}, {"2001:30::/28", "drone remote ID"},
		{"2001:db8::/32", "documentation"}, {"2002::/16", "6to4"}, {"2620:4f:8000::/48", "direct delegation AS112"},
		{"3fff::/20", "documentation"}, {"5f00::/16", "segment routing SIDs"},
		{"fc00::/7", "unique-local"}, {"fe80::/10", "link-local unicast"},
	} {
		p := netip.MustParsePrefix(c.prefix)
		for _, ip := range []netip.Addr{p.Addr(), lastAddr(p)} {
			allowed := CheckAddr(ip, false) == nil
			switch {
			case c.prefix == "::ffff:0:0/96" || c.prefix == "64:ff9b::/96" || c.prefix == "2002::/16":
				// These carry an IPv4 address: judged by it (see below).
				// Their first address carries 0.0.0.0, their last
				// 255.255.255.255: both refused.
				if allowed {
					t.Errorf("%s (%s): %s allowed", c.prefix, c.name, ip)
				}
			case allowed:
				t.Errorf("%s (%s): %s allowed", c.prefix, c.name, ip)
			}
		}
	}
	// Loopback, only when the stack is local.
	for _, ip := range []string{"127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"} {
		if err := CheckAddr(netip.MustParseAddr(ip), true); err != nil {
			t.Errorf("%s with loopback allowed: %v", ip, err)
		}
		if CheckAddr(netip.MustParseAddr(ip), false) == nil {
			t.Errorf("%s allowed without loopback allowed", ip)
		}
	}
}

// TestCheckAddrEmbedded: an IPv4 address inside an IPv6 one is judged as
// the plain IPv4 address; public addresses pass.
func TestCheckAddrEmbedded(t *testing.T) {
	for ip, ok := range map[string]bool{
		"93.184.216.34": true, "8.8.8.8": true, "2606:2800:220:1:248:1893:25c8:1946": true, "2a00:1450:4001:81b::200e": true,
		"::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true, "::ffff:169.254.169.254": false,
		"64:ff9b::10.0.0.1": false, "64:ff9b::169.254.169.254": false, "64:ff9b::198.18.0.1": false, "64:ff9b::8.8.8.8": true,
		"64:ff9b:1::8.8.8.8": false, // local-use NAT64: refused whatever it carries
		"::10.0.0.1":         false, "::192.168.1.1": false, "::8.8.8.8": true,
		"2002:a00:1::1": false, "2002:a9fe:a9fe::1": false, "2002:c612:1::1": false, "2002:808:808::1": true,
		"2001:0:4136:e378:8000:63bf:3fff:fdd2": false, // Teredo
		"fe80::1%eth0":                         false,
	} {
		err := CheckAddr(netip.MustParseAddr(ip), false)
		if (err == nil) != ok {
			t.Errorf("%s: %v, want allowed=%v", ip, err, ok)
		}
	}
}
