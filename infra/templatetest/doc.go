// Package templatetest checks that template.yaml, the root Makefile and the
// sample events in events/ agree with each other and with handoff's outside
// contract: every function has sources, a build target and its routes; every
// role is least-privilege; tables keep and protect their data; failed
// deliveries land in a queue; access logs carry no tokens or query strings;
// every sample event decodes into the type its function receives.
//
// The package has no code outside its tests; run it with
// `go test ./infra/templatetest`.
package templatetest
