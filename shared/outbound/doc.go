// Package outbound is how handoff reaches a clinic's own systems: status
// webhooks, FHIR Subscription notifications and heartbeats, and the key
// sets an EHR publishes. Every such address is the clinic's to choose, so
// every call goes through one guard.
//
//   - CheckAddr refuses an address handoff must not reach: anything in
//     IANA's IPv4 and IPv6 special-purpose address registries (private,
//     shared, loopback unless the stack itself is local, link-local,
//     documentation, benchmarking, reserved, broadcast, multicast, unique
//     local), and an IPv4 address inside an IPv6 one (IPv4-mapped,
//     IPv4-compatible, NAT64 64:ff9b::/96, 6to4) is checked as the plain
//     IPv4 address it carries.
//   - Client is an HTTP client whose dialer runs that check on the address
//     it actually dials (so DNS cannot trick it), with no proxy and no
//     redirects.
//   - Poster posts one request with that client and says how it was
//     answered: the status and the Retry-After the endpoint asked for.
//     It is what the use cases' Poster interface (shared/app) is.
package outbound
