//go:build unix

package statedir

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// setup makes a workspace whose .mimir holds a link out to a sentinel
// file and folder, a FIFO and a link to /dev/zero.
func setup(t *testing.T) (ws, outside string) {
	t.Helper()
	ws, outside = t.TempDir(), t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "precious"), []byte("keep me"), 0o644))
	must(t, os.Mkdir(filepath.Join(outside, "folder"), 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "folder", "inner"), []byte("keep me too"), 0o644))
	state := filepath.Join(ws, ".mimir")
	must(t, os.Mkdir(state, 0o755))
	must(t, os.Symlink(filepath.Join(outside, "precious"), filepath.Join(state, "link")))
	must(t, os.Symlink(filepath.Join(outside, "folder"), filepath.Join(state, "dirlink")))
	must(t, os.Symlink(".", filepath.Join(state, "self")))
	must(t, os.Symlink("/dev/zero", filepath.Join(state, "zero")))
	must(t, syscall.Mkfifo(filepath.Join(state, "fifo"), 0o644))
	return ws, outside
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func unchanged(t *testing.T, outside string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(outside, "precious")); err != nil || string(b) != "keep me" {
		t.Errorf("the file outside changed: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "folder", "inner")); err != nil || string(b) != "keep me too" {
		t.Errorf("the folder outside changed: %q, %v", b, err)
	}
	ents, _ := os.ReadDir(filepath.Join(outside, "folder"))
	if len(ents) != 1 {
		t.Errorf("the folder outside holds %d entries, want 1", len(ents))
	}
}

func wantRefused(t *testing.T, what string, err error, kind string) {
	t.Helper()
	var r *RefusedError
	if !errors.As(err, &r) {
		t.Errorf("%s: %v, want a refusal", what, err)
		return
	}
	if !strings.Contains(err.Error(), kind) || !strings.Contains(err.Error(), "remove "+r.Path) {
		t.Errorf("%s: %q does not say it found %s and what to do", what, err, kind)
	}
}

func TestStateFolderRefusesWhatItDidNotMake(t *testing.T) {
	t.Run("as opened", func(t *testing.T) { refusesWhatItDidNotMake(t, false) })
	// Where openat2 is missing, the Lstat walk alone holds the rule.
	t.Run("through the root", func(t *testing.T) { refusesWhatItDidNotMake(t, true) })
}

func refusesWhatItDidNotMake(t *testing.T, rootOnly bool) {
	ws, outside := setup(t)
	d, err := Ensure(filepath.Join(ws, ".mimir"))
	must(t, err)
	defer d.Close()
	if rootOnly {
		d.opener = d.root
	}

	for _, flag := range []int{os.O_RDONLY, os.O_RDWR | os.O_CREATE | os.O_TRUNC, os.O_WRONLY | os.O_CREATE} {
		f, err := d.OpenFile("link", flag, 0o644)
		if f != nil {
			f.Close()
		}
		wantRefused(t, "open link", err, "a symbolic link")
	}
	_, err = d.OpenFile("fifo", os.O_RDONLY, 0)
	wantRefused(t, "open fifo", err, "a named pipe")
	_, err = d.OpenFile("fifo", os.O_WRONLY|os.O_CREATE, 0o644)
	wantRefused(t, "write fifo", err, "a named pipe")
	_, err = d.ReadFile("zero", 1<<10)
	wantRefused(t, "read zero", err, "a symbolic link")
	_, err = d.OpenFile("dirlink/inner", os.O_RDWR|os.O_TRUNC, 0)
	wantRefused(t, "open through a folder link", err, "a symbolic link")
	_, err = d.OpenFile("self/link", os.O_RDONLY, 0)
	wantRefused(t, "open through a link inside", err, "a symbolic link")
	wantRefused(t, "mkdir through a link", d.MkdirAll("dirlink/new", 0o755), "a symbolic link")
	wantRefused(t, "check", d.Check("link"), "a symbolic link")
	wantRefused(t, "check fifo", d.Check("fifo"), "a named pipe")
	must(t, d.Check("absent"))

	// A write replaces the link, never writes through it.
	must(t, d.WriteFile("link", []byte("new"), 0o600))
	if b, err := d.ReadFile("link", 10); err != nil || string(b) != "new" {
		t.Errorf("after the write: %q, %v", b, err)
	}
	// Removal removes links, not what they point to.
	must(t, d.RemoveAll("dirlink"))
	must(t, d.MkdirAll("tree/sub", 0o755))
	must(t, os.Symlink(filepath.Join(outside, "folder"), filepath.Join(ws, ".mimir", "tree", "sub", "out")))
	must(t, d.RemoveAll("tree"))
	if _, err := d.Lstat("tree"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tree is still there: %v", err)
	}
	unchanged(t, outside)
}

func TestStateFolderThatIsALinkIsRefused(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(ws, ".mimir")))
	_, err := Ensure(filepath.Join(ws, ".mimir"))
	wantRefused(t, "a linked .mimir", err, "a symbolic link")
	must(t, os.Remove(filepath.Join(ws, ".mimir")))
	must(t, os.WriteFile(filepath.Join(ws, ".mimir"), nil, 0o644))
	_, err = Ensure(filepath.Join(ws, ".mimir"))
	wantRefused(t, "a file .mimir", err, "a regular file")
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was made outside: %v", ents)
	}
}

func TestReadFileIsBounded(t *testing.T) {
	ws := t.TempDir()
	d, err := Ensure(filepath.Join(ws, ".mimir"))
	must(t, err)
	defer d.Close()
	must(t, d.WriteFile("big", bytes.Repeat([]byte("x"), 100), 0o644))
	if _, err := d.ReadFile("big", 99); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a file over the bound: %v", err)
	}
	if b, err := d.ReadFile("big", 100); err != nil || len(b) != 100 {
		t.Errorf("a file at the bound: %d bytes, %v", len(b), err)
	}
}

// O_EXCL keeps its meaning, and O_TRUNC truncates only the file checked.
func TestOpenFileFlags(t *testing.T) {
	d, err := Ensure(filepath.Join(t.TempDir(), ".mimir"))
	must(t, err)
	defer d.Close()
	f, err := d.OpenFile("a", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	must(t, err)
	f.WriteString("hello")
	f.Close()
	if _, err := d.OpenFile("a", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive create of an existing file: %v", err)
	}
	f, err = d.OpenFile("a", os.O_RDWR|os.O_TRUNC, 0)
	must(t, err)
	f.Close()
	if b, _ := d.ReadFile("a", 10); len(b) != 0 {
		t.Errorf("not truncated: %q", b)
	}
}

// A FIFO where a file is written is replaced, never opened.
func TestWriteFileReplacesAFIFO(t *testing.T) {
	ws, outside := setup(t)
	d, err := Open(filepath.Join(ws, ".mimir"))
	must(t, err)
	defer d.Close()
	must(t, d.WriteFile("fifo", []byte("{}"), 0o600))
	st, err := d.Lstat("fifo")
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Errorf("after the write: %v %v", st, err)
	}
	unchanged(t, outside)
}

func TestReadDir(t *testing.T) {
	ws, _ := setup(t)
	d, err := Open(filepath.Join(ws, ".mimir"))
	must(t, err)
	defer d.Close()
	ents, err := d.ReadDir(".", 10)
	if err != nil || len(ents) != 5 {
		t.Errorf("list: %d entries, %v", len(ents), err)
	}
	if _, err := d.ReadDir(".", 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("list over the bound: %v", err)
	}
	_, err = d.ReadDir("dirlink", 10)
	wantRefused(t, "list a linked folder", err, "a symbolic link")
}

// An existing file opened with O_CREATE and a mode (how the journal's lock
// is taken) opens, whichever opener is used.
func TestOpenExistingWithCreate(t *testing.T) {
	for _, rootOnly := range []bool{false, true} {
		d, err := Ensure(filepath.Join(t.TempDir(), ".mimir"))
		must(t, err)
		if rootOnly {
			d.opener = d.root
		}
		for range 2 {
			f, err := d.OpenFile("lock", os.O_RDWR|os.O_CREATE, 0o644)
			must(t, err)
			f.Close()
		}
		d.Close()
	}
}

// Link and LinkOver make hard links to regular files only: a link, FIFO
// or device is refused, never linked or followed, and nothing outside
// changes.
func TestLinkRefusesWhatIsNotARegularFile(t *testing.T) {
	ws, outside := setup(t)
	d, err := Open(filepath.Join(ws, ".mimir"))
	must(t, err)
	defer d.Close()
	must(t, d.WriteFile("file", []byte("mine"), 0o644))
	for _, name := range []string{"link", "dirlink", "zero", "fifo"} {
		wantRefused(t, "Link from "+name, d.Link(name, "new"), "")
		wantRefused(t, "LinkOver from "+name, d.LinkOver(name, "file"), "")
	}
	if _, err := d.Lstat("new"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused link left a name behind: %v", err)
	}
	if err := d.Link("file", "link"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Link over an existing name: %v, want it to exist", err)
	}
	must(t, d.Link("file", "twin"))
	must(t, d.LinkOver("file", "link")) // the link itself is replaced
	a, _ := d.Lstat("file")
	for _, name := range []string{"twin", "link"} {
		if b, err := d.Lstat(name); err != nil || !os.SameFile(a, b) {
			t.Errorf("%s is not the same file as file: %v", name, err)
		}
	}
	must(t, d.LinkOver("file", "twin")) // already one file: no temporary left
	ents, err := d.ReadDir(".", 100)
	must(t, err)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".link-") {
			t.Errorf("a temporary link was left: %s", e.Name())
		}
	}
	unchanged(t, outside)
}
