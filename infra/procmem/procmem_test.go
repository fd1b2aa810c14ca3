package procmem

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line string
		comm string
		ppid int
		ok   bool
	}{
		{"4242 (bootstrap) S 4200 4242 4200 0 -1 4194560 812", "bootstrap", 4200, true},
		{"77 (tmux: server (1)) S 1 77 77 0 -1", "tmux: server (1)", 1, true},
		{"77 bootstrap S 1", "", 0, false},
		{"77 (x) S", "", 0, false},
	} {
		comm, ppid, ok := parseStat(tc.line)
		if comm != tc.comm || ppid != tc.ppid || ok != tc.ok {
			t.Errorf("parseStat(%q) = %q, %d, %v; want %q, %d, %v", tc.line, comm, ppid, ok, tc.comm, tc.ppid, tc.ok)
		}
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tbootstrap\nVmPeak:\t 1236452 kB\nVmHWM:\t   17364 kB\nVmRSS:\t   16000 kB\n"
	if peak, rss, ok := parseStatus(status); !ok || peak != 17364<<10 || rss != 16000<<10 {
		t.Errorf("parseStatus = %d, %d, %v; want %d, %d", peak, rss, ok, 17364<<10, 16000<<10)
	}
	if _, _, ok := parseStatus("Name:\tkthreadd\n"); ok {
		t.Error("a status without VmHWM (a kernel thread) has no peak")
	}
	if got := parseSchedstat("21804512 1190232 57\n"); got != 21804512 {
		t.Errorf("parseSchedstat = %v, want 21.804512ms", got)
	}
}

// TestTree finds a child process of this test in its tree, with a peak.
func TestTree(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc: Linux only")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	procs, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) < 2 || procs[0].PID != os.Getpid() {
		t.Fatalf("tree %+v: want this process and its child", procs)
	}
	p, ok := Find(os.Getpid(), "sleep")
	if !ok || p.PID != cmd.Process.Pid || p.Peak <= 0 {
		t.Fatalf("Find sleep = %+v, %v; want pid %d with a peak", p, ok, cmd.Process.Pid)
	}
	if _, ok := Find(os.Getpid(), "no-such-process"); ok {
		t.Error("found a process that does not exist")
	}
}
