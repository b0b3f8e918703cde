// Package workspace is the folder the editor opened, and the only place the
// sidecar writes deliverables to.
//
// Every write goes through an os.Root opened on the workspace, so no path a
// client, a workflow or an agent supplies — "..", an absolute path, a symlink
// planted inside the workspace — can reach outside it. Files are written to a
// temporary file, synced, then published under their name, so a crash leaves
// the old file or the new one, never half of one; and a user's file is never
// replaced unless the caller asks.
package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/internal/fileuri"
	"github.com/mimir-sidecar/mimir-sidecar/internal/pathname"
	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Workspace is an open workspace folder.
type Workspace struct {
	dir string
	// applying serialises ApplyChanges: two applies planned against the
	// same files must not interleave their writes.
	applying sync.Mutex
}

// Open returns the workspace at dir, which must be an existing folder.
func Open(dir string) (*Workspace, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open workspace %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open workspace: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open workspace %s: not a folder", abs)
	}
	return &Workspace{dir: abs}, nil
}

// Dir is the workspace's absolute path.
func (w *Workspace) Dir() string { return w.dir }

// StateDir is where the sidecar keeps its own files.
func (w *Workspace) StateDir() string { return filepath.Join(w.dir, ".mimir") }

// ErrPathNotAllowed is wrapped by every refusal of a path.
var ErrPathNotAllowed = pathname.ErrNotAllowed

// Rel turns a path a client gave (relative to the workspace, or absolute
// inside it, or a file URI of one: file:///C:/… on Windows) into a clean
// slash-separated relative path, or refuses it.
func (w *Workspace) Rel(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%w: empty path", ErrPathNotAllowed)
	}
	if path, ok := fileuri.ToPath(p); ok {
		p = path
	}
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(w.dir, filepath.Clean(p))
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("%w: %s is outside the workspace %s", ErrPathNotAllowed, p, w.dir)
		}
		p = rel
	}
	p = filepath.ToSlash(p)
	if p == "." {
		return ".", nil
	}
	clean := path.Clean(p)
	if err := CheckName(clean); err != nil {
		return "", err
	}
	return clean, nil
}

// CheckName reports whether rel, a slash-separated relative path, names a
// file that can be created safely on every OS the sidecar runs on.
func CheckName(rel string) error { return pathname.Check(rel) }

// EnsureStateDir creates the sidecar's folder with a .gitignore that keeps
// all of it out of version control. A folder, or a .gitignore, that is not
// what the sidecar makes (a link, a pipe) is refused, never written through.
func (w *Workspace) EnsureStateDir() error {
	d, err := statedir.Ensure(w.StateDir())
	if err != nil {
		return err
	}
	defer d.Close()
	st, err := d.Lstat(".gitignore")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := d.WriteFile(".gitignore", []byte("# mimir-sidecar's state: never commit it\n*\n"), 0o644); err != nil {
			return fmt.Errorf("create %s: %w", d.Join(".gitignore"), err)
		}
	case err != nil:
		return fmt.Errorf("create %s: %w", d.Join(".gitignore"), err)
	case !st.Mode().IsRegular():
		return d.Check(".gitignore")
	}
	return nil
}
