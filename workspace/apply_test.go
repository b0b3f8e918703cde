package workspace

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/git"
	"github.com/mimir-sidecar/mimir-sidecar/internal/git/gittest"
)

func read(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

const tenLines = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"

// changeFixture is a workspace repository and an execution's repository
// holding one task's change, made the way the engine makes it.
type changeFixture struct {
	ws       *Workspace
	dir      string
	repo     *git.Repo
	snapshot string
	worktree string
}

func newChangeFixture(t *testing.T, files map[string]string) *changeFixture {
	t.Helper()
	dir := gittest.Repo(t, files)
	ctx := context.Background()
	user, err := git.FindUserRepo(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := user.Head(ctx)
	f := &changeFixture{dir: dir}
	if f.ws, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	exDir := filepath.Join(dir, ".mimir", "executions", "ex_1")
	if err := os.MkdirAll(exDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if f.repo, err = git.Init(ctx, filepath.Join(exDir, "git"), user, ".mimir"); err != nil {
		t.Fatal(err)
	}
	if f.snapshot, err = f.repo.Snapshot(ctx, dir, head, ".mimir"); err != nil {
		t.Fatal(err)
	}
	f.worktree = filepath.Join(exDir, "worktrees", "t")
	if err := f.repo.AddWorktree(ctx, f.worktree, f.snapshot); err != nil {
		t.Fatal(err)
	}
	return f
}

// change records what the task did to its worktree.
func (f *changeFixture) change(t *testing.T, edit func(wt string)) Change {
	t.Helper()
	edit(f.worktree)
	c, err := f.repo.Capture(context.Background(), f.worktree, f.snapshot, "t")
	if err != nil {
		t.Fatal(err)
	}
	return Change{GitDir: f.repo.Dir, Snapshot: f.snapshot, Commits: []string{c}, Tasks: []string{"t"}}
}

func outcomes(rep ApplyReport) []string {
	var out []string
	for _, f := range rep.Files {
		out = append(out, f.Path+" "+f.Outcome)
	}
	return out
}

func TestApplyTakesTheTasksVersionOfUntouchedFiles(t *testing.T) {
	f := newChangeFixture(t, map[string]string{"a.txt": tenLines, "gone.txt": "x\n", "run.sh": "#!/bin/sh\n"})
	ch := f.change(t, func(wt string) {
		gittest.Write(t, filepath.Join(wt, "a.txt"), strings.Replace(tenLines, "2\n", "two\n", 1))
		gittest.Write(t, filepath.Join(wt, "new/deep/b.txt"), "b\n")
		os.Remove(filepath.Join(wt, "gone.txt"))
		os.Chmod(filepath.Join(wt, "run.sh"), 0o755)
	})
	rep, err := f.ws.ApplyChanges(t.Context(), ch, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != ApplyApplied || rep.Applied != 4 {
		t.Errorf("report %+v", rep)
	}
	if got := read(t, filepath.Join(f.dir, "a.txt")); !strings.Contains(got, "two\n") {
		t.Errorf("a.txt = %q", got)
	}
	if got := read(t, filepath.Join(f.dir, "new/deep/b.txt")); got != "b\n" {
		t.Errorf("b.txt = %q", got)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "gone.txt")); err == nil {
		t.Error("gone.txt was not deleted")
	}
	if fi, _ := os.Stat(filepath.Join(f.dir, "run.sh")); fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh mode %v, want executable", fi.Mode())
	}

	// Applying again changes nothing.
	rep, err = f.ws.ApplyChanges(t.Context(), ch, ApplyOptions{})
	if err != nil || rep.Applied != 0 || rep.Status != ApplyApplied {
		t.Errorf("second apply %+v, %v", rep, err)
	}
}

// Edits the user made after the execution started survive: an unrelated
// file as it is, the same file merged; an overlapping edit stops the
// apply, and nothing at all is written.
func TestApplyKeepsTheUsersEdits(t *testing.T) {
	f := newChangeFixture(t, map[string]string{"a.txt": tenLines, "b.txt": tenLines, "c.txt": "c\n"})
	ch := f.change(t, func(wt string) {
		gittest.Write(t, filepath.Join(wt, "a.txt"), strings.Replace(tenLines, "2\n", "two\n", 1))
		gittest.Write(t, filepath.Join(wt, "b.txt"), strings.Replace(tenLines, "9\n", "nine\n", 1))
	})
	gittest.Write(t, filepath.Join(f.dir, "a.txt"), strings.Replace(tenLines, "8\n", "EIGHT\n", 1)) // merges
	gittest.Write(t, filepath.Join(f.dir, "c.txt"), "mine\n")                                       // unrelated
	rep, err := f.ws.ApplyChanges(t.Context(), ch, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(rep); !slices.Equal(got, []string{"a.txt merged", "b.txt applied"}) {
		t.Errorf("outcomes %v", got)
	}
	if got := read(t, filepath.Join(f.dir, "a.txt")); !strings.Contains(got, "two\n") || !strings.Contains(got, "EIGHT\n") {
		t.Errorf("a.txt = %q, want both edits", got)
	}
	if got := read(t, filepath.Join(f.dir, "c.txt")); got != "mine\n" {
		t.Errorf("c.txt = %q", got)
	}

	// A second execution's change overlaps an edit made since.
	g := newChangeFixture(t, map[string]string{"a.txt": tenLines, "b.txt": tenLines})
	ch = g.change(t, func(wt string) {
		gittest.Write(t, filepath.Join(wt, "a.txt"), strings.Replace(tenLines, "5\n", "task\n", 1))
		gittest.Write(t, filepath.Join(wt, "b.txt"), "task\n")
	})
	mine := strings.Replace(tenLines, "5\n", "mine\n", 1)
	gittest.Write(t, filepath.Join(g.dir, "a.txt"), mine)
	rep, err = g.ws.ApplyChanges(t.Context(), ch, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != ApplyConflict || rep.Conflicts != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := outcomes(rep); !slices.Equal(got, []string{"a.txt conflict", "b.txt not-applied"}) {
		t.Errorf("outcomes %v", got)
	}
	if got := read(t, filepath.Join(g.dir, "a.txt")); got != mine {
		t.Errorf("the user's a.txt became %q", got)
	}
	if got := read(t, filepath.Join(g.dir, "b.txt")); got != tenLines {
		t.Errorf("b.txt was written though the apply had a conflict: %q", got)
	}
	if theirs := rep.Files[0].Theirs; theirs == "" || !strings.Contains(read(t, theirs), "task\n") {
		t.Errorf("the task's version is not at hand: %q", theirs)
	}
}

// --branch commits HEAD plus the change, without the user's uncommitted
// edits, and leaves the working tree and the index alone.
func TestApplyOnABranchLeavesTheWorkingTreeAlone(t *testing.T) {
	f := newChangeFixture(t, map[string]string{"a.txt": tenLines})
	gittest.Write(t, filepath.Join(f.dir, "a.txt"), strings.Replace(tenLines, "9\n", "uncommitted\n", 1))
	ch := f.change(t, func(wt string) {
		gittest.Write(t, filepath.Join(wt, "a.txt"), strings.Replace(read(t, filepath.Join(wt, "a.txt")), "1\n", "task\n", 1))
	})
	status := gittest.Run(t, f.dir, "status", "--porcelain")
	rep, err := f.ws.ApplyChanges(t.Context(), ch, ApplyOptions{Branch: "mimir/fix"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != ApplyBranch || rep.Commit == "" {
		t.Fatalf("report %+v", rep)
	}
	if got := gittest.Run(t, f.dir, "show", "mimir/fix:a.txt") + "\n"; got != strings.Replace(tenLines, "1\n", "task\n", 1) {
		t.Errorf("the branch's a.txt = %q", got)
	}
	if got := gittest.Run(t, f.dir, "status", "--porcelain"); got != status {
		t.Errorf("git status went from %q to %q", status, got)
	}
	if got := read(t, filepath.Join(f.dir, "a.txt")); !strings.Contains(got, "uncommitted") || strings.Contains(got, "task") {
		t.Errorf("the working tree's a.txt = %q", got)
	}
	if _, err := f.ws.ApplyChanges(t.Context(), ch, ApplyOptions{Branch: "mimir/fix"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second branch of the same name: %v", err)
	}
}

// A link the task made is refused, not written; nor is anything else.
func TestApplyRefusesLinks(t *testing.T) {
	f := newChangeFixture(t, map[string]string{"a.txt": "a\n"})
	ch := f.change(t, func(wt string) {
		if err := os.Symlink("/etc/passwd", filepath.Join(wt, "link")); err != nil {
			t.Fatal(err)
		}
		gittest.Write(t, filepath.Join(wt, "a.txt"), "b\n")
	})
	rep, err := f.ws.ApplyChanges(t.Context(), ch, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(rep); rep.Status != ApplyConflict || !slices.Equal(got, []string{"a.txt not-applied", "link refused"}) {
		t.Errorf("status %s, outcomes %v", rep.Status, got)
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "link")); err == nil {
		t.Error("the link was made")
	}
}

func TestCheckApplyPath(t *testing.T) {
	for p, ok := range map[string]bool{"a/b.txt": true, ".mimir/journal.db": false, ".MIMIR/x": false, ".git/hooks/pre-commit": false, "a/.git/config": false, "../x": false} {
		if err := checkApplyPath(p); (err == nil) != ok {
			t.Errorf("checkApplyPath(%q) = %v", p, err)
		}
	}
}
