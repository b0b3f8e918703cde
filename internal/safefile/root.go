package safefile

import (
	"io/fs"
	"os"
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
