// Command lambdazip packs Lambda function directories into deterministic zip
// files, so that building the same source twice gives byte-identical archives
// (and the same SHA-256, which is what Lambda and CloudFormation compare).
//
// Usage:
//
//	lambdazip [-arch arm64] DIR...
//
// Each DIR (for example build/intake, holding bootstrap) becomes DIR.zip.
// With -arch, a bootstrap that is not a statically linked Linux ELF
// executable for that architecture (arm64 or x86_64, as template.yaml's
// Architectures names them) is refused before anything is written: Lambda
// would fail its first invocation with Runtime.InvalidEntrypoint. Files
// are stored in lexical path order with a fixed modification time
// (1980-01-01 00:00:00 UTC) and a fixed mode: 0755 for bootstrap and any
// executable, 0644 for the rest. Nothing else about the file system (owner,
// time, umask) reaches the archive. A table of sizes and hashes is printed.
package main

import (
	"archive/zip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"
)

// epoch is the modification time of every entry: the earliest a zip's MS-DOS
// date field can hold.
var epoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lambdazip:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("lambdazip", flag.ContinueOnError)
	arch := fs.String("arch", "", "refuse a bootstrap that is not a static Linux executable for this architecture (arm64 or x86_64)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		return errors.New("usage: lambdazip [-arch arm64] DIR... (each DIR becomes DIR.zip)")
	}
	if *arch != "" {
		for _, dir := range dirs {
			if err := checkBootstrap(filepath.Join(dir, "bootstrap"), *arch); err != nil {
				return err
			}
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "function\tbootstrap bytes\tzip bytes\tzip sha256")
	for _, dir := range dirs {
		dir = filepath.Clean(dir)
		sum, err := writeZipFile(dir, dir+".zip")
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", filepath.Base(dir), sum.bootstrap, sum.size, sum.sha256)
	}
	return tw.Flush()
}

// summary describes one written archive.
type summary struct {
	bootstrap int64  // size of dir/bootstrap, 0 if absent
	size      int64  // size of the zip
	sha256    string // hex SHA-256 of the zip
}

// writeZipFile zips dir into out through a temporary file, so a failed run
// never leaves a truncated archive behind.
func writeZipFile(dir, out string) (summary, error) {
	var s summary
	if fi, err := os.Stat(filepath.Join(dir, "bootstrap")); err == nil {
		s.bootstrap = fi.Size()
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".lambdazip-*")
	if err != nil {
		return s, fmt.Errorf("zip %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename

	h := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(tmp, h)}
	if err := writeZip(counter, os.DirFS(dir)); err != nil {
		tmp.Close()
		return s, fmt.Errorf("zip %s: %w", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return s, fmt.Errorf("zip %s: %w", dir, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return s, fmt.Errorf("zip %s: %w", dir, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return s, fmt.Errorf("zip %s: %w", dir, err)
	}
	s.size = counter.n
	s.sha256 = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// writeZip writes every regular file of fsys to w as a deterministic zip. It
// returns an error for an empty tree, a special file, or a read or write error.
func writeZip(w io.Writer, fsys fs.FS) error {
	zw := zip.NewWriter(w)
	files := 0
	// WalkDir visits entries in lexical order, which fixes the stored order.
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: path, Method: zip.Deflate, Modified: epoch}
		mode := fs.FileMode(0o644)
		if path == "bootstrap" || info.Mode().Perm()&0o111 != 0 {
			mode = 0o755
		}
		hdr.SetMode(mode)
		dst, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		src, err := fsys.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		if _, err := io.Copy(dst, src); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		files++
		return nil
	})
	if err != nil {
		return err
	}
	if files == 0 {
		return errors.New("no files to zip")
	}
	return zw.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// machines are the ELF machines of Lambda's architectures.
var machines = map[string]elf.Machine{"arm64": elf.EM_AARCH64, "x86_64": elf.EM_X86_64}

// checkBootstrap returns an error unless path is an executable, statically
// linked Linux ELF file for arch (a Lambda architecture: arm64 or x86_64).
func checkBootstrap(path, arch string) error {
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("-arch %q: Lambda's architectures are arm64 and x86_64", arch)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("no bootstrap: %w", err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable (%v)", path, fi.Mode().Perm())
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF executable: %w", path, err)
	}
	defer f.Close()
	switch {
	case f.Machine != want:
		return fmt.Errorf("%s is built for %v, not %s (%v): build with GOARCH=%s", path, f.Machine, arch, want, goarch(arch))
	case f.Class != elf.ELFCLASS64:
		return fmt.Errorf("%s is a %v file, want ELFCLASS64", path, f.Class)
	case f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX:
		return fmt.Errorf("%s is built for %v, not Linux: build with GOOS=linux", path, f.OSABI)
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Errorf("%s is an ELF %v, not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it names an interpreter): build with CGO_ENABLED=0", path)
		}
	}
	return nil
}

func goarch(arch string) string {
	if arch == "x86_64" {
		return "amd64"
	}
	return arch
}
