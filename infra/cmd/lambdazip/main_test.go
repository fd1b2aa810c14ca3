package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestWriteZipIsDeterministic(t *testing.T) {
	tree := func(mtime time.Time, mode os.FileMode) fstest.MapFS {
		return fstest.MapFS{
			"bootstrap":       {Data: []byte("\x7fELF fake binary"), Mode: mode, ModTime: mtime},
			"static/site.css": {Data: []byte("body{}"), Mode: 0o600, ModTime: mtime},
			"a.txt":           {Data: []byte("first"), Mode: 0o664, ModTime: mtime},
			"tool":            {Data: []byte("#!/bin/sh"), Mode: 0o700, ModTime: mtime},
		}
	}
	cases := []struct {
		name string
		a, b fstest.MapFS
	}{
		{"different modification times", tree(time.Unix(1, 0), 0o755), tree(time.Now(), 0o755)},
		{"bootstrap without exec bit", tree(time.Unix(1, 0), 0o755), tree(time.Unix(1, 0), 0o644)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := writeZip(&a, tc.a); err != nil {
				t.Fatalf("zip a: %v", err)
			}
			if err := writeZip(&b, tc.b); err != nil {
				t.Fatalf("zip b: %v", err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("archives differ: %s vs %s", digest(a.Bytes()), digest(b.Bytes()))
			}
		})
	}

	var buf bytes.Buffer
	if err := writeZip(&buf, tree(time.Now(), 0o700)); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	want := map[string]os.FileMode{"a.txt": 0o644, "bootstrap": 0o755, "static/site.css": 0o644, "tool": 0o755}
	for _, f := range zr.File {
		names = append(names, f.Name)
		if got := f.Mode(); got != want[f.Name] {
			t.Errorf("%s: mode %v, want %v", f.Name, got, want[f.Name])
		}
		if !f.Modified.Equal(epoch) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, epoch)
		}
	}
	if wantNames := []string{"a.txt", "bootstrap", "static/site.css", "tool"}; !slices.Equal(names, wantNames) {
		t.Errorf("stored order %v, want %v", names, wantNames)
	}
}

func TestWriteZipRejects(t *testing.T) {
	cases := []struct {
		name    string
		fsys    fstest.MapFS
		wantErr string
	}{
		{"empty tree", fstest.MapFS{}, "no files"},
		{"symlink", fstest.MapFS{"bootstrap": {Data: []byte("x"), Mode: os.ModeSymlink}}, "not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := writeZip(io.Discard, tc.fsys)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunWritesTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "intake")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), bytes.Repeat([]byte("handoff"), 1000), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{dir + string(filepath.Separator)}, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	data, err := os.ReadFile(dir + ".zip")
	if err != nil {
		t.Fatalf("zip not written next to the directory: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row, got %q", out.String())
	}
	row := strings.Fields(lines[1])
	if want := []string{"intake", "7000", strconv.Itoa(len(data)), digest(data)}; !slices.Equal(row, want) {
		t.Errorf("row %q, want %q", row, want)
	}
	if err := run(nil, io.Discard); err == nil {
		t.Error("run without directories succeeded")
	}
}

// TestReproducibleBuild builds real functions twice through the Makefile's
// build-<LogicalId> targets (the ones SAM calls) and checks that the zips are
// byte-identical and the binaries are linux/arm64 and below Lambda-friendly
// size.
func TestReproducibleBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds functions; skipped with -short")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		missing(t, "GNU make is not installed (apt-get install make)")
	}
	// Two functions keep the test quick; intake and dispatch pull in the most.
	candidates := []struct{ name, id string }{
		{"intake", "IntakeFunction"}, {"dispatch", "DispatchFunction"},
		{"admin", "AdminFunction"}, {"consent", "ConsentFunction"},
		{"respond", "RespondFunction"}, {"sesevents", "SesEventsFunction"}, {"smsevents", "SmsEventsFunction"},
		{"ehr", "EhrFunction"},
	}
	var picked []struct{ name, id string }
	for _, c := range candidates {
		if m, _ := filepath.Glob(filepath.Join(root, "functions", c.name, "*.go")); len(m) > 0 && len(picked) < 2 {
			picked = append(picked, c)
		}
	}
	if len(picked) == 0 {
		missing(t, "no function under functions/ has Go sources yet")
	}
	const maxBinary = 15 << 20
	for _, fn := range picked {
		t.Run(fn.name, func(t *testing.T) {
			var sums []string
			for i := range 2 {
				dir := filepath.Join(t.TempDir(), fn.name)
				cmd := exec.Command("make", "-C", root, "build-"+fn.id, "ARTIFACTS_DIR="+dir)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("make build-%s (run %d): %v\n%s", fn.id, i+1, err, out)
				}
				bin := filepath.Join(dir, "bootstrap")
				checkBinary(t, bin, maxBinary)
				s, err := writeZipFile(dir, dir+".zip")
				if err != nil {
					t.Fatal(err)
				}
				sums = append(sums, s.sha256)
				t.Logf("run %d: bootstrap %d bytes, zip %d bytes, sha256 %s", i+1, s.bootstrap, s.size, s.sha256)
			}
			if sums[0] != sums[1] {
				t.Errorf("two builds of the same tree differ: %s vs %s", sums[0], sums[1])
			}
		})
	}
}

func checkBinary(t *testing.T, path string, maxSize int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no bootstrap: %v", err)
	}
	if fi.Size() >= maxSize {
		t.Errorf("bootstrap is %d bytes, want < %d", fi.Size(), maxSize)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("bootstrap is not executable: %v", fi.Mode())
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("bootstrap is not an ELF binary: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("bootstrap machine %v, want EM_AARCH64 (Architectures: arm64)", f.Machine)
	}
}

// missing skips a test whose tool or input is absent, or fails it under CI,
// where every such skip must be fixed rather than ignored.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why + " (CI is set: skips are failures)")
	}
	t.Skip(why)
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
