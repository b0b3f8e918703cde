//go:build unix

package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A .mimir or .mimir/.gitignore planted as a link is refused, with an
// error that says what was found and what to do, and nothing outside the
// workspace is written.
func TestEnsureStateDirRefusesLinks(t *testing.T) {
	for _, planted := range []string{".mimir", ".mimir/.gitignore"} {
		t.Run(planted, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			target := outside
			if planted == ".mimir/.gitignore" {
				os.Mkdir(filepath.Join(dir, ".mimir"), 0o755)
				target = filepath.Join(outside, "precious")
			}
			if err := os.Symlink(target, filepath.Join(dir, planted)); err != nil {
				t.Fatal(err)
			}
			ws, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = ws.EnsureStateDir()
			p := filepath.Join(dir, planted)
			if err == nil || !strings.Contains(err.Error(), p+" is a symbolic link") || !strings.Contains(err.Error(), "remove "+p) {
				t.Errorf("EnsureStateDir: %v, want it to say %s is a link and to remove it", err, p)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("written outside the workspace: %v", ents)
			}
		})
	}
}
