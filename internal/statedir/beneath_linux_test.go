//go:build linux

package statedir

import (
	"os"
	"path/filepath"
	"testing"
)

// The kernel itself refuses a link at any component, whatever the Lstat
// walk saw before: a swap between the two cannot reach through.
func TestOpenat2RefusesLinksByItself(t *testing.T) {
	ws, outside := setup(t)
	d, err := Open(filepath.Join(ws, ".mimir"))
	must(t, err)
	defer d.Close()
	if _, ok := d.opener.(beneath); !ok {
		t.Skip("openat2 is not available here")
	}
	for _, name := range []string{"link", "self/link", "dirlink/inner"} {
		f, err := d.opener.OpenFile(name, os.O_RDWR, 0)
		if err == nil {
			f.Close()
			t.Errorf("openat2 opened %s", name)
		}
	}
	unchanged(t, outside)
}
