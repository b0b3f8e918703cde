package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotRepository is wrapped by FindUserRepo's error for a folder that is
// in no git repository.
var ErrNotRepository = errors.New("not in a git repository")

// UserRepo is the workspace's own repository: read for its HEAD and its
// objects, written only by Branch.
type UserRepo struct {
	// Top is the folder whose .git was found: the repository's work tree.
	Top string
	// GitDir holds its HEAD; CommonDir its objects and refs (the same
	// folder but for a linked worktree's).
	GitDir, CommonDir string
	// Format is its object format, "sha1" or "sha256".
	Format string
}

// FindUserRepo finds the repository dir is in, looking for .git in dir and
// its parents the way git does, without running anything the repository
// could configure.
func FindUserRepo(ctx context.Context, dir string) (*UserRepo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("find the git repository of %s: %w", dir, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		gitDir, err := dotGit(filepath.Join(d, ".git"))
		if err == nil {
			u := &UserRepo{Top: d, GitDir: gitDir}
			return u, u.describe(ctx)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("find the git repository of %s: %w", dir, err)
		}
		if filepath.Dir(d) == d {
			return nil, fmt.Errorf("%s: %w", dir, ErrNotRepository)
		}
	}
}

// dotGit resolves a .git entry: a folder, or a file saying "gitdir: path"
// (a linked worktree's, a submodule's).
func dotGit(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return p, nil
	}
	// The workspace's file: opened without waiting on a pipe put there,
	// and read within a bound.
	data, err := readAtMost(p, 4<<10)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	target, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "gitdir:")
	if !ok {
		return "", fmt.Errorf("%s is neither a folder nor a \"gitdir:\" file", p)
	}
	target = strings.TrimSpace(target)
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(p), target)
	}
	return target, nil
}

func (u *UserRepo) describe(ctx context.Context) error {
	out, err := run{gitDir: u.GitDir}.text(ctx, "rev-parse", "--git-common-dir", "--show-object-format")
	if err != nil {
		return fmt.Errorf("read the git repository at %s: %w", u.Top, err)
	}
	common, format, ok := strings.Cut(out, "\n")
	if !ok || (format != "sha1" && format != "sha256") {
		return fmt.Errorf("read the git repository at %s: unexpected answer %q", u.Top, out)
	}
	if !filepath.IsAbs(common) {
		common = filepath.Join(u.GitDir, common)
	}
	u.CommonDir, u.Format = common, format
	return nil
}

// Head is the commit HEAD names, "" when the repository has none yet.
func (u *UserRepo) Head(ctx context.Context) (string, error) {
	out, code, err := run{gitDir: u.GitDir, ok: []int{1}}.output(ctx, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	if err != nil {
		return "", fmt.Errorf("read HEAD of %s: %w", u.Top, err)
	}
	if code == 1 {
		return "", nil
	}
	return strings.TrimSpace(string(out)), nil
}

// Branch creates branch name at commit, taking the objects it needs from
// r. It fails, changing nothing, when the branch exists.
func (u *UserRepo) Branch(ctx context.Context, r *Repo, name, commit, head string) error {
	if err := u.CheckBranchName(ctx, name); err != nil {
		return err
	}
	if err := checkIDs(commit, head); err != nil {
		return fmt.Errorf("create branch %s: %w", name, err)
	}
	// Objects go over as a pack, read by index-pack: no transport, no
	// hook, nothing the repository's configuration names is run.
	revs := commit + "\n"
	if head != "" {
		revs += "^" + head + "\n"
	}
	pack, _, err := run{gitDir: r.Dir, stdin: strings.NewReader(revs)}.output(ctx, "pack-objects", "--stdout", "--revs", "-q")
	if err != nil {
		return fmt.Errorf("create branch %s: pack the change: %w", name, err)
	}
	if _, _, err := (run{gitDir: u.CommonDir, stdin: bytes.NewReader(pack)}).output(ctx, "index-pack", "--stdin"); err != nil {
		return fmt.Errorf("create branch %s: copy the change into %s: %w", name, u.Top, err)
	}
	zero := strings.Repeat("0", len(commit))
	if _, _, err := (run{gitDir: u.GitDir}).output(ctx, "update-ref", "-m", "mimir-sidecar apply", "refs/heads/"+name, commit, zero); err != nil {
		return fmt.Errorf("create branch %s: %w", name, err)
	}
	return nil
}

// CheckBranchName refuses a name git would not take for a new branch, or
// one that exists.
func (u *UserRepo) CheckBranchName(ctx context.Context, name string) error {
	if name == "" || strings.HasPrefix(name, "-") {
		return fmt.Errorf("branch name %q is not valid: give a name such as mimir/fix-tests", name)
	}
	if _, _, err := (run{gitDir: u.GitDir}).output(ctx, "check-ref-format", "refs/heads/"+name); err != nil {
		return fmt.Errorf("branch name %q is not valid for git: give a name such as mimir/fix-tests", name)
	}
	_, code, err := run{gitDir: u.GitDir, ok: []int{1}}.output(ctx, "rev-parse", "--verify", "--quiet", "refs/heads/"+name)
	if err != nil {
		return fmt.Errorf("check branch %s: %w", name, err)
	}
	if code == 0 {
		return fmt.Errorf("branch %s already exists in %s: choose another name", name, u.Top)
	}
	return nil
}
