// Package statedir is the sidecar's state folder, <workspace>/.mimir, and
// the only way the sidecar touches what is in it.
//
// The folder comes with the workspace, so a repository's author may have
// put anything there: symlinks out of the workspace, named pipes, devices.
// An os.Root alone keeps names inside the folder but still follows a link
// that stays inside it, and opening a pipe blocks; so every method here
// checks each component of a name without following it (Lstat through the
// root), creates only with O_EXCL (which never follows a link), truncates
// only what it has checked is a regular file, opens without blocking and
// bounds what it reads. What is not what the sidecar made is refused with
// an error that says what was found and what to do.
package statedir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// Dir is an open state folder.
type Dir struct {
	root *os.Root
	path string
	// opener opens files: the root, or where the kernel can, one that
	// refuses links itself (openat2).
	opener      safefile.Opener
	closeOpener func() error
}

// RefusedError refuses something in the state folder that is not what the
// sidecar made there.
type RefusedError struct {
	// Path is the refused file's full path.
	Path string
	// Mode is what was found there.
	Mode fs.FileMode
	// Want says what the sidecar expected ("a folder", "a regular file").
	Want string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s is %s, where mimir-sidecar keeps %s of its own; remove %s and the sidecar recreates it",
		e.Path, safefile.Kind(e.Mode), e.Want, e.Path)
}

// IsRefused reports whether err refuses something found in a state folder.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

const (
	wantDir  = "a folder"
	wantFile = "a regular file"
)

// Open opens the state folder at path, which must exist.
func Open(path string) (*Dir, error) { return open(path, false) }

// Ensure opens the state folder at path, creating it if it is absent.
func Ensure(path string) (*Dir, error) { return open(path, true) }

func open(dir string, create bool) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open the state folder %s: %w", dir, err)
	}
	// The folder is looked at from its parent (the workspace, which the
	// user chose), so that the folder itself being a link is seen.
	parent, err := os.OpenRoot(filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("open the state folder %s: %w", abs, err)
	}
	defer parent.Close()
	name := filepath.Base(abs)
	st, err := parent.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err = parent.Mkdir(name, 0o755); err == nil || errors.Is(err, fs.ErrExist) {
			st, err = parent.Lstat(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open the state folder %s: %w", abs, err)
	}
	if !st.IsDir() {
		return nil, &RefusedError{Path: abs, Mode: st.Mode(), Want: wantDir}
	}
	root, err := parent.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("open the state folder %s: %w", abs, err)
	}
	// Swapped for a link between the look and the open: what was opened
	// is not what was looked at.
	if got, err := root.Stat("."); err != nil || !os.SameFile(got, st) {
		root.Close()
		return nil, fmt.Errorf("open the state folder %s: it changed while it was opened; try again", abs)
	}
	d := &Dir{root: root, path: abs}
	d.opener, d.closeOpener = opener(root, abs)
	return d, nil
}

// Path is the folder's absolute path.
func (d *Dir) Path() string { return d.path }

// Join is the full path of name, a slash-separated name in the folder, for
// messages and for the few tools (SQLite) that take a path; check it with
// CheckFile first.
func (d *Dir) Join(name string) string { return filepath.Join(d.path, filepath.FromSlash(name)) }

// Close lets go of the folder.
func (d *Dir) Close() error {
	var err error
	if d.closeOpener != nil {
		err = d.closeOpener()
	}
	return errors.Join(err, d.root.Close())
}

// clean refuses names that are not plain relative names in the folder.
func (d *Dir) clean(name string) (string, error) {
	c := path.Clean(filepath.ToSlash(name))
	if c == "." || c == ".." || strings.HasPrefix(c, "../") || path.IsAbs(c) || strings.ContainsRune(c, 0) {
		return "", fmt.Errorf("%s: %q is not a name inside the state folder", d.path, name)
	}
	return c, nil
}

// lstat checks every component of name: the folders on the way must be
// folders (never links), and the last, if it exists, is returned unfollowed.
func (d *Dir) lstat(name string) (string, fs.FileInfo, error) {
	c, err := d.clean(name)
	if err != nil {
		return "", nil, err
	}
	elems := strings.Split(c, "/")
	for i := range elems[:len(elems)-1] {
		p := strings.Join(elems[:i+1], "/")
		st, err := d.root.Lstat(p)
		if err != nil {
			return c, nil, fmt.Errorf("%s: %w", d.Join(p), err)
		}
		if !st.IsDir() {
			return c, nil, &RefusedError{Path: d.Join(p), Mode: st.Mode(), Want: wantDir}
		}
	}
	st, err := d.root.Lstat(c)
	if err != nil {
		return c, nil, err
	}
	return c, st, nil
}

// Check reports whether name is absent or a regular file reached through
// folders only: what must hold before a tool that takes a path opens it.
func (d *Dir) Check(name string) error {
	_, st, err := d.lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !IsRefused(err):
		return nil
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return &RefusedError{Path: d.Join(name), Mode: st.Mode(), Want: wantFile}
	}
	return nil
}

// MkdirAll makes the folder name and those above it, refusing any
// component that is there but is not a folder.
func (d *Dir) MkdirAll(name string, perm fs.FileMode) error {
	c, err := d.clean(name)
	if err != nil {
		return err
	}
	elems := strings.Split(c, "/")
	for i := range elems {
		p := strings.Join(elems[:i+1], "/")
		st, err := d.root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			if err = d.root.Mkdir(p, perm); err == nil || errors.Is(err, fs.ErrExist) {
				st, err = d.root.Lstat(p)
			}
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", d.Join(p), err)
		}
		if !st.IsDir() {
			return &RefusedError{Path: d.Join(p), Mode: st.Mode(), Want: wantDir}
		}
	}
	return nil
}

// OpenFile opens the regular file name. With os.O_CREATE a missing file is
// created exclusively (never through a link); with os.O_TRUNC the file is
// truncated only once it is known to be the regular file that was checked.
// Named pipes and devices are refused without blocking.
func (d *Dir) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	c, st, err := d.lstat(name)
	create := false
	switch {
	case errors.Is(err, fs.ErrNotExist) && !IsRefused(err) && flag&os.O_CREATE != 0:
		create = true
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", d.Join(name), err)
	case !st.Mode().IsRegular():
		return nil, &RefusedError{Path: d.Join(name), Mode: st.Mode(), Want: wantFile}
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: d.Join(name), Err: fs.ErrExist}
	}
	open := flag &^ (os.O_CREATE | os.O_EXCL | os.O_TRUNC)
	if create {
		open |= os.O_CREATE | os.O_EXCL
	}
	f, got, err := safefile.OpenFile(d.opener, c, open, perm)
	if err != nil {
		if got != nil {
			return nil, &RefusedError{Path: d.Join(name), Mode: got.Mode(), Want: wantFile}
		}
		return nil, fmt.Errorf("open %s: %w", d.Join(name), err)
	}
	// Swapped between the look and the open (a link put in its place):
	// the file opened is not the one looked at.
	if !create && !os.SameFile(got, st) {
		f.Close()
		return nil, fmt.Errorf("open %s: it changed while it was opened; try again", d.Join(name))
	}
	if flag&os.O_TRUNC != 0 {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("open %s: %w", d.Join(name), err)
		}
	}
	return f, nil
}

// ErrTooLarge is wrapped by a read of a file larger than its bound.
var ErrTooLarge = safefile.ErrTooLarge

// ReadFile reads the regular file name, refusing it if it holds more than
// max bytes.
func (d *Dir) ReadFile(name string, max int64) ([]byte, error) {
	f, err := d.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := safefile.ReadAtMost(f, max)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("%w; remove it and the sidecar recreates it", err)
	}
	return data, err
}

// WriteFile replaces name with data atomically: a temporary file beside it
// is written, synced and renamed over it, so a reader sees the old file or
// the new one. Whatever is at name (a link included) is replaced, never
// written through; a folder there is refused.
func (d *Dir) WriteFile(name string, data []byte, perm fs.FileMode) error {
	c, st, err := d.lstat(name)
	if err != nil && (IsRefused(err) || !errors.Is(err, fs.ErrNotExist)) {
		return fmt.Errorf("write %s: %w", d.Join(name), err)
	}
	if st != nil && st.IsDir() {
		return &RefusedError{Path: d.Join(name), Mode: st.Mode(), Want: wantFile}
	}
	dir, base := path.Split(c)
	var tmp string
	var f *os.File
	for i := 0; ; i++ {
		tmp = fmt.Sprintf("%s.%s.tmp-%d-%d", dir, base, os.Getpid(), i)
		f, err = d.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err == nil || i == 10 || !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Join(name), err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.root.Rename(tmp, c)
	}
	if err != nil {
		_ = d.root.Remove(tmp)
		return fmt.Errorf("write %s: %w", d.Join(name), err)
	}
	return nil
}

// Rename moves oldname to newname; neither is followed if it is a link,
// and the folders above both are checked.
func (d *Dir) Rename(oldname, newname string) error {
	o, _, err := d.lstat(oldname)
	if err != nil {
		return fmt.Errorf("rename %s: %w", d.Join(oldname), err)
	}
	n, _, err := d.lstat(newname)
	if err != nil && (IsRefused(err) || !errors.Is(err, fs.ErrNotExist)) {
		return fmt.Errorf("rename %s: %w", d.Join(oldname), err)
	}
	if err := d.root.Rename(o, n); err != nil {
		return fmt.Errorf("rename %s: %w", d.Join(oldname), err)
	}
	return nil
}

// Remove removes name (a link itself, never what it points to). A name
// that is already absent is not an error.
func (d *Dir) Remove(name string) error {
	c, _, err := d.lstat(name)
	if errors.Is(err, fs.ErrNotExist) && !IsRefused(err) {
		return nil
	}
	if err == nil {
		err = d.root.Remove(c)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", d.Join(name), err)
	}
	return nil
}

// RemoveAll removes name and everything under it, following no link: a
// link in the tree is removed, not what it points to. The folders above
// name must be folders.
func (d *Dir) RemoveAll(name string) error {
	c, _, err := d.lstat(name)
	if errors.Is(err, fs.ErrNotExist) && !IsRefused(err) {
		return nil
	}
	if err == nil {
		err = d.root.RemoveAll(c)
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", d.Join(name), err)
	}
	return nil
}

// Lstat describes name without following it, after checking the folders
// above it.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	_, st, err := d.lstat(name)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// ReadDir lists the folder name ("." for the state folder), refusing it if it is not a folder reached
// through folders only, or if it holds more than max entries. Entries are
// described unfollowed, in no particular order.
func (d *Dir) ReadDir(name string, max int) ([]fs.DirEntry, error) {
	c, st, err := ".", fs.FileInfo(nil), error(nil)
	if name == "." {
		st, err = d.root.Stat(".")
	} else {
		c, st, err = d.lstat(name)
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, &RefusedError{Path: d.Join(name), Mode: st.Mode(), Want: wantDir}
	}
	f, err := d.root.Open(c)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.Join(name), err)
	}
	defer f.Close()
	if got, err := f.Stat(); err != nil || !os.SameFile(got, st) {
		return nil, fmt.Errorf("list %s: it changed while it was opened; try again", d.Join(name))
	}
	ents, err := f.ReadDir(max + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("list %s: %w", d.Join(name), err)
	}
	if len(ents) > max {
		return nil, fmt.Errorf("list %s: %w: more than %d entries", d.Join(name), ErrTooLarge, max)
	}
	return ents, nil
}

// Link makes newname, which must be absent, a hard link to oldname, a
// regular file reached through folders only: a link, named pipe or device
// at oldname is refused, never linked or followed. An error from the file
// system itself (one without hard links) wraps the link error, so callers
// can tell it from a refusal.
func (d *Dir) Link(oldname, newname string) error {
	o, st, err := d.lstat(oldname)
	if err != nil {
		return fmt.Errorf("link %s: %w", d.Join(oldname), err)
	}
	if !st.Mode().IsRegular() {
		return &RefusedError{Path: d.Join(oldname), Mode: st.Mode(), Want: wantFile}
	}
	n, _, err := d.lstat(newname)
	switch {
	case err == nil:
		return &fs.PathError{Op: "link", Path: d.Join(newname), Err: fs.ErrExist}
	case IsRefused(err) || !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("link %s: %w", d.Join(newname), err)
	}
	if err := d.root.Link(o, n); err != nil {
		return fmt.Errorf("link %s to %s: %w", d.Join(newname), d.Join(oldname), err)
	}
	// Swapped between the look and the link (a link put in its place):
	// what was linked is not the file looked at.
	if got, err := d.root.Lstat(n); err != nil || !os.SameFile(got, st) {
		_ = d.root.Remove(n)
		return fmt.Errorf("link %s: it changed while it was linked; try again", d.Join(oldname))
	}
	return nil
}

// LinkOver replaces newname with a hard link to oldname atomically: a link
// made beside newname is renamed over it, so a reader sees the old file or
// the new one. What is at newname is replaced, never written through; a
// folder there is refused, and oldname must be a regular file (see Link).
func (d *Dir) LinkOver(oldname, newname string) error {
	c, st, err := d.lstat(newname)
	if err != nil && (IsRefused(err) || !errors.Is(err, fs.ErrNotExist)) {
		return fmt.Errorf("replace %s: %w", d.Join(newname), err)
	}
	if st != nil && st.IsDir() {
		return &RefusedError{Path: d.Join(newname), Mode: st.Mode(), Want: wantFile}
	}
	dir, base := path.Split(c)
	var tmp string
	for i := 0; ; i++ {
		tmp = fmt.Sprintf("%s.%s.link-%d-%d", dir, base, os.Getpid(), i)
		err = d.Link(oldname, tmp)
		if err == nil || i == 10 || !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("replace %s: %w", d.Join(newname), err)
	}
	err = d.root.Rename(tmp, c)
	// A rename between two names of one file leaves both: the temporary
	// one goes either way.
	if rerr := d.root.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("replace %s: %w", d.Join(newname), err)
	}
	return nil
}
