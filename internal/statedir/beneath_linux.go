//go:build linux

package statedir

import (
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// beneath opens names in a folder with openat2, which follows no link at
// any component and never leaves the folder: what the Lstat walk checks,
// made one with the open, so a component swapped for a link in between
// is refused by the kernel.
type beneath struct {
	dir  *os.File
	root *os.Root
	path string
}

const noLinks = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

func (b beneath) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	how := unix.OpenHow{Flags: uint64(flag | unix.O_CLOEXEC | unix.O_NOCTTY), Resolve: noLinks}
	if flag&os.O_CREATE != 0 {
		how.Mode = uint64(perm.Perm()) // openat2 refuses a mode it would not use
	}
	fd, err := unix.Openat2(int(b.dir.Fd()), name, &how)
	if err != nil {
		return nil, &fs.PathError{Op: "openat2", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(b.path, name)), nil
}

// Stat describes a name the open refused, unfollowed, for the refusal.
func (b beneath) Stat(name string) (fs.FileInfo, error) { return b.root.Lstat(name) }

// opener is openat2 where the kernel has it (Linux 5.6) and lets us call
// it, else the root with the Lstat walk alone.
func opener(root *os.Root, path string) (safefile.Opener, func() error) {
	dir, err := root.Open(".")
	if err != nil {
		return root, nil
	}
	fd, err := unix.Openat2(int(dir.Fd()), ".", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: noLinks})
	if err != nil {
		dir.Close()
		return root, nil
	}
	unix.Close(fd)
	return beneath{dir: dir, root: root, path: path}, dir.Close
}
