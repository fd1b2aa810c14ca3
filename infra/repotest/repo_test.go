package repotest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/testenv"
)

// maxSize is the largest file the repository may track outside the allow list.
const maxSize = 2 << 20

// executables are the tracked files kept with the executable bit, each with
// its reason. Each must be a script (it starts with "#!"): a compiled program
// is never committed.
var executables = map[string]string{
	".ci/run": "the CI entry point, a bash script run as ./.ci/run",
}

// large are the tracked files allowed over maxSize, each with its reason.
// None today: the largest are the embedded ZIP centroids (shared/geo/zcta.bin,
// 0.3 MB) and the Meeting Guide feeds (0.2 MB). A fixture that must be larger
// is named here with why it cannot be smaller or generated.
var large = map[string]string{}

// tracked is one file in git's index.
type tracked struct {
	path string
	mode string // git's mode: 100644, 100755, 120000 (symlink), 160000 (submodule)
	size int64
	head []byte // the first bytes of its content
}

// TestTrackedFiles fails when a tracked file is an executable or larger than
// 2 MiB and the allow lists above do not name it, and when an allow list names
// a file the repository no longer tracks.
func TestTrackedFiles(t *testing.T) {
	_, err := exec.LookPath("git")
	testenv.RequireTool(t, err == nil, "git", "install git (apt-get install git) to check the tracked files")
	root := testenv.RepoRoot(t)
	if out, err := gitOutput(root, "rev-parse", "--is-inside-work-tree"); err != nil || strings.TrimSpace(string(out)) != "true" {
		testenv.RequireTool(t, false, "a git clone of the repository", "run the test in a clone (git clone), not an export of the sources")
	}
	files, err := listTracked(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("git ls-files listed nothing")
	}
	for _, p := range problems(files) {
		t.Error(p)
	}
	var biggest tracked
	for _, f := range files {
		if f.size > biggest.size {
			biggest = f
		}
	}
	t.Logf("%d tracked files; the largest is %s (%d bytes)", len(files), biggest.path, biggest.size)
}

// problems returns what is wrong with the tracked files, one sentence each.
func problems(files []tracked) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.path] = true
		if kind := binaryKind(f.head); kind != "" {
			out = append(out, fmt.Sprintf("%s is a compiled executable (%s): build outputs go under build/, never into a commit", f.path, kind))
		} else if f.mode == "100755" {
			switch reason, ok := executables[f.path]; {
			case !ok:
				out = append(out, fmt.Sprintf("%s has the executable bit: clear it (git update-index --chmod=-x %s), or, for a script kept on purpose, name it with its reason in infra/repotest's executables", f.path, f.path))
			case !bytes.HasPrefix(f.head, []byte("#!")):
				out = append(out, fmt.Sprintf("%s is allowed as a script (%s) but does not start with #!", f.path, reason))
			}
		}
		if _, ok := large[f.path]; f.size > maxSize && !ok {
			out = append(out, fmt.Sprintf("%s is %.1f MiB, over the 2 MiB limit: make it smaller, generate it at build time, or name it with its reason in infra/repotest's large", f.path, float64(f.size)/(1<<20)))
		}
	}
	for _, list := range []map[string]string{executables, large} {
		for _, p := range slices.Sorted(maps.Keys(list)) {
			if !seen[p] {
				out = append(out, fmt.Sprintf("%s is in infra/repotest's allow list but not tracked: remove it from the list", p))
			}
		}
	}
	return out
}

// binaryKind names the executable format whose magic number head starts
// with, or returns "".
func binaryKind(head []byte) string {
	if len(head) < 4 {
		return ""
	}
	switch m := binary.BigEndian.Uint32(head); {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return "ELF"
	case m == 0xfeedface || m == 0xfeedfacf || m == 0xcefaedfe || m == 0xcffaedfe:
		return "Mach-O"
	case m == 0xcafebabe && len(head) >= 8 && binary.BigEndian.Uint32(head[4:]) < 0x20:
		// A fat Mach-O has a small architecture count where a Java class
		// file has its version.
		return "Mach-O universal"
	case bytes.HasPrefix(head, []byte("MZ")) && len(head) >= 0x40:
		off := binary.LittleEndian.Uint32(head[0x3c:])
		if int(off)+4 <= len(head) && bytes.Equal(head[off:off+4], []byte("PE\x00\x00")) {
			return "PE"
		}
	}
	return ""
}

// headSize is how much of each file binaryKind looks at: enough to reach the
// PE header of any Windows executable a linker writes.
const headSize = 1024

// listTracked lists the files in git's index with their mode, the size of the
// content staged for them, and the first headSize bytes of that content.
func listTracked(root string) ([]tracked, error) {
	out, err := gitOutput(root, "ls-files", "--stage", "-z")
	if err != nil {
		return nil, err
	}
	var files []tracked
	var objects []string
	for rec := range bytes.SplitSeq(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, path, ok := strings.Cut(string(rec), "\t")
		fields := strings.Fields(meta) // mode object stage
		if !ok || len(fields) != 3 {
			return nil, fmt.Errorf("git ls-files: unexpected record %q", rec)
		}
		if fields[0] == "160000" {
			continue // a submodule: a commit, not a file
		}
		files = append(files, tracked{path: path, mode: fields[0]})
		objects = append(objects, fields[1])
	}
	// One git cat-file reads every blob; only each one's first bytes are kept.
	cmd := exec.Command("git", "cat-file", "--batch")
	cmd.Dir = root
	cmd.Stdin = strings.NewReader(strings.Join(objects, "\n") + "\n")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := bufio.NewReader(stdout)
	for i := range files {
		line, err := r.ReadString('\n')
		if err != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: %w (%s)", err, strings.TrimSpace(stderr.String()))
		}
		f := strings.Fields(line) // object type size
		if len(f) != 3 {
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: %s for %s", strings.TrimSpace(line), files[i].path)
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: size %q", f[2])
		}
		files[i].size = size
		files[i].head = make([]byte, min(size, headSize))
		if _, err := io.ReadFull(r, files[i].head); err != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: %w", err)
		}
		if _, err := r.Discard(int(size-int64(len(files[i].head))) + 1); err != nil { // the rest and the newline
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: %w", err)
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w (%s)", err, strings.TrimSpace(stderr.String()))
	}
	return files, nil
}

func gitOutput(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w (%s)", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// TestGuardCatchesWhatItShould commits, in a scratch repository, what the
// guard must refuse and what it must let through, and checks its verdicts
// through the same git listing the real check reads.
func TestGuardCatchesWhatItShould(t *testing.T) {
	_, err := exec.LookPath("git")
	testenv.RequireTool(t, err == nil, "git", "install git (apt-get install git) to check the tracked files")
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		if _, err := gitOutput(dir, append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, content []byte, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, mode); err != nil {
			t.Fatal(err)
		}
	}
	pe := make([]byte, 0x200)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	git("init", "-q")
	git("config", "core.fileMode", "true")
	write("handoff", append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...), 0o644)
	write("tool.exe", pe, 0o644)
	write("mac/tool", append([]byte{0xcf, 0xfa, 0xed, 0xfe}, make([]byte, 60)...), 0o644)
	write("run.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	write(".ci/run", []byte("#!/usr/bin/env bash\n"), 0o755)
	write("big.json", bytes.Repeat([]byte("x"), maxSize+1), 0o644)
	write("notes.txt", []byte("MZ is where this note starts, and it is text\n"), 0o644)
	write("Hello.class", []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x41}, 0o644)
	git("add", "-A")
	git("commit", "-q", "-m", "fixtures")

	files, err := listTracked(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problems(files), "\n")
	for _, want := range []string{
		"handoff is a compiled executable (ELF)",
		"tool.exe is a compiled executable (PE)",
		"mac/tool is a compiled executable (Mach-O)",
		"run.sh has the executable bit",
		"big.json is 2.0 MiB, over the 2 MiB limit",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q among the problems:\n%s", want, got)
		}
	}
	for _, clean := range []string{".ci/run", "notes.txt", "Hello.class"} {
		if strings.Contains(got, "\n"+clean+" ") || strings.HasPrefix(got, clean+" ") {
			t.Errorf("%s was reported, but it is allowed:\n%s", clean, got)
		}
	}
	if n := len(problems(files)); n != 5 {
		t.Errorf("%d problems, want 5:\n%s", n, got)
	}
}
