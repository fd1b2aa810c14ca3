package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// budgets are the largest bootstrap each function may have (arm64,
// stripped as the Makefile builds it).
//
// Lambda itself allows far more: a 50 MB zip uploaded directly, 250 MB
// unzipped. What the budget guards is the cold start — Lambda fetches and
// unpacks the code before the first request, and a Go binary's size is most
// of that — and drift: a function that suddenly links a second AWS client,
// a browser library or a protocol it does not speak fails here, so growth
// is a decision rather than an accident:
//   - 15 MiB for the functions built on the shared kernel alone (the check
//     intake and dispatch always had; 12.9–15.6 MB when set, admin the
//     largest);
//   - 16 MiB for admin, which serves every operator route: it registers a
//     clinic's EHR keys and SMART app (go-jose parses and checks each JWK)
//     and the staff, and reads the outcomes; 15.0 MB when the first
//     meeting's outcomes and the counts in their changes' transactions
//     landed (15 MiB until then);
//   - 19 MiB for clinic, the only one linking WebAuthn (go-webauthn and
//     what it pulls in — every attestation format, go-tpm, CBOR, x509
//     revocation, JWT, msgp: 2.5 MB) and the QR drawing (0.4 MB): 17.8 MB
//     when set. Their package inits cost 0.6 ms (GODEBUG=inittrace=1); the
//     size is the cost, paid only by the function that serves the pages.
var budgets = map[string]int64{
	"admin": 16 << 20, "consent": 15 << 20, "dispatch": 15 << 20, "intake": 15 << 20,
	"respond": 15 << 20, "sesevents": 15 << 20, "smsevents": 15 << 20, "ehr": 15 << 20,
	"clinic": 19 << 20,
}

// lambdaZipLimit is Lambda's limit on a zip uploaded directly.
const lambdaZipLimit = 50_000_000

// buildTargets maps each function under functions/ to the Makefile target
// SAM calls for it (build-<LogicalId>), from the Makefile's own lines.
func buildTargets(t *testing.T, root string) map[string]string {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^build-(\w+):.*build functions/(\w+) `)
	targets := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(mk), -1) {
		targets[m[2]] = m[1]
	}
	dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		name := filepath.Base(filepath.Dir(d))
		if targets[name] == "" {
			t.Errorf("functions/%s has no build-<LogicalId> target in the Makefile", name)
		}
		if budgets[name] == 0 {
			t.Errorf("functions/%s has no size budget: add one to budgets, with its reason", name)
		}
	}
	return targets
}

// TestReproducibleBuild builds every function through the Makefile's
// build-<LogicalId> targets (the ones SAM calls) and checks that each
// binary is linux/arm64 and within its budget, and its zip within Lambda's
// limit; intake and dispatch, which pull in the most of the kernel, are
// built twice and their zips must be byte-identical.
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
	targets := buildTargets(t, root)
	if len(targets) == 0 {
		missing(t, "no function under functions/ has Go sources yet")
	}
	names := make([]string, 0, len(targets))
	for name := range targets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			runs := 1
			if name == "intake" || name == "dispatch" {
				runs = 2
			}
			var sums []string
			for i := range runs {
				dir := filepath.Join(t.TempDir(), name)
				cmd := exec.Command("make", "-C", root, "build-"+targets[name], "ARTIFACTS_DIR="+dir)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("make build-%s (run %d): %v\n%s", targets[name], i+1, err, out)
				}
				bin := filepath.Join(dir, "bootstrap")
				checkBinary(t, bin, budgets[name])
				if err := checkBootstrap(bin, "arm64"); err != nil {
					t.Fatal(err)
				}
				s, err := writeZipFile(dir, dir+".zip")
				if err != nil {
					t.Fatal(err)
				}
				if s.size >= lambdaZipLimit {
					t.Errorf("zip is %d bytes, over Lambda's %d", s.size, lambdaZipLimit)
				}
				sums = append(sums, s.sha256)
				t.Logf("run %d: bootstrap %d bytes (budget %d), zip %d bytes, sha256 %s", i+1, s.bootstrap, budgets[name], s.size, s.sha256)
			}
			if len(sums) == 2 && sums[0] != sums[1] {
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

// elfFile writes a minimal ELF header (and, when interp, one PT_INTERP
// program header) for machine.
func elfFile(t *testing.T, machine elf.Machine, osabi elf.OSABI, interp bool, mode os.FileMode) string {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT), byte(osabi)})
	b.Write(make([]byte, 8))
	phnum := uint16(0)
	if interp {
		phnum = 1
	}
	for _, v := range []any{uint16(elf.ET_EXEC), uint16(machine), uint32(elf.EV_CURRENT), uint64(0x401000), uint64(64), uint64(0),
		uint32(0), uint16(64), uint16(56), phnum, uint16(64), uint16(0), uint16(0)} {
		_ = binary.Write(&b, le, v)
	}
	if interp {
		for _, v := range []any{uint32(elf.PT_INTERP), uint32(4), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(1)} {
			_ = binary.Write(&b, le, v)
		}
	}
	path := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(path, b.Bytes(), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckBootstrap: a zip for Lambda's arm64 architecture takes only a
// static Linux arm64 executable.
func TestCheckBootstrap(t *testing.T) {
	cases := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"static linux arm64", elfFile(t, elf.EM_AARCH64, elf.ELFOSABI_NONE, false, 0o755), ""},
		{"x86_64", elfFile(t, elf.EM_X86_64, elf.ELFOSABI_NONE, false, 0o755), "GOARCH=arm64"},
		{"dynamically linked", elfFile(t, elf.EM_AARCH64, elf.ELFOSABI_NONE, true, 0o755), "CGO_ENABLED=0"},
		{"not linux", elfFile(t, elf.EM_AARCH64, elf.ELFOSABI_FREEBSD, false, 0o755), "GOOS=linux"},
		{"not executable", elfFile(t, elf.EM_AARCH64, elf.ELFOSABI_NONE, false, 0o644), "not executable"},
		{"a script", func() string {
			p := filepath.Join(t.TempDir(), "bootstrap")
			_ = os.WriteFile(p, []byte("#!/bin/sh\nexec ./handoff\n"), 0o755)
			return p
		}(), "not an ELF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBootstrap(tc.path, "arm64")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	// run refuses before writing any zip.
	dir := filepath.Dir(elfFile(t, elf.EM_X86_64, elf.ELFOSABI_NONE, false, 0o755))
	if err := run([]string{"-arch", "arm64", dir}, io.Discard); err == nil {
		t.Fatal("run zipped an x86_64 bootstrap for arm64")
	}
	if _, err := os.Stat(dir + ".zip"); !os.IsNotExist(err) {
		t.Fatalf("a zip was written: %v", err)
	}
}
