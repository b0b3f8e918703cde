//go:build unix

package workspace

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFileStaysInsideAndNeverWaits(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("SECRET"), 0o644)
	os.WriteFile(filepath.Join(dir, "wf.yaml"), []byte("name: x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "big.yaml"), make([]byte, 101), 0o644)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "out.yaml"))
	os.Symlink(outside, filepath.Join(dir, "outdir"))
	os.Symlink("wf.yaml", filepath.Join(dir, "in.yaml"))
	os.Mkdir(filepath.Join(dir, "folder"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"wf.yaml", "in.yaml", filepath.Join(dir, "wf.yaml")} {
		if b, err := w.ReadFile(p, 100); err != nil || string(b) != "name: x\n" {
			t.Errorf("ReadFile(%s) = %q, %v", p, b, err)
		}
	}
	for p, want := range map[string]string{
		"out.yaml":      "outside the workspace",
		"outdir/secret": "outside the workspace",
		"pipe.yaml":     "named pipe",
		"folder":        "a folder",
		"big.yaml":      "larger than 100 bytes",
		"../x":          "not allowed",
		"/etc/passwd":   "outside the workspace",
		"missing.yaml":  "no such file",
	} {
		b, err := w.ReadFile(p, 100)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("ReadFile(%s) = %q, %v; want an error saying %q", p, b, err, want)
		}
	}
	if _, err := w.ReadFile("out.yaml", 100); !errors.Is(err, ErrOutside) {
		t.Errorf("a link out: %v, want ErrOutside", err)
	}
	if _, err := w.ReadFile("missing.yaml", 100); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}
