package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// collectDeliverables lists the regular files in a task's staging folder
// that match its patterns (all of them when there are none). Nothing else
// is a deliverable: a symlink (wherever it points, so a worker cannot make
// a file outside its folder a deliverable; links to folders are not walked
// into either), a named pipe or socket (opening a pipe waits for a writer,
// reading a socket has no end), a device or a folder.
func collectDeliverables(dir, taskID string, patterns []string) ([]Deliverable, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Deliverable{}, nil // the task's agents never used a folder
	}
	if err != nil {
		return nil, fmt.Errorf("collect deliverables of task %s: %w", taskID, err)
	}
	defer root.Close()
	out := []Deliverable{}
	err = walkRegular(root, ".", func(p string) error {
		if !matchesAny(p, patterns) {
			return nil
		}
		if !utf8.ValidString(p) {
			// Clients get paths as JSON text, which has no way to carry
			// these bytes: the listed path would name no file.
			return fmt.Errorf("file name %q is not valid UTF-8, so it could not be read or saved by name: have the task name its files in UTF-8", p)
		}
		size, sum, err := hashFile(root, p)
		if errors.Is(err, errNotRegular) {
			return nil // swapped for something else since it was listed
		}
		if err != nil {
			return err
		}
		out = append(out, Deliverable{Path: path.Join(taskID, p), Size: size, SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("collect deliverables of task %s: %w", taskID, err)
	}
	return out, nil
}

// WalkRegular calls fn with each regular file in root, by its
// slash-separated path, in lexical order; links are not followed, nor
// anything but regular files and folders opened (see walkRegular).
func WalkRegular(root *os.Root, fn func(p string) error) error {
	return walkRegular(root, ".", fn)
}

// walkRegular calls fn with each regular file under dir, in lexical order
// like fs.WalkDir, which it replaces: fs.WalkDir opens folders with a
// blocking open, and a folder swapped for a named pipe by a process the
// task left behind would make the walk wait forever. Links are not
// followed.
func walkRegular(root *os.Root, dir string, fn func(p string) error) error {
	d, err := safefile.OpenDir(root, dir)
	if safefile.IsNotRegular(err) && dir != "." {
		return nil // no longer a folder: swapped since it was listed
	}
	if err != nil {
		return err
	}
	defer d.Close()
	// The open follows a link inside the root: a folder swapped for a link
	// to one of its parents must not be walked again.
	if dir != "." {
		opened, err := d.Stat()
		if err != nil {
			return err
		}
		if named, err := root.Lstat(dir); err != nil || !os.SameFile(opened, named) {
			return nil
		}
	}
	entries, err := d.ReadDir(-1)
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		switch {
		case e.IsDir():
			err = walkRegular(root, p, fn)
		case e.Type().IsRegular():
			err = fn(p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func matchesAny(p string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, g := range patterns {
		if ok, _ := doublestar.Match(g, p); ok {
			return true
		}
	}
	return false
}

// errNotRegular is what hashFile says of a name that is no longer a
// regular file.
var errNotRegular = errors.New("not a regular file")

// hashFile reads a file the walk listed as regular. The name may have been
// replaced since (the task's processes can outlive it), so it is checked
// again without following a link or waiting on a pipe.
func hashFile(root *os.Root, p string) (int64, string, error) {
	f, _, err := safefile.OpenNoFollow(root, p)
	if safefile.IsNotRegular(err) {
		return 0, "", errNotRegular
	}
	if err != nil {
		return 0, "", fmt.Errorf("hash %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("hash %s: %w", p, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// RecordSaveFailed reports a save that could not be attempted at all (its
// target folder refused, say): a deliverables-saved event like any other,
// every file failed in results, and reason in error, so a client that
// shows saves shows this one too.
func (ex *Execution) RecordSaveFailed(target string, failed int, results any, reason string) {
	ex.r.emit(ex, EventDeliverablesSaved, EventData{
		Target:  target,
		Saved:   ptr(0),
		Failed:  ptr(failed),
		Results: results,
		Error:   reason,
		Message: SaveFailedMessage(failed, target, reason),
	})
}
