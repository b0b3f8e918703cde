package engine

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// MaxConfigSize bounds a configuration file.
const MaxConfigSize = 1 << 20

// UserConfigFile is the user's own configuration file,
// os.UserConfigDir()/mimir/config.yaml ("" when the system has no such
// folder). It is trusted; the workspace's .mimir/config.yaml is not.
func UserConfigFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "mimir", "config.yaml")
}

// WorkspaceConfigFile is the workspace's .mimir/config.yaml.
func WorkspaceConfigFile(workspaceDir string) string {
	return filepath.Join(workspaceDir, ".mimir", "config.yaml")
}

// ReadUserConfig reads the user's configuration file at path, at most
// MaxConfigSize bytes, without waiting on a pipe put in its place; a
// missing one is an error wrapping fs.ErrNotExist.
func ReadUserConfig(path string) ([]byte, error) {
	f, st, err := safefile.Open(safefile.Path, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > MaxConfigSize {
		return nil, fmt.Errorf("read %s: %d bytes is more than a configuration file can be", path, st.Size())
	}
	return safefile.ReadAtMost(f, MaxConfigSize)
}

// ReadWorkspaceConfig reads the workspace's configuration file at path
// (WorkspaceConfigFile) through the state folder that holds it, as every
// file there is read: a link (to a file of the user's, whose text a parse
// error would echo), a pipe or a device is refused, and the size bounded.
// A missing one is an error wrapping fs.ErrNotExist.
func ReadWorkspaceConfig(path string) ([]byte, error) {
	state, err := statedir.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer state.Close()
	return state.ReadFile(filepath.Base(path), MaxConfigSize)
}
