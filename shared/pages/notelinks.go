package pages

import (
	"net"
	"net/netip"
	"strings"

	"mvdan.cc/xurls/v2"
)

// noteLink names what in a volunteer's note a reader's mail or phone would
// make a link, or returns "" when there is none: a web address with or
// without a scheme, "www." or a path, on any top-level domain in use
// (xurls' relaxed matcher knows them all, compiled on first use), an email
// address, or an IP address. Ordinary sentences pass: an abbreviation and
// the next word have a space between them ("Tue. at 7", "St. Mary's",
// "e.g. parking"), and a number is no domain ("3.5 miles").
//
// Only the group page's form calls it, so xurls is linked into that
// function alone. What it names may be shown to the group; the note itself
// is never echoed back.
func noteLink(note string) string {
	m := xurls.Relaxed().FindString(note)
	switch {
	case m == "":
		return ""
	case strings.Contains(m, "@"):
		return "an email address"
	case isIP(m):
		return "an IP address"
	}
	return "a web address"
}

// isIP reports whether the host of a matched address is an IP address.
func isIP(m string) bool {
	if _, rest, ok := strings.Cut(m, "://"); ok {
		m = rest
	}
	host, _, _ := strings.Cut(m, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}
