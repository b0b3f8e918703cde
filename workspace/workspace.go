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
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/mimir-sidecar/mimir-sidecar/internal/winname"
)

// Workspace is an open workspace folder.
type Workspace struct {
	dir string
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
var ErrPathNotAllowed = errors.New("path not allowed")

// Rel turns a path a client gave (relative to the workspace, or absolute
// inside it) into a clean slash-separated relative path, or refuses it.
func (w *Workspace) Rel(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%w: empty path", ErrPathNotAllowed)
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

const maxNameLen = 255

// CheckName reports whether rel, a slash-separated relative path, names a
// file that can be created safely on every OS the sidecar runs on.
func CheckName(rel string) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %q: %s", ErrPathNotAllowed, rel, fmt.Sprintf(format, args...))
	}
	switch {
	case rel == "":
		return refuse("empty path")
	case strings.HasPrefix(rel, "/"):
		return refuse("absolute paths are not allowed; give a path relative to the workspace")
	case strings.ContainsRune(rel, '\\'):
		return refuse("use / to separate folders, not \\")
	case len(rel) >= 2 && rel[1] == ':':
		return refuse("drive letters are not allowed")
	case !utf8.ValidString(rel):
		return refuse("the name is not valid UTF-8")
	}
	for _, elem := range strings.Split(rel, "/") {
		switch elem {
		case "":
			return refuse("empty folder name (//)")
		case ".", "..":
			return refuse("%q is not allowed in a path", elem)
		}
		if len(elem) > maxNameLen {
			return refuse("name longer than %d bytes", maxNameLen)
		}
		for _, r := range elem {
			switch {
			case r < 0x20 || r == 0x7f:
				return refuse("control character %U in a name", r)
			case strings.ContainsRune(`<>:"|?*`, r):
				return refuse("character %q cannot be used in a file name on Windows", r)
			}
		}
		if winname.TrailingDot(elem) {
			return refuse("name %q ends with a dot or space, which Windows drops", elem)
		}
		if winname.Reserved(elem) {
			return refuse("%q is a reserved device name on Windows", elem)
		}
	}
	return nil
}

// EnsureStateDir creates the sidecar's folder with a .gitignore that keeps
// all of it out of version control.
func (w *Workspace) EnsureStateDir() error {
	dir := w.StateDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	ignore := filepath.Join(dir, ".gitignore")
	if _, err := os.Stat(ignore); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(ignore, []byte("# mimir-sidecar's state: never commit it\n*\n"), 0o644); err != nil {
			return fmt.Errorf("create %s: %w", ignore, err)
		}
	}
	return nil
}
