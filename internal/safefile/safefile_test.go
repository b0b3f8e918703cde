//go:build unix

package safefile

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestOpenRefusesWhatIsNotRegular(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "folder"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	f, _, err := Open(root, "file")
	if err != nil {
		t.Fatalf("a regular file: %v", err)
	}
	f.Close()
	for name, kind := range map[string]string{"fifo": "a named pipe", "sock": "a socket", "folder": "a folder"} {
		for _, in := range []Opener{root, Path} {
			p := name
			if in == Path {
				p = filepath.Join(dir, name)
			}
			// Reading a FIFO, and writing one that has no reader, must
			// both come back at once, refused.
			for _, flag := range []int{os.O_RDONLY, os.O_WRONLY | os.O_CREATE} {
				f, _, err := OpenFile(in, p, flag, 0o644)
				if f != nil {
					f.Close()
				}
				if name == "sock" && err != nil && !IsNotRegular(err) {
					continue // a socket cannot be opened at all: refused either way
				}
				if name == "folder" && flag != os.O_RDONLY && err != nil {
					continue // the open itself refuses writing to a folder
				}
				if !IsNotRegular(err) || err.Error() != "it is "+kind+", not a regular file" {
					t.Errorf("%s (flag %d): %v, want it refused as %s", p, flag, err, kind)
				}
			}
		}
	}
}
