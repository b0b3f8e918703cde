package workspace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// ErrOutside is wrapped by the refusal of a path that leads out of the
// workspace through a symbolic link.
var ErrOutside = errors.New("leads outside the workspace through a symbolic link")

// ReadFile reads a file of the workspace (a path as Rel takes it), at
// most limit bytes. It goes through an os.Root on the workspace: a link
// that stays inside is followed, one that leads out is refused before
// anything is read (so no error can echo a file from elsewhere), and a
// named pipe, socket, device or folder is refused without being waited on.
func (w *Workspace) ReadFile(p string, limit int64) ([]byte, error) {
	rel, err := w.Rel(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	root, err := os.OpenRoot(w.dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: open the workspace: %w", rel, err)
	}
	defer root.Close()
	return ReadRegular(root, rel, limit)
}

// ReadRegular reads the regular file name through in, at most limit bytes,
// without blocking on what is not a regular file.
func ReadRegular(in safefile.Opener, name string, limit int64) ([]byte, error) {
	f, st, err := safefile.Open(in, name)
	if err != nil {
		return nil, readError(name, err)
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, tooLarge(name, limit)
	}
	data, err := safefile.ReadAtMost(f, limit)
	if errors.Is(err, safefile.ErrTooLarge) {
		return nil, tooLarge(name, limit)
	}
	return data, err
}

func tooLarge(name string, limit int64) error {
	return fmt.Errorf("read %s: it is larger than %d bytes; is this the right file?", name, limit)
}

// readError says why a file could not be opened in words a person can act
// on, keeping fs.ErrNotExist and ErrOutside for callers to test.
func readError(name string, err error) error {
	var nr *safefile.NotRegularError
	switch {
	case safefile.IsEscape(err):
		return fmt.Errorf("read %s: it %w; copy the file into the workspace instead", name, ErrOutside)
	case errors.As(err, &nr) && nr.Mode.IsDir():
		return fmt.Errorf("read %s: it is a folder; name a file inside it", name)
	case errors.As(err, &nr):
		return fmt.Errorf("read %s: %v; only regular files are read", name, err)
	}
	return fmt.Errorf("read %s: %w", name, err)
}

// Contains reports whether the absolute or relative path p (relative to
// the current folder, as a command line gives it) is inside the workspace.
func (w *Workspace) Contains(p string) bool {
	abs, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(w.dir, abs)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
