package git

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// Repo is an execution's own repository: bare, made by the sidecar, its
// objects its own plus, read-only, those of the workspace's repository.
// Its commits all descend from one snapshot of the workspace (a root
// commit), so any two of them merge against that snapshot.
type Repo struct {
	Dir    string
	Format string
	// worktrees serialises adding and pruning worktrees: a prune that
	// runs while another worktree is being added takes it for a stale one.
	worktrees sync.Mutex
}

// Init makes the repository at dir, or opens the one made there before
// (a resumed execution's). user is the workspace's repository, whose
// objects it borrows and whose info/exclude it honours; nil for a
// workspace outside git. The state folder named by skip (".mimir") is
// never part of a snapshot.
func Init(ctx context.Context, dir string, user *UserRepo, skip string) (*Repo, error) {
	format := "sha1"
	if user != nil {
		format = user.Format
	}
	r := &Repo{Dir: dir, Format: format}
	if _, err := os.Lstat(filepath.Join(dir, "HEAD")); err == nil {
		return r, nil
	}
	if _, _, err := (run{gitDir: dir, dir: filepath.Dir(dir)}).output(ctx, "init", "--bare", "--quiet", "--object-format="+format); err != nil {
		return nil, fmt.Errorf("make the execution's git repository: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("make the execution's git repository: %w", err)
	}
	defer root.Close()
	for _, d := range []string{"info", "objects/info"} {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("make the execution's git repository: %w", err)
		}
	}
	exclude := "/" + skip + "/\n"
	if user != nil {
		objects := filepath.Join(user.CommonDir, "objects")
		if err := safefile.WriteFile(root, "objects/info/alternates", []byte(objects+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("make the execution's git repository: %w", err)
		}
		if theirs, err := readAtMost(filepath.Join(user.CommonDir, "info", "exclude"), 64<<10); err == nil {
			exclude = string(theirs) + "\n" + exclude
		}
	}
	if err := safefile.WriteFile(root, "info/exclude", []byte(exclude), 0o644); err != nil {
		return nil, fmt.Errorf("make the execution's git repository: %w", err)
	}
	return r, nil
}

// OpenRepo opens the repository Init made at dir.
func OpenRepo(ctx context.Context, dir string) (*Repo, error) {
	format, err := run{gitDir: dir}.text(ctx, "rev-parse", "--show-object-format")
	if err != nil {
		return nil, fmt.Errorf("open the execution's git repository: %w", err)
	}
	return &Repo{Dir: dir, Format: format}, nil
}

func readAtMost(p string, max int64) ([]byte, error) {
	f, _, err := safefile.Open(safefile.Path, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return safefile.ReadAtMost(f, max)
}

// Snapshot records workTree as it is on disk, uncommitted edits and new
// files included (what .gitignore leaves out stays out), as a root commit
// of r. head, the workspace's HEAD ("" for none), seeds the index so that
// files the repository tracks though its ignore rules name them are kept.
// Neither the workspace's index nor any of its refs is touched.
func (r *Repo) Snapshot(ctx context.Context, workTree, head, skip string) (string, error) {
	index := filepath.Join(r.Dir, "snapshot.index")
	defer os.Remove(index)
	_ = os.Remove(index)
	c := run{gitDir: r.Dir, dir: workTree, env: []string{"GIT_WORK_TREE=" + workTree, "GIT_INDEX_FILE=" + index}}
	if head != "" {
		if _, _, err := c.output(ctx, "read-tree", head); err != nil {
			return "", fmt.Errorf("snapshot %s: %w", workTree, err)
		}
		if _, _, err := c.output(ctx, "rm", "-r", "--cached", "--quiet", "--ignore-unmatch", "--", skip); err != nil {
			return "", fmt.Errorf("snapshot %s: %w", workTree, err)
		}
	}
	commit, err := r.commitWorkTree(ctx, c, "", "mimir-sidecar: the workspace as the execution found it")
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", workTree, err)
	}
	return commit, nil
}

// Capture records workTree, a worktree checked out at parent, as a commit
// on parent. name keeps one index per worktree between captures, so later
// ones hash only what changed.
func (r *Repo) Capture(ctx context.Context, workTree, parent, name string) (string, error) {
	if err := checkIDs(parent); err != nil {
		return "", fmt.Errorf("record the change in %s: %w", workTree, err)
	}
	index := filepath.Join(r.Dir, "capture-"+name+".index")
	c := run{gitDir: r.Dir, dir: workTree, env: []string{"GIT_WORK_TREE=" + workTree, "GIT_INDEX_FILE=" + index}}
	// read-tree --reset resets the index to parent but keeps what it knew
	// of unchanged files, so only what changed since the last capture is
	// hashed again (-m would refuse a file changed since).
	if _, _, err := c.output(ctx, "read-tree", "--reset", parent); err != nil {
		return "", fmt.Errorf("record the change in %s: %w", workTree, err)
	}
	commit, err := r.commitWorkTree(ctx, c, parent, "mimir-sidecar: "+name)
	if err != nil {
		return "", fmt.Errorf("record the change in %s: %w", workTree, err)
	}
	return commit, nil
}

func (r *Repo) commitWorkTree(ctx context.Context, c run, parent, msg string) (string, error) {
	if _, _, err := c.output(ctx, "add", "--all", "--", "."); err != nil {
		return "", err
	}
	tree, err := c.text(ctx, "write-tree")
	if err != nil {
		return "", err
	}
	return r.CommitTree(ctx, tree, msg, parent)
}

// CommitTree makes a commit of tree with the given parents ("" skipped).
func (r *Repo) CommitTree(ctx context.Context, tree, msg string, parents ...string) (string, error) {
	if err := checkIDs(tree); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	args := []string{"commit-tree", tree, "-m", msg}
	for _, p := range parents {
		if p != "" {
			if err := checkIDs(p); err != nil {
				return "", fmt.Errorf("commit: %w", err)
			}
			args = append(args, "-p", p)
		}
	}
	return run{gitDir: r.Dir}.text(ctx, args...)
}

// Tree is the tree of commit.
func (r *Repo) Tree(ctx context.Context, commit string) (string, error) {
	if err := checkIDs(commit); err != nil {
		return "", err
	}
	return run{gitDir: r.Dir}.text(ctx, "rev-parse", "--verify", commit+"^{tree}")
}

// AddWorktree checks commit out into path, a folder that must not exist,
// as a worktree of r (detached), first forgetting worktrees whose folders
// are gone (an earlier run's, cut off by a crash).
func (r *Repo) AddWorktree(ctx context.Context, path, commit string) error {
	if err := checkIDs(commit); err != nil {
		return fmt.Errorf("check out a worktree at %s: %w", path, err)
	}
	r.worktrees.Lock()
	defer r.worktrees.Unlock()
	if err := r.prune(ctx); err != nil {
		return err
	}
	if _, _, err := (run{gitDir: r.Dir}).output(ctx, "worktree", "add", "--detach", "--quiet", path, commit); err != nil {
		return fmt.Errorf("check out a worktree at %s: %w", path, err)
	}
	return nil
}

// Prune forgets the worktrees whose folders are gone.
func (r *Repo) Prune(ctx context.Context) error {
	r.worktrees.Lock()
	defer r.worktrees.Unlock()
	return r.prune(ctx)
}

func (r *Repo) prune(ctx context.Context) error {
	if _, _, err := (run{gitDir: r.Dir}).output(ctx, "worktree", "prune"); err != nil {
		return fmt.Errorf("prune worktrees: %w", err)
	}
	return nil
}

// Worktrees lists the folders of r's worktrees, as git records them.
func (r *Repo) Worktrees(ctx context.Context) ([]string, error) {
	out, _, err := run{gitDir: r.Dir}.output(ctx, "worktree", "list", "--porcelain", "-z")
	if err != nil {
		return nil, fmt.Errorf("list worktrees: %w", err)
	}
	var dirs []string
	for _, f := range bytes.Split(out, []byte{0}) {
		if p, ok := bytes.CutPrefix(f, []byte("worktree ")); ok && string(p) != r.Dir {
			dirs = append(dirs, string(p))
		}
	}
	return dirs, nil
}

// ConflictError is a merge that could not be made: the files both sides
// changed differently.
type ConflictError struct{ Files []string }

func (e *ConflictError) Error() string {
	return "conflicting changes to " + strings.Join(e.Files, ", ")
}

// Merge combines commits, all descendants of the same snapshot, into one
// (the first when there is one). Changes that touch the same lines of a
// file differently fail it with a *ConflictError naming the files.
func (r *Repo) Merge(ctx context.Context, commits ...string) (string, error) {
	if err := checkIDs(commits...); err != nil {
		return "", fmt.Errorf("merge changes: %w", err)
	}
	if len(commits) == 0 {
		return "", errors.New("merge: no commits")
	}
	cur := commits[0]
	for _, next := range commits[1:] {
		out, code, err := run{gitDir: r.Dir, ok: []int{1}}.output(ctx, "merge-tree", "--write-tree", "--name-only", "-z", cur, next)
		if err != nil {
			return "", fmt.Errorf("merge changes: %w", err)
		}
		fields := bytes.Split(out, []byte{0})
		tree := string(fields[0])
		if code == 1 {
			var files []string
			for _, f := range fields[1:] {
				if len(f) == 0 {
					break
				}
				if n := len(files); n == 0 || files[n-1] != string(f) {
					files = append(files, string(f))
				}
			}
			return "", &ConflictError{Files: files}
		}
		if cur, err = r.CommitTree(ctx, tree, "mimir-sidecar: combined changes", cur, next); err != nil {
			return "", fmt.Errorf("merge changes: %w", err)
		}
	}
	return cur, nil
}

// FileChange is one file a change adds, modifies or deletes.
type FileChange struct {
	Path string
	// Status is "added", "modified" or "deleted".
	Status string
	// OldMode and NewMode are git's ("100644", "100755", "120000" for a
	// link, "160000" for a submodule; "000000" where there is no file);
	// OldID and NewID the blobs.
	OldMode, NewMode string
	OldID, NewID     string
}

// Changes lists the files that differ between commits from and to.
func (r *Repo) Changes(ctx context.Context, from, to string) ([]FileChange, error) {
	if err := checkIDs(from, to); err != nil {
		return nil, fmt.Errorf("list changed files: %w", err)
	}
	out, _, err := run{gitDir: r.Dir}.output(ctx, "diff-tree", "-r", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", from, to)
	if err != nil {
		return nil, fmt.Errorf("list changed files: %w", err)
	}
	fields := bytes.Split(out, []byte{0})
	var changes []FileChange
	for i := 0; i+1 < len(fields); i += 2 {
		meta := strings.Fields(strings.TrimPrefix(string(fields[i]), ":"))
		if len(meta) != 5 {
			return nil, fmt.Errorf("list changed files: unexpected line %q", fields[i])
		}
		c := FileChange{Path: string(fields[i+1]), OldMode: meta[0], NewMode: meta[1], OldID: meta[2], NewID: meta[3]}
		switch meta[4][0] {
		case 'A':
			c.Status = "added"
		case 'D':
			c.Status = "deleted"
		default:
			c.Status = "modified"
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// Patch is the unified diff from commit from to commit to, binary files
// included, as `git apply` takes it.
func (r *Repo) Patch(ctx context.Context, from, to string) ([]byte, error) {
	if err := checkIDs(from, to); err != nil {
		return nil, fmt.Errorf("make the patch: %w", err)
	}
	out, _, err := run{gitDir: r.Dir}.output(ctx, "diff-tree", "-p", "--binary", "--full-index", "--no-renames", "--no-ext-diff", "--no-textconv", "--no-color", from, to)
	if err != nil {
		return nil, fmt.Errorf("make the patch: %w", err)
	}
	return out, nil
}

// Blob is the content of blob id.
func (r *Repo) Blob(ctx context.Context, id string) ([]byte, error) {
	if err := checkIDs(id); err != nil {
		return nil, fmt.Errorf("read blob: %w", err)
	}
	out, _, err := run{gitDir: r.Dir}.output(ctx, "cat-file", "blob", id)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", id, err)
	}
	return out, nil
}

// MergeFile merges the edits from base to theirs into ours, line by line.
// It returns the merged content and whether it holds conflicts; binary
// content cannot be merged and is an error.
func (r *Repo) MergeFile(ctx context.Context, tmp string, ours, base, theirs []byte) ([]byte, bool, error) {
	dir, err := os.MkdirTemp(tmp, "merge-")
	if err != nil {
		return nil, false, fmt.Errorf("merge file: %w", err)
	}
	defer os.RemoveAll(dir)
	names := []string{"current", "base", "change"}
	for i, data := range [][]byte{ours, base, theirs} {
		if err := os.WriteFile(filepath.Join(dir, names[i]), data, 0o600); err != nil {
			return nil, false, fmt.Errorf("merge file: %w", err)
		}
	}
	// merge-file's exit code is its number of conflicts (up to 127);
	// above that it failed.
	ok := make([]int, 127)
	for i := range ok {
		ok[i] = i + 1
	}
	out, code, err := run{gitDir: r.Dir, dir: dir, ok: ok}.output(ctx, "merge-file", "-p", "-L", "yours", "-L", "base", "-L", "task", "current", "base", "change")
	if err != nil {
		return nil, false, fmt.Errorf("merge file: %w", err)
	}
	return out, code > 0, nil
}

// checkIDs refuses anything but object ids where git expects one: ids
// come back from the journal, which is input, and one written as an
// option ("--output=…") would be taken as one.
func checkIDs(ids ...string) error {
	for _, id := range ids {
		if len(id) != 40 && len(id) != 64 {
			return fmt.Errorf("%q is not a git object id", id)
		}
		for _, c := range id {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return fmt.Errorf("%q is not a git object id", id)
			}
		}
	}
	return nil
}

// BlobID is the id git gives content as a blob in a repository of format.
func BlobID(format string, data []byte) string {
	var h hash.Hash
	if format == "sha256" {
		h = sha256.New()
	} else {
		h = sha1.New()
	}
	h.Write([]byte("blob " + strconv.Itoa(len(data)) + "\x00"))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// IsConflict reports whether err is a merge's conflict, and its files.
func IsConflict(err error) ([]string, bool) {
	var c *ConflictError
	if errors.As(err, &c) {
		return c.Files, true
	}
	return nil, false
}
