package safefile

import (
	"io/fs"
	"os"
	"strings"
)

// OpenNoFollow is Open for a file that must itself be a regular file of
// root, never a link to one: what an agent left in a folder (a staging
// folder's deliverables) is read only as the plain file it was listed as.
// A link is refused before the open; a name swapped for a pipe meanwhile
// is refused by Open's check on the open file.
func OpenNoFollow(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	st, err := root.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, st, &NotRegularError{Mode: st.Mode()}
	}
	return Open(root, name)
}

// OpenDir opens a folder of root (to sync it, say) without waiting on a
// pipe that may have taken its name.
func OpenDir(root *os.Root, name string) (*os.File, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.IsDir() {
		err = &NotRegularError{Mode: st.Mode()}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// IsEscape reports os.Root's refusal of a path that leads out of its
// folder (through "..", or a link); the standard library exports no error
// value to test for.
func IsEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}
