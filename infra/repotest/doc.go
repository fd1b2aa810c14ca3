// Package repotest checks what the repository itself holds: no tracked file
// is an executable (ELF, Mach-O or PE, or a file with the executable bit that
// is not a script kept on purpose) and none is larger than 2 MiB, unless the
// allow list in its test names the file and says why. Build outputs belong in
// build/ (ignored), never in a commit. It also checks what the functions
// link: intake, which every referral webhook wakes, carries none of the
// EHR's JOSE, OAuth or FHIR search (those are the ehr function's).
//
// The package has no code outside its tests; run it with
// `go test ./infra/repotest`. It reads the list of tracked files from git, so
// it needs git and a clone; without git it skips, and under CI=true it fails.
package repotest
