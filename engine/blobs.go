package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Deliverables are stored once by content: each file a passed task made
// becomes, in its staging folder, a hard link to .mimir/blobs/<sha256>, so
// that a re-run that makes the same files adds no bytes. Hard links, not
// references: every staging folder still holds its files by name, so
// saving, previewing, resuming and pruning read and remove them as
// before, and removing a blob never takes a file from an execution. A file
// system without hard links keeps every file as it is.
const blobsFolder = "blobs"

// maxBlobs bounds the listing of the blobs folder in one collection.
const maxBlobs = 1 << 20

// blobStore orders storing blobs against collecting them.
type blobStore struct {
	// mu is held for reading while a task links its files to blobs, and
	// for writing by a collection: one never removes a blob that a task is
	// linking to.
	mu sync.RWMutex
	// due says a collection has work: executions were pruned, or the last
	// one was put off while executions ran (their files may be blobs their
	// events do not report yet). True at first, for what a sidecar that
	// stopped mid-task left.
	due atomic.Bool
}

// storeDeliverables stores each of found, the deliverables just collected
// (and hashed) in the staging folder of ex, once by content. It never fails
// the task: a file that cannot be shared is kept as it is, and said so.
func (ex *Execution) storeDeliverables(found []Deliverable) {
	if len(found) == 0 {
		return
	}
	r := ex.r
	r.blobs.mu.RLock()
	defer r.blobs.mu.RUnlock()
	state, err := r.stateDir()
	if err == nil {
		err = state.MkdirAll(blobsFolder, 0o755)
	}
	if err != nil {
		r.log.Warn("the deliverables are kept as they are, not stored by content", "execution", ex.id, "err", err)
		return
	}
	for _, d := range found {
		err := storeBlob(state, executionFolder(ex.id)+"/staging/"+d.Path, d)
		switch {
		case err == nil:
		case cannotLink(err):
			// No hard links here (FAT, some network shares): nothing to
			// share, and nothing wrong.
			r.log.Debug("the file system does not link files; deliverables are kept as they are", "execution", ex.id, "err", err)
			return
		default:
			r.log.Warn("a deliverable is kept as it is, not stored by content", "execution", ex.id, "deliverable", d.Path, "err", err)
		}
	}
}

// cannotLink says whether err is the file system refusing a hard link
// (one without them, or a file with all the links it can have), not a
// refusal of what was found.
func cannotLink(err error) bool {
	var le *os.LinkError
	return errors.As(err, &le) && le.Op != "renameat" && le.Op != "rename"
}

// storeBlob makes the staging file name, which holds d, one file with the
// blob of d's sum: the blob's, when there is one with the same content and
// permissions, else name becomes the blob. The blob's content is hashed
// again before a file is replaced by it, rather than trusted by its name
// or size: .mimir comes with the workspace, so a blob may be a file put
// there by anyone, and two files of differing content are never made one.
func storeBlob(state *statedir.Dir, name string, d Deliverable) error {
	st, err := state.Lstat(name)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Size() != d.Size {
		return nil // not the file that was hashed: left alone
	}
	blob := blobsFolder + "/" + d.SHA256
	bst, err := state.Lstat(blob)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !statedir.IsRefused(err):
		err = state.Link(name, blob)
		if errors.Is(err, fs.ErrExist) {
			return nil // another task stored it meanwhile; this copy stays
		}
		return err
	case err != nil:
		return err
	case !bst.Mode().IsRegular():
		return &statedir.RefusedError{Path: state.Join(blob), Mode: bst.Mode(), Want: "a regular file"}
	case os.SameFile(st, bst):
		return nil // stored already
	case bst.Size() != d.Size || bst.Mode().Perm() != st.Mode().Perm():
		return nil // a different file, or one that runs where this one does not
	}
	sum, err := hashBlob(state, blob)
	if err != nil {
		return err
	}
	if sum != d.SHA256 {
		// Not what its name says: this file, just hashed, takes its place.
		return state.LinkOver(name, blob)
	}
	return state.LinkOver(blob, name)
}

func hashBlob(state *statedir.Dir, blob string) (string, error) {
	f, err := state.OpenFile(blob, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", state.Join(blob), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// freed is what a collection of blobs removed.
type freed struct {
	Blobs int
	Bytes int64
}

// collectBlobs removes the blobs no execution the runner keeps reports
// among its deliverables (the journal's, or without one the runner's
// memory). It is put off while an execution runs: a task may have linked
// its files to blobs that its task-complete event does not report yet.
// Removing a blob takes no file from a staging folder (they are hard
// links), so a blob removed too early would cost only its sharing.
func (r *Runner) collectBlobs(ctx context.Context) (freed, error) {
	var out freed
	if !r.blobs.due.Load() {
		return out, nil
	}
	state, err := r.stateDir()
	if err != nil {
		return out, fmt.Errorf("collect unused deliverables: %w", err)
	}
	r.blobs.mu.Lock()
	defer r.blobs.mu.Unlock()
	// Cleared before the references are read: a prune that ends meanwhile
	// sets it again, and its collection runs after this one.
	if !r.blobs.due.Swap(false) {
		return out, nil
	}
	ents, err := state.ReadDir(blobsFolder, maxBlobs)
	if errors.Is(err, fs.ErrNotExist) && !statedir.IsRefused(err) {
		return out, nil
	}
	if err != nil {
		r.blobs.due.Store(true)
		return out, fmt.Errorf("collect unused deliverables: %w", err)
	}
	if len(ents) == 0 {
		return out, nil
	}
	refs, ok, err := r.deliverableSums(ctx)
	if err != nil || !ok {
		r.blobs.due.Store(true)
		return out, err
	}
	for _, e := range ents {
		if refs[e.Name()] || e.IsDir() {
			continue
		}
		var size int64
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			size = info.Size()
		}
		if err := state.Remove(blobsFolder + "/" + e.Name()); err != nil {
			r.blobs.due.Store(true)
			return out, fmt.Errorf("collect unused deliverables: %w", err)
		}
		out.Blobs++
		out.Bytes += size
	}
	return out, nil
}

// deliverableSums is the set of sums of the deliverables of every
// execution the runner keeps; ok is false while one runs. r.blobs.mu is
// held, so no task is linking files meanwhile.
func (r *Runner) deliverableSums(ctx context.Context) (map[string]bool, bool, error) {
	r.mu.Lock()
	if r.closed {
		// The journal is let go: no way to know what the history uses.
		r.mu.Unlock()
		return nil, false, fmt.Errorf("collect unused deliverables: %w", ErrClosed)
	}
	for _, ex := range r.executions {
		if !ex.finished {
			r.mu.Unlock()
			return nil, false, nil
		}
	}
	j := r.journal
	sums := map[string]bool{}
	if j == nil {
		// The runner's memory is the whole history.
		for _, ex := range r.order {
			for _, d := range ex.state.deliverables() {
				sums[d.SHA256] = true
			}
		}
	}
	r.mu.Unlock()
	if j == nil {
		return sums, true, nil
	}
	// What ended lately may still be on its way to the disk.
	if err := j.Flush(); err != nil {
		return nil, false, fmt.Errorf("collect unused deliverables: %w", err)
	}
	sums, err := j.DeliverableSums(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("collect unused deliverables: %w", err)
	}
	return sums, true, nil
}
