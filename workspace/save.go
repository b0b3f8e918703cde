package workspace

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// Conflict says what to do when a deliverable's file already exists.
type Conflict string

// Conflict policies.
const (
	// KeepBoth saves the new file beside the old one: "report (1).md".
	KeepBoth Conflict = "keep-both"
	// Overwrite replaces the old file.
	Overwrite Conflict = "overwrite"
	// Skip leaves the old file and does not save the new one.
	Skip Conflict = "skip"
)

// ParseConflict reads a policy name; "" is KeepBoth.
func ParseConflict(s string) (Conflict, error) {
	switch c := Conflict(s); c {
	case "":
		return KeepBoth, nil
	case KeepBoth, Overwrite, Skip:
		return c, nil
	}
	return "", fmt.Errorf("conflict policy %q: use keep-both, overwrite or skip", s)
}

// SaveOptions say where to save and what to do about existing files.
type SaveOptions struct {
	// Target is a folder relative to the workspace; default "deliverables".
	Target   string
	Conflict Conflict
}

// Save statuses.
const (
	StatusSaved       = "saved"
	StatusOverwritten = "overwritten"
	StatusRenamed     = "renamed"
	StatusUnchanged   = "unchanged"
	StatusSkipped     = "skipped"
	StatusFailed      = "failed"
)

// FileResult is one file's outcome.
type FileResult struct {
	// Path is the deliverable's path as given.
	Path string `json:"path"`
	// SavedAs is where it was written, relative to the workspace.
	SavedAs string `json:"savedAs,omitempty"`
	Status  string `json:"status"`
	Error   string `json:"error,omitempty"`
}

// SaveReport is the outcome of a Save.
type SaveReport struct {
	// Target is the absolute folder saved into.
	Target string `json:"target"`
	// Saved counts files now in place (saved, overwritten, renamed,
	// unchanged); Failed the failures. Skipped files count in neither.
	Saved   int         `json:"saved"`
	Failed  int         `json:"failed"`
	Results FileResults `json:"results"`
}

// FileResults are a save's outcomes, file by file.
type FileResults []FileResult

// StatusCounts counts the files of each status, for a summary that does
// not hide that most were already there.
func (rs FileResults) StatusCounts() map[string]int {
	n := make(map[string]int, 4)
	for _, r := range rs {
		n[r.Status]++
	}
	return n
}

// FailedSave is the report of a save that could not be attempted at all:
// every file failed, for reason.
func (w *Workspace) FailedSave(target string, files []string, reason string) SaveReport {
	if rel, err := w.Rel(target); err == nil {
		target = filepath.Join(w.dir, filepath.FromSlash(rel))
	}
	report := SaveReport{Target: target, Failed: len(files), Results: make([]FileResult, len(files))}
	for i, f := range files {
		report.Results[i] = FileResult{Path: f, Status: StatusFailed, Error: reason}
	}
	return report
}

const maxKeepBoth = 1000

// TargetDir is the folder, relative to the workspace, that a save into
// target ("" is "deliverables") writes to. It refuses one outside the
// workspace or inside a .git folder, so that callers can refuse it before
// there is anything to save.
func (w *Workspace) TargetDir(target string) (string, error) {
	if target == "" {
		target = "deliverables"
	}
	rel, err := w.Rel(target)
	if err != nil {
		return "", err
	}
	if err := checkWritable(rel); err != nil {
		return "", err
	}
	return rel, nil
}

// Save copies files (slash-separated paths relative to src) into the target
// folder, keeping their relative paths and creating folders as needed. It
// fails as a whole only when nothing can be attempted; each file's problem
// is reported in its result and does not stop the others.
func (w *Workspace) Save(ctx context.Context, src string, files []string, opts SaveOptions) (SaveReport, error) {
	target := opts.Target
	if target == "" {
		target = "deliverables"
	}
	policy := opts.Conflict
	if policy == "" {
		policy = KeepBoth
	}
	if _, err := ParseConflict(string(policy)); err != nil {
		return SaveReport{}, err
	}
	rel, err := w.TargetDir(target)
	if err != nil {
		return SaveReport{}, fmt.Errorf("save deliverables: target folder: %w", err)
	}
	report := SaveReport{Target: filepath.Join(w.dir, filepath.FromSlash(rel)), Results: make([]FileResult, 0, len(files))}
	if err := ctx.Err(); err != nil {
		return report, err
	}
	root, err := os.OpenRoot(w.dir)
	if err != nil {
		return report, fmt.Errorf("save deliverables: open workspace: %w", err)
	}
	defer root.Close()
	from, err := os.OpenRoot(src)
	if err != nil {
		return report, fmt.Errorf("save deliverables: open the execution's files: %w", err)
	}
	defer from.Close()
	if err := root.MkdirAll(rel, 0o755); err != nil {
		return report, fmt.Errorf("save deliverables: create %s: %w", rel, explain(err))
	}

	for _, f := range files {
		res := FileResult{Path: f}
		if err := ctx.Err(); err != nil {
			res.Status, res.Error = StatusFailed, "not saved: the save was cancelled"
		} else {
			res = saveFile(root, from, rel, f, policy)
		}
		switch res.Status {
		case StatusFailed:
			report.Failed++
		case StatusSkipped:
		default:
			report.Saved++
		}
		report.Results = append(report.Results, res)
	}
	return report, nil
}

// saveFile copies one file; every failure leaves nothing behind.
func saveFile(root, from *os.Root, target, file string, policy Conflict) FileResult {
	res := FileResult{Path: file}
	fail := func(err error) FileResult {
		res.Status, res.Error = StatusFailed, fmt.Sprintf("save deliverable %s: %v", file, err)
		return res
	}
	if err := CheckName(file); err != nil {
		return fail(err)
	}
	dest := path.Join(target, file)
	if err := checkWritable(dest); err != nil {
		return fail(err)
	}
	if err := root.MkdirAll(path.Dir(dest), 0o755); err != nil {
		return fail(fmt.Errorf("create folder %s: %w", path.Dir(dest), explain(err)))
	}
	// An overwritten file keeps its permissions (an executable script
	// stays executable, a private file private); a new one gets the
	// default. They are set on the open temporary file, never by a name
	// that could have been swapped for a link meanwhile.
	var perm *fs.FileMode
	if st, err := root.Lstat(dest); err == nil && st.Mode().IsRegular() && policy == Overwrite {
		perm = new(st.Mode().Perm())
	}
	tmp, sum, err := copyToTemp(root, from, file, path.Dir(dest), perm)
	if err != nil {
		return fail(err)
	}
	defer root.Remove(tmp) // gone already once published; otherwise never left behind

	existing, err := root.Lstat(dest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := publish(root, tmp, dest); err == nil {
			res.Status, res.SavedAs = StatusSaved, dest
			return syncDir(root, dest, res)
		} else if !errors.Is(err, fs.ErrExist) {
			return fail(err)
		}
		// Someone created it meanwhile: it is a conflict after all.
		if existing, err = root.Lstat(dest); err != nil {
			return fail(err)
		}
	case err != nil:
		return fail(err)
	}
	if existing.IsDir() {
		return fail(fmt.Errorf("a folder named %s is in the way", dest))
	}
	if existing.Mode().IsRegular() && sameContent(root, dest, sum) {
		res.Status, res.SavedAs = StatusUnchanged, dest
		return res
	}
	switch policy {
	case Skip:
		res.Status, res.SavedAs = StatusSkipped, dest
		return res
	case Overwrite:
		// Rename replaces the name itself: if it was a symlink, the link
		// is replaced, never the file it points to.
		if err := root.Rename(tmp, dest); err != nil {
			return fail(err)
		}
		res.Status, res.SavedAs = StatusOverwritten, dest
		return syncDir(root, dest, res)
	}
	stem, ext := splitExt(dest)
	for n := 1; n <= maxKeepBoth; n++ {
		alt := fmt.Sprintf("%s (%d)%s", stem, n, ext)
		err := publish(root, tmp, alt)
		if err == nil {
			res.Status, res.SavedAs = StatusRenamed, alt
			return syncDir(root, alt, res)
		}
		if !errors.Is(err, fs.ErrExist) {
			return fail(err)
		}
		// A copy kept by an earlier save of the same file: saving it
		// again would only pile up identical copies.
		if sameContent(root, alt, sum) {
			res.Status, res.SavedAs = StatusUnchanged, alt
			return res
		}
	}
	return fail(fmt.Errorf("%s and %d numbered copies already exist; clean up or save with conflict overwrite", dest, maxKeepBoth))
}

// checkWritable refuses a path into a git folder: whatever lands there
// (a hook, a config) runs or takes effect the next time git does.
func checkWritable(rel string) error {
	for _, elem := range strings.Split(rel, "/") {
		if strings.EqualFold(elem, ".git") {
			return fmt.Errorf("%w: %q is inside a .git folder, which git runs code from; choose a folder outside it", ErrPathNotAllowed, rel)
		}
	}
	return nil
}

// splitExt splits a path before its extension, where a numbered copy's
// " (n)" goes. A dotfile's leading dot starts its name, not an extension:
// the copy of ".env" is ".env (1)", of ".config.json" ".config (1).json".
func splitExt(p string) (stem, ext string) {
	ext = path.Ext(p)
	if ext == path.Base(p) {
		return p, ""
	}
	return strings.TrimSuffix(p, ext), ext
}

// copyToTemp copies file from the execution's folder into a new hidden
// temporary file in dir, synced to disk, with permissions perm (nil: the
// default), and returns its name and sha256. Only a regular file is
// copied: a symlink, named pipe, socket or device is refused, and none of
// them is followed or waited on.
func copyToTemp(root, from *os.Root, file, dir string, perm *fs.FileMode) (string, []byte, error) {
	in, err := openRegular(from, file)
	if err != nil {
		return "", nil, err
	}
	defer in.Close()
	tmp, sum, err := writeTemp(root, dir, perm, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("write %s: %w", file, err)
	}
	return tmp, sum, nil
}

// writeTemp creates a new hidden temporary file in dir, fills it with
// fill, sets its permissions (nil: the default) and syncs it, and returns
// its name and the sha256 of what was written. A failure leaves nothing
// behind.
func writeTemp(root *os.Root, dir string, perm *fs.FileMode, fill func(io.Writer) error) (string, []byte, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, ".mimir-"+hex.EncodeToString(rnd[:])+".tmp")
	out, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", nil, fmt.Errorf("create temporary file: %w", explain(err))
	}
	h := sha256.New()
	err = fill(io.MultiWriter(out, h))
	if err == nil && perm != nil {
		err = out.Chmod(*perm)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = root.Remove(tmp)
		return "", nil, err
	}
	return tmp, h.Sum(nil), nil
}

// openRegular opens a regular file for reading, refusing anything else
// (a link is not followed, a pipe not waited on).
func openRegular(from *os.Root, file string) (*os.File, error) {
	in, _, err := safefile.OpenNoFollow(from, file)
	if err == nil {
		return in, nil
	}
	if safefile.IsNotRegular(err) {
		return nil, fmt.Errorf("read %s: %v; only regular files are saved", file, err)
	}
	return nil, fmt.Errorf("read %s: %w", file, explain(err))
}

// publish gives tmp the name dest only if dest does not exist: a hard link
// cannot replace anything, so no race can overwrite a user's file.
func publish(root *os.Root, tmp, dest string) error {
	err := root.Link(tmp, dest)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	// Filesystems without hard links: check, then rename.
	if _, lerr := root.Lstat(dest); lerr == nil {
		return fs.ErrExist
	}
	return root.Rename(tmp, dest)
}

func sameContent(root *os.Root, name string, sum []byte) bool {
	f, err := openRegular(root, name)
	if err != nil {
		return false
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), sum)
}

// syncDir makes the new name durable.
func syncDir(root *os.Root, name string, res FileResult) FileResult {
	if d, err := safefile.OpenDir(root, path.Dir(name)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return res
}

// explain turns os.Root's refusal to follow a link out of the tree into
// words a person can act on.
func explain(err error) error {
	if safefile.IsEscape(err) {
		return fmt.Errorf("%w (a symbolic link points outside; nothing was written there)", err)
	}
	return err
}
