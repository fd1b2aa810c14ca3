//go:build linux

package procmem

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Tree returns the process root and every process descending from it, in pid
// order; processes gone while it reads are left out.
func Tree(root int) ([]Proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	parent, name := map[int]int{}, map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		if comm, ppid, ok := parseStat(string(stat)); ok {
			parent[pid], name[pid] = ppid, comm
		}
	}
	var out []Proc
	for pid := range parent {
		if !descends(pid, root, parent) {
			continue
		}
		dir := filepath.Join("/proc", strconv.Itoa(pid))
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			continue
		}
		p := Proc{PID: pid, Name: name[pid]}
		var ok bool
		if p.Peak, p.RSS, ok = parseStatus(string(status)); !ok {
			continue
		}
		p.CPU = cpuTime(dir)
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Proc) int { return a.PID - b.PID })
	return out, nil
}

// descends reports whether pid is root or one of its descendants.
func descends(pid, root int, parent map[int]int) bool {
	for seen := 0; pid > 0 && seen < len(parent); seen++ {
		if pid == root {
			return true
		}
		pid = parent[pid]
	}
	return false
}

// cpuTime sums the time on the CPU of every thread of the process at dir
// (the process's own schedstat counts only its main thread).
func cpuTime(dir string) time.Duration {
	tasks, err := os.ReadDir(filepath.Join(dir, "task"))
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, task := range tasks {
		if sched, err := os.ReadFile(filepath.Join(dir, "task", task.Name(), "schedstat")); err == nil {
			total += parseSchedstat(string(sched))
		}
	}
	return total
}
