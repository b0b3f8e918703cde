package workspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mimir-sidecar/mimir-sidecar/internal/git"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Change is an execution's change to the workspace, as recorded in the
// execution's own repository (the same fields as engine.ChangeSet, which
// converts to it).
type Change struct {
	// GitDir is the execution's repository.
	GitDir string
	// Snapshot is the workspace as the execution found it: the base of
	// the three-way merge.
	Snapshot string
	// Commits are the results of the tasks to apply.
	Commits []string
	// Tasks name them.
	Tasks []string
}

// ApplyOptions say how a change is applied.
type ApplyOptions struct {
	// Branch, when set, commits the change on a new branch of that name,
	// based on the repository's HEAD, and leaves the working tree alone.
	Branch string
}

// Apply statuses.
const (
	// ApplyApplied: every file of the change is in the working tree.
	ApplyApplied = "applied"
	// ApplyConflict: some file could not be applied; nothing was.
	ApplyConflict = "conflict"
	// ApplyBranch: the change was committed on a new branch.
	ApplyBranch = "branch"
)

// File outcomes of an apply.
const (
	FileApplied   = "applied"   // the task's version was written (or the file deleted)
	FileMerged    = "merged"    // your edits and the task's were merged
	FileUnchanged = "unchanged" // it already was as the change makes it
	FileConflict  = "conflict"  // your edits and the task's overlap: left as it is
	FileRefused   = "refused"   // not a file the sidecar writes (see Error)
	FileCommitted = "committed" // on the branch (ApplyBranch)
	FileNotDone   = "not-applied"
)

// AppliedFile is one file's outcome.
type AppliedFile struct {
	Path string `json:"path"`
	// Change is what the task did to it: added, modified or deleted.
	Change  string `json:"change"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// Theirs, for a conflict, is a copy of the task's version (absolute;
	// missing for a deletion), so that both versions are at hand.
	Theirs string `json:"theirs,omitempty"`
}

// ApplyReport is the outcome of ApplyChanges.
type ApplyReport struct {
	Status string `json:"status"`
	// Branch and Commit name what ApplyBranch made.
	Branch    string        `json:"branch,omitempty"`
	Commit    string        `json:"commit,omitempty"`
	Applied   int           `json:"applied"`
	Conflicts int           `json:"conflicts"`
	Files     []AppliedFile `json:"files"`
}

// ApplyChanges applies an execution's change to the working tree by a
// three-way merge against the snapshot the execution started from: a file
// you have not touched since takes the task's version; one you edited is
// merged line by line; one whose edits overlap the task's is a conflict.
// Nothing is written unless every file applies, so a conflict leaves the
// working tree as it was; the report says, per file, what happened or
// would have, and where the task's version of a conflicting file is. With
// opts.Branch the change is committed on a new branch instead.
//
// Every file is written as Save writes: through the workspace's os.Root,
// to a synced temporary file renamed into place. Applying again after a
// crash part-way finishes the job: what is already applied is unchanged.
func (w *Workspace) ApplyChanges(ctx context.Context, ch Change, opts ApplyOptions) (ApplyReport, error) {
	w.applying.Lock()
	defer w.applying.Unlock()
	repo, err := git.OpenRepo(ctx, ch.GitDir)
	if err != nil {
		return ApplyReport{}, fmt.Errorf("apply changes: %w", err)
	}
	result, err := repo.Merge(ctx, ch.Commits...)
	if files, ok := git.IsConflict(err); ok {
		rep := ApplyReport{Status: ApplyConflict, Files: []AppliedFile{}}
		for _, f := range files {
			rep.Files = append(rep.Files, AppliedFile{Path: f, Change: "modified", Outcome: FileConflict, Error: "the tasks' changes to it conflict with each other: apply them one at a time"})
		}
		rep.Conflicts = len(files)
		return rep, nil
	}
	if err != nil {
		return ApplyReport{}, fmt.Errorf("apply changes: %w", err)
	}
	changes, err := repo.Changes(ctx, ch.Snapshot, result)
	if err != nil {
		return ApplyReport{}, fmt.Errorf("apply changes: %w", err)
	}
	if opts.Branch != "" {
		return w.commitOnBranch(ctx, repo, ch, result, changes, opts.Branch)
	}
	root, err := os.OpenRoot(w.dir)
	if err != nil {
		return ApplyReport{}, fmt.Errorf("apply changes: open workspace: %w", err)
	}
	defer root.Close()

	plans := make([]filePlan, len(changes))
	rep := ApplyReport{Status: ApplyApplied, Files: make([]AppliedFile, len(changes))}
	for i, c := range changes {
		plans[i] = w.plan(ctx, root, repo, c)
		rep.Files[i] = plans[i].file
		if o := plans[i].file.Outcome; o == FileConflict || o == FileRefused {
			rep.Conflicts++
		}
	}
	if rep.Conflicts > 0 {
		rep.Status = ApplyConflict
		keepTheirs(ch, plans, rep.Files)
		for i := range rep.Files {
			if o := rep.Files[i].Outcome; o == FileApplied || o == FileMerged {
				rep.Files[i].Outcome = FileNotDone
			}
		}
		return rep, nil
	}
	if err := ctx.Err(); err != nil {
		return ApplyReport{}, fmt.Errorf("apply changes: %w", err)
	}
	for i := range plans {
		if err := plans[i].prepare(root); err != nil {
			cleanup(root, plans)
			return ApplyReport{}, fmt.Errorf("apply changes: %w", err)
		}
	}
	// Last look before anything lands: a file edited since it was
	// planned is not overwritten.
	for i := range plans {
		if err := plans[i].stillAsPlanned(root, repo.Format); err != nil {
			cleanup(root, plans)
			return ApplyReport{}, fmt.Errorf("apply changes: %w; nothing was applied, apply again", err)
		}
	}
	for i := range plans {
		if err := plans[i].commit(root); err != nil {
			cleanup(root, plans)
			return rep, fmt.Errorf("apply changes: %w (the files listed before it are applied; apply again to finish)", err)
		}
		if o := rep.Files[i].Outcome; o == FileApplied || o == FileMerged {
			rep.Applied++
		}
	}
	return rep, nil
}

// filePlan is what applying does to one file.
type filePlan struct {
	file AppliedFile
	// current is the file's id as planned ("" for no file).
	current string
	// write is the content to write, remove whether to delete it.
	write  []byte
	remove bool
	perm   fs.FileMode
	tmp    string
	// theirs is the task's version, for a conflict.
	theirs []byte
}

const zeroMode = "000000"

// plan decides one file's outcome from its three versions.
func (w *Workspace) plan(ctx context.Context, root *os.Root, repo *git.Repo, c git.FileChange) filePlan {
	p := filePlan{file: AppliedFile{Path: c.Path, Change: c.Status}}
	refuse := func(why string) filePlan {
		p.file.Outcome, p.file.Error = FileRefused, why
		return p
	}
	conflict := func(why string) filePlan {
		p.file.Outcome, p.file.Error = FileConflict, why
		return p
	}
	if err := checkApplyPath(c.Path); err != nil {
		return refuse(err.Error())
	}
	for _, m := range []string{c.OldMode, c.NewMode} {
		switch m {
		case "120000":
			return refuse("a symbolic link: the sidecar writes only regular files; apply it by hand from the patch")
		case "160000":
			return refuse("a submodule: apply it by hand from the patch")
		}
	}
	var base, theirs []byte
	var err error
	if c.OldMode != zeroMode {
		if base, err = repo.Blob(ctx, c.OldID); err != nil {
			return refuse(err.Error())
		}
	}
	if c.NewMode != zeroMode {
		if theirs, err = repo.Blob(ctx, c.NewID); err != nil {
			return refuse(err.Error())
		}
	}
	p.theirs = theirs
	p.perm = 0o644
	if c.NewMode == "100755" {
		p.perm = 0o755
	}
	cur, info, err := readRegular(root, c.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		switch {
		case c.Status == "deleted":
			p.file.Outcome = FileUnchanged
		case c.Status == "added":
			p.file.Outcome, p.write = FileApplied, theirs
		default:
			return conflict("you deleted it since the execution started, and the task changed it")
		}
		return p
	case err != nil:
		return refuse(err.Error())
	}
	if c.NewMode == c.OldMode {
		p.perm = info.Mode().Perm() // the task left the mode alone: yours stays
	}
	p.current = git.BlobID(repo.Format, cur)
	executable := info.Mode().Perm()&0o100 != 0
	switch {
	case c.Status != "deleted" && p.current == c.NewID && executable == (c.NewMode == "100755"):
		p.file.Outcome = FileUnchanged
	case c.Status == "added" && p.current != c.NewID:
		return conflict("you created a different file of the same name since the execution started")
	case p.current == c.OldID && c.Status == "deleted":
		p.file.Outcome, p.remove = FileApplied, true
	case p.current == c.OldID || p.current == c.NewID:
		p.file.Outcome, p.write = FileApplied, theirs
	case c.Status == "deleted":
		return conflict("you changed it since the execution started, and the task deleted it")
	default:
		merged, conflicted, err := repo.MergeFile(ctx, os.TempDir(), cur, base, theirs)
		switch {
		case err != nil:
			return conflict("you changed it since the execution started, and it cannot be merged line by line (" + err.Error() + ")")
		case conflicted:
			return conflict("your changes since the execution started and the task's overlap")
		}
		p.file.Outcome, p.write = FileMerged, merged
	}
	return p
}

// checkApplyPath refuses what a change must not write: names no OS can
// hold safely, a .git folder (git runs code from it) and the state folder
// (only the sidecar writes there).
func checkApplyPath(p string) error {
	if err := CheckName(p); err != nil {
		return err
	}
	if err := checkWritable(p); err != nil {
		return err
	}
	first, _, _ := strings.Cut(p, "/")
	if strings.EqualFold(first, ".mimir") {
		return fmt.Errorf("%w: %q is in the sidecar's state folder, which a change may not write", ErrPathNotAllowed, p)
	}
	return nil
}

// readRegular reads a workspace file that must be a regular file: a link
// is not followed, a pipe not waited on.
func readRegular(root *os.Root, name string) ([]byte, fs.FileInfo, error) {
	f, info, err := safefile.OpenNoFollow(root, name)
	if safefile.IsNotRegular(err) {
		return nil, nil, fmt.Errorf("%s is %v in the workspace: the sidecar replaces only regular files", name, err)
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	return data, info, err
}

// prepare writes the new content to a synced temporary file beside the
// file, creating folders as needed.
func (p *filePlan) prepare(root *os.Root) error {
	if p.write == nil || p.file.Outcome == FileUnchanged {
		return nil
	}
	dir := path.Dir(p.file.Path)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create folder %s: %w", dir, explain(err))
	}
	tmp, _, err := writeTemp(root, dir, &p.perm, func(w io.Writer) error {
		_, err := w.Write(p.write)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", p.file.Path, err)
	}
	p.tmp = tmp
	return nil
}

// stillAsPlanned checks the file is what the plan saw.
func (p *filePlan) stillAsPlanned(root *os.Root, format string) error {
	if p.file.Outcome == FileUnchanged {
		return nil
	}
	cur, _, err := readRegular(root, p.file.Path)
	now := ""
	switch {
	case err == nil:
		now = git.BlobID(format, cur)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if now != p.current {
		return fmt.Errorf("%s changed while the change was being applied", p.file.Path)
	}
	return nil
}

// commit puts the file in place: the temporary file renamed over it, or
// the file removed.
func (p *filePlan) commit(root *os.Root) error {
	switch {
	case p.file.Outcome == FileUnchanged:
		return nil
	case p.remove:
		if err := root.Remove(p.file.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", p.file.Path, err)
		}
		return nil
	case p.current == "":
		// A new file: published only if nothing appeared there meanwhile.
		if err := publish(root, p.tmp, p.file.Path); err != nil {
			return fmt.Errorf("create %s: %w", p.file.Path, err)
		}
	default:
		if err := root.Rename(p.tmp, p.file.Path); err != nil {
			return fmt.Errorf("write %s: %w", p.file.Path, err)
		}
	}
	_ = root.Remove(p.tmp)
	p.tmp = ""
	syncDir(root, p.file.Path, FileResult{})
	return nil
}

func cleanup(root *os.Root, plans []filePlan) {
	for i := range plans {
		if plans[i].tmp != "" {
			_ = root.Remove(plans[i].tmp)
			plans[i].tmp = ""
		}
	}
}

// keepTheirs writes the task's version of each conflicting file into the
// execution's folder (conflicts/<path>), where the report points.
func keepTheirs(ch Change, plans []filePlan, files []AppliedFile) {
	exDir := filepath.Dir(ch.GitDir)
	state, err := statedir.Open(exDir)
	if err != nil {
		return
	}
	defer state.Close()
	for i, p := range plans {
		if p.file.Outcome != FileConflict || p.theirs == nil || checkApplyPath(p.file.Path) != nil {
			continue
		}
		name := "conflicts/" + p.file.Path
		if state.MkdirAll(path.Dir(name), 0o755) != nil || state.WriteFile(name, p.theirs, 0o644) != nil {
			continue
		}
		files[i].Theirs = state.Join(name)
	}
}

// commitOnBranch commits the change on a new branch based on HEAD: HEAD's
// tree with the change merged in (against the snapshot), the working tree
// and index untouched.
func (w *Workspace) commitOnBranch(ctx context.Context, repo *git.Repo, ch Change, result string, changes []git.FileChange, name string) (ApplyReport, error) {
	user, err := git.FindUserRepo(ctx, w.dir)
	if err != nil {
		return ApplyReport{}, fmt.Errorf("commit the change on branch %s: %w", name, err)
	}
	head, err := user.Head(ctx)
	if err != nil {
		return ApplyReport{}, err
	}
	if head == "" {
		return ApplyReport{}, fmt.Errorf("commit the change on branch %s: the repository has no commit yet: commit first, or apply to the working tree", name)
	}
	if err := user.CheckBranchName(ctx, name); err != nil {
		return ApplyReport{}, err
	}
	headTree, err := repo.Tree(ctx, head)
	if err != nil {
		return ApplyReport{}, fmt.Errorf("commit the change on branch %s: %w", name, err)
	}
	// HEAD as a child of the snapshot, so that the merge's base is the
	// snapshot: only the tasks' changes go onto HEAD, not your
	// uncommitted edits the snapshot holds.
	onSnapshot, err := repo.CommitTree(ctx, headTree, "HEAD", ch.Snapshot)
	if err != nil {
		return ApplyReport{}, fmt.Errorf("commit the change on branch %s: %w", name, err)
	}
	rep := ApplyReport{Status: ApplyBranch, Branch: name, Files: make([]AppliedFile, len(changes))}
	merged, err := repo.Merge(ctx, onSnapshot, result)
	if files, ok := git.IsConflict(err); ok {
		rep.Status, rep.Conflicts, rep.Files = ApplyConflict, len(files), rep.Files[:0]
		for _, f := range files {
			rep.Files = append(rep.Files, AppliedFile{Path: f, Change: "modified", Outcome: FileConflict, Error: "HEAD changed it since the execution started, in a way that overlaps the task's change"})
		}
		return rep, nil
	}
	if err != nil {
		return ApplyReport{}, fmt.Errorf("commit the change on branch %s: %w", name, err)
	}
	tree, err := repo.Tree(ctx, merged)
	if err == nil {
		rep.Commit, err = repo.CommitTree(ctx, tree, "mimir-sidecar: changes of tasks "+strings.Join(ch.Tasks, ", "), head)
	}
	if err == nil {
		err = user.Branch(ctx, repo, name, rep.Commit, head)
	}
	if err != nil {
		return ApplyReport{}, fmt.Errorf("commit the change on branch %s: %w", name, err)
	}
	for i, c := range changes {
		rep.Files[i] = AppliedFile{Path: c.Path, Change: c.Status, Outcome: FileCommitted}
	}
	rep.Applied = len(changes)
	return rep, nil
}
