// Package procmem reads what a process tree uses — peak and current resident
// memory, CPU time — from Linux's /proc, for the measuring commands
// (coldstart, load). Elsewhere it reports that it cannot.
package procmem

import (
	"strconv"
	"strings"
	"time"
)

// Proc is one process's usage.
type Proc struct {
	PID  int
	Name string        // the command name (comm)
	Peak int64         // peak resident set size, VmHWM, bytes
	RSS  int64         // resident set size now, VmRSS, bytes
	CPU  time.Duration // time on the CPU so far
}

// parseStat reads the command name and the parent's pid from a
// /proc/<pid>/stat line: "pid (comm) state ppid ...". The name may itself
// hold spaces and parentheses, so it ends at the last ")".
func parseStat(line string) (comm string, ppid int, ok bool) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(line[end+1:])
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return "", 0, false
	}
	return line[open+1 : end], ppid, true
}

// parseStatus returns the "VmHWM:" and "VmRSS:" figures of a
// /proc/<pid>/status file in bytes (the kernel writes kB); ok is false
// without VmHWM (a kernel thread, or a process exiting).
func parseStatus(status string) (peak, rss int64, ok bool) {
	for line := range strings.Lines(status) {
		key, rest, found := strings.Cut(line, ":")
		if !found || key != "VmHWM" && key != "VmRSS" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if key == "VmHWM" {
			peak, ok = kb<<10, true
		} else {
			rss = kb << 10
		}
	}
	return peak, rss, ok
}

// parseSchedstat returns the CPU time of a /proc/<pid>/schedstat line (its
// first field, nanoseconds on the CPU), or 0.
func parseSchedstat(line string) time.Duration {
	f := strings.Fields(line)
	if len(f) == 0 {
		return 0
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(ns)
}
