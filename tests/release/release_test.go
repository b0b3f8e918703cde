// Package release checks what scripts/release made: one sidecar per
// platform, built as a release must be, and one .vsix per VS Code target
// holding that platform's sidecar.
//
// scripts/test runs scripts/release once and this test on its output with
// MIMIR_DIST set (scripts/test.d/release.sh); without it the test skips, as
// a plain `go test ./...` does not build releases.
package release

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// platform is one release target: VS Code's name for it and Go's.
type platform struct{ vscode, goos, goarch string }

var platforms = []platform{
	{"linux-x64", "linux", "amd64"}, {"linux-arm64", "linux", "arm64"},
	{"darwin-x64", "darwin", "amd64"}, {"darwin-arm64", "darwin", "arm64"},
	{"win32-x64", "windows", "amd64"}, {"win32-arm64", "windows", "arm64"},
}

func (p platform) exe() string {
	if p.goos == "windows" {
		return ".exe"
	}
	return ""
}

func (p platform) binary() string { return "mimir-sidecar-" + p.goos + "-" + p.goarch + p.exe() }

func dist(t *testing.T) string {
	t.Helper()
	d := os.Getenv("MIMIR_DIST")
	if d == "" {
		t.Skip("MIMIR_DIST is not set: scripts/test.d/release.sh runs this on scripts/release's output")
	}
	return d
}

// Every binary is its platform's executable, built without cgo, with
// -trimpath and no build id, and stamped with a version.
func TestBinaries(t *testing.T) {
	d := dist(t)
	for _, p := range platforms {
		path := filepath.Join(d, p.binary())
		if err := checkHeader(path, p); err != nil {
			t.Errorf("%s: %v", p.binary(), err)
		}
		bi, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", p.binary(), err)
			continue
		}
		want := map[string]string{"GOOS": p.goos, "GOARCH": p.goarch, "CGO_ENABLED": "0", "-trimpath": "true"}
		for _, s := range bi.Settings {
			if w, ok := want[s.Key]; ok {
				if s.Value != w {
					t.Errorf("%s: built with %s=%s, want %s", p.binary(), s.Key, s.Value, w)
				}
				delete(want, s.Key)
			}
			if s.Key == "-ldflags" && (!strings.Contains(s.Value, "-buildid= ") || !strings.Contains(s.Value, "-X main.version=")) {
				t.Errorf("%s: -ldflags %q lack -buildid= or the version", p.binary(), s.Value)
			}
		}
		if len(want) > 0 {
			t.Errorf("%s: no build setting for %v", p.binary(), want)
		}
		// The one this machine runs says its version.
		if p.goos == runtime.GOOS && p.goarch == runtime.GOARCH {
			out, err := exec.Command(path, "--version").Output()
			if err != nil || !strings.HasPrefix(string(out), "mimir-sidecar ") || strings.TrimSpace(string(out)) == "mimir-sidecar devel" {
				t.Errorf("%s --version: %q, %v", p.binary(), out, err)
			}
		}
	}
}

// checkHeader reads the executable's header: the format is its OS's, the
// machine its architecture.
func checkHeader(path string, p platform) error {
	switch p.goos {
	case "linux":
		f, err := elf.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.goarch]
		if f.Machine != want || f.Type != elf.ET_EXEC {
			return fmt.Errorf("ELF %v %v, want an executable for %v", f.Type, f.Machine, want)
		}
		if f.Progs != nil && slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
			return fmt.Errorf("dynamically linked (it has an interpreter): it would need the C library it was built against")
		}
	case "darwin":
		f, err := macho.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[p.goarch]
		if f.Cpu != want || f.Type != macho.TypeExec {
			return fmt.Errorf("Mach-O %v %v, want an executable for %v", f.Type, f.Cpu, want)
		}
	case "windows":
		f, err := pe.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[p.goarch]
		if f.Machine != want || f.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE == 0 {
			return fmt.Errorf("PE machine %#x characteristics %#x, want an executable for %#x", f.Machine, f.Characteristics, want)
		}
		oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
		if !ok || oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_CUI {
			return fmt.Errorf("not a 64-bit console program: an editor could not speak to it on stdin/stdout")
		}
	}
	return nil
}

// Each platform's .vsix carries exactly its platform's sidecar, as
// bin/mimir-sidecar[.exe], executable, and says which platform it is for;
// the universal one carries none.
func TestVSIX(t *testing.T) {
	d := dist(t)
	universal, err := filepath.Glob(filepath.Join(d, "mimir-sidecar-[0-9]*.vsix"))
	if err != nil || len(universal) != 1 {
		t.Fatalf("the universal .vsix: %v %v", universal, err)
	}
	files := readVSIX(t, universal[0])
	if _, ok := files["extension/dist/extension.js"]; !ok {
		t.Errorf("%s has no extension/dist/extension.js", universal[0])
	}
	for name := range files {
		if strings.HasPrefix(name, "extension/bin/") {
			t.Errorf("the universal .vsix holds %s", name)
		}
	}
	for _, p := range platforms {
		vsix, err := filepath.Glob(filepath.Join(d, "mimir-sidecar-"+p.vscode+"-[0-9]*.vsix"))
		if err != nil || len(vsix) != 1 {
			t.Errorf("the %s .vsix: %v %v", p.vscode, vsix, err)
			continue
		}
		files := readVSIX(t, vsix[0])
		want, err := os.ReadFile(filepath.Join(d, p.binary()))
		if err != nil {
			t.Fatal(err)
		}
		var bins []string
		for name := range files {
			if strings.HasPrefix(name, "extension/bin/") {
				bins = append(bins, name)
			}
		}
		if len(bins) != 1 || bins[0] != "extension/bin/mimir-sidecar"+p.exe() {
			t.Errorf("%s: bin/ holds %v, want mimir-sidecar%s only", vsix[0], bins, p.exe())
			continue
		}
		f := files[bins[0]]
		if got := readZipped(t, f); !bytes.Equal(got, want) {
			t.Errorf("%s: %s is not %s", vsix[0], bins[0], p.binary())
		}
		if p.goos != "windows" && f.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: %s is not executable (%v)", vsix[0], bins[0], f.Mode())
		}
		manifest := string(readZipped(t, files["extension.vsixmanifest"]))
		if !strings.Contains(manifest, `TargetPlatform="`+p.vscode+`"`) {
			t.Errorf("%s: the manifest names no TargetPlatform %s", vsix[0], p.vscode)
		}
		if _, ok := files["extension/dist/extension.js"]; !ok {
			t.Errorf("%s has no extension/dist/extension.js", vsix[0])
		}
	}
}

// SHA256SUMS names every file of the release with its digest.
func TestChecksums(t *testing.T) {
	d := dist(t)
	f, err := os.Open(filepath.Join(d, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: SHA256SUMS says %s, the file's is %x", name, sum, h)
		}
		listed[name] = true
	}
	entries, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Name() != "SHA256SUMS" {
			files = append(files, e.Name())
			if !listed[e.Name()] {
				t.Errorf("SHA256SUMS does not list %s", e.Name())
			}
		}
	}
	if len(files) != 2*len(platforms)+1 {
		t.Errorf("the release has %d files, want %d binaries and %d .vsix: %v", len(files), len(platforms), len(platforms)+1, files)
	}
}

func readVSIX(t *testing.T, path string) map[string]*zip.File {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	files := map[string]*zip.File{}
	for _, f := range r.File {
		files[f.Name] = f
	}
	return files
}

func readZipped(t *testing.T, f *zip.File) []byte {
	t.Helper()
	if f == nil {
		t.Fatal("missing file")
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
