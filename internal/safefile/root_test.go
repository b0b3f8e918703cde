//go:build unix

package safefile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestOpenNoFollowRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	os.Symlink("file", filepath.Join(dir, "link"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	f, st, err := OpenNoFollow(root, "file")
	if err != nil || st.Size() != 1 {
		t.Fatalf("a regular file: %v", err)
	}
	f.Close()
	for name, kind := range map[string]string{"link": "a symbolic link", "fifo": "a named pipe"} {
		if _, _, err := OpenNoFollow(root, name); !IsNotRegular(err) || err.Error() != "it is "+kind+", not a regular file" {
			t.Errorf("%s: %v, want it refused as %s", name, err, kind)
		}
	}
}

func TestOpenDirNeverWaits(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "folder"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	d, err := OpenDir(root, "folder")
	if err != nil {
		t.Fatalf("a folder: %v", err)
	}
	d.Close()
	if _, err := OpenDir(root, "fifo"); !IsNotRegular(err) {
		t.Errorf("a pipe: %v, want it refused", err)
	}
}
