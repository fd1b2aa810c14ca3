package outbound

import (
	"fmt"
	"net/netip"
)

// A special is a range of IANA's special-purpose address registries (or of
// multicast) that handoff never posts to.
type special struct {
	prefix netip.Prefix
	name   string
}

func ranges(name string, prefixes ...string) []special {
	out := make([]special, len(prefixes))
	for i, p := range prefixes {
		out[i] = special{prefix: netip.MustParsePrefix(p), name: name}
	}
	return out
}

// specials are the ranges refused: IANA IPv4 and IPv6 Special-Purpose
// Address Registries (checked 2026-12), multicast, and the deprecated
// site-local and IPv4-translated IPv6 forms. Ranges the registries mark
// globally reachable (the PCP and TURN anycast addresses, AS112, AMT) are
// refused too: no clinic's endpoint lives there.
var specials = func() []special {
	var s []special
	for _, r := range [][]string{
		{"this network", "0.0.0.0/8"},
		{"private-use", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"},
		{"shared address space (CGNAT)", "100.64.0.0/10"},
		{"loopback", "127.0.0.0/8", "::1/128"},
		{"link-local", "169.254.0.0/16", "fe80::/10"},
		{"IETF protocol assignments", "192.0.0.0/24", "2001::/23"},
		{"documentation", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"},
		{"AS112", "192.31.196.0/24", "192.175.48.0/24", "2620:4f:8000::/48"},
		{"AMT", "192.52.193.0/24"},
		{"6to4 relay anycast (deprecated)", "192.88.99.0/24"},
		{"benchmarking", "198.18.0.0/15"},
		{"multicast", "224.0.0.0/4", "ff00::/8"},
		{"reserved", "240.0.0.0/4"},
		{"limited broadcast", "255.255.255.255/32"},
		{"unspecified", "::/128"},
		{"IPv4-translated (SIIT)", "::ffff:0:0:0/96"},
		{"local-use NAT64", "64:ff9b:1::/48"},
		{"discard-only", "100::/64"},
		{"dummy IPv6 prefix", "100:0:0:1::/64"},
		{"segment routing", "5f00::/16"},
		{"unique local", "fc00::/7"},
		{"site-local (deprecated)", "fec0::/10"},
	} {
		s = append(s, ranges(r[0], r[1:]...)...)
	}
	return s
}()

// Prefixes whose addresses carry an IPv4 address.
var (
	mapped    = netip.MustParsePrefix("::ffff:0:0/96") // IPv4-mapped
	compat    = netip.MustParsePrefix("::/96")         // IPv4-compatible (deprecated)
	nat64     = netip.MustParsePrefix("64:ff9b::/96")  // NAT64 well-known prefix
	sixToFour = netip.MustParsePrefix("2002::/16")     // 6to4
)

// embedded returns the IPv4 address an IPv6 address carries, if it is one
// of the forms that carry one: IPv4-mapped, IPv4-compatible, NAT64's
// well-known prefix (the last 32 bits), 6to4 (bits 16 to 47).
func embedded(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return ip, false
	}
	b := ip.As16()
	last := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	switch {
	case mapped.Contains(ip), nat64.Contains(ip):
		return last, true
	case compat.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return last, true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return ip, false
}

// CheckAddr refuses an address a clinic's endpoint must not be at: any
// special-purpose address (see the package doc), loopback allowed only
// when allowLoopback (a local stack). An IPv6 address carrying an IPv4
// one is judged by the IPv4 address. The error names the range, which is
// safe to log.
func CheckAddr(ip netip.Addr, allowLoopback bool) error {
	ip = ip.WithZone("")
	if v4, ok := embedded(ip); ok {
		ip = v4
	}
	if allowLoopback && ip.IsLoopback() {
		return nil
	}
	for _, s := range specials {
		if s.prefix.Contains(ip) {
			return fmt.Errorf("address %s is not allowed (%s)", ip, s.name)
		}
	}
	return nil
}
