package git

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/git/gittest"
)

// isolate keeps the tester's own git configuration out.
func isolate(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
}

// hostileRepo makes a repository whose configuration and hooks would each
// write a marker file if git ran them.
func hostileRepo(t *testing.T) (dir, marker string) {
	t.Helper()
	dir = t.TempDir()
	marker = filepath.Join(t.TempDir(), "ran")
	gittest.Run(t, dir, "init", "-q")
	gittest.Write(t, filepath.Join(dir, "a.txt"), "one\ntwo\nthree\nfour\nfive\n")
	gittest.Write(t, filepath.Join(dir, ".gitignore"), "*.log\n")
	gittest.Write(t, filepath.Join(dir, ".gitattributes"), "* filter=evil diff=evil merge=evil\n")
	gittest.Run(t, dir, "add", ".")
	gittest.Run(t, dir, "commit", "-qm", "start")

	evil := filepath.Join(t.TempDir(), "evil.sh")
	if err := os.WriteFile(evil, []byte("#!/bin/sh\necho \"$0 $*\" >> "+marker+"\ncat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hooks := filepath.Join(dir, ".git", "hooks")
	for _, h := range []string{"post-checkout", "reference-transaction", "pre-commit", "post-commit", "post-index-change", "pre-auto-gc", "post-rewrite"} {
		if err := os.WriteFile(filepath.Join(hooks, h), []byte("#!/bin/sh\necho hook "+h+" >> "+marker+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	config := `
[core]
	fsmonitor = ` + evil + `
	sshCommand = ` + evil + `
	pager = ` + evil + `
	editor = ` + evil + `
	askPass = ` + evil + `
[filter "evil"]
	clean = ` + evil + ` clean
	smudge = ` + evil + ` smudge
	required = true
[diff "evil"]
	textconv = ` + evil + `
	command = ` + evil + `
[merge "evil"]
	driver = ` + evil + ` %O %A %B
[commit]
	gpgSign = true
[gpg]
	program = ` + evil + `
[credential]
	helper = ` + evil + `
[gc]
	auto = 1
`
	f, err := os.OpenFile(filepath.Join(dir, ".git", "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(config); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return dir, marker
}

func noMarker(t *testing.T, marker string) {
	t.Helper()
	if data, err := os.ReadFile(marker); err == nil {
		t.Fatalf("git ran a program the repository configured:\n%s", data)
	}
}

// The whole round trip a worktree task makes, on a repository configured
// to run a program at every step, runs none of them; and it sees and
// delivers what it should.
func TestRoundTripRunsNothingTheRepositoryConfigures(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	ws, marker := hostileRepo(t)
	gittest.Write(t, filepath.Join(ws, "a.txt"), "one\ntwo\nthree\nfour (edited, not committed)\nfive\n")
	gittest.Write(t, filepath.Join(ws, "new.txt"), "untracked\n")
	gittest.Write(t, filepath.Join(ws, "debug.log"), "ignored\n")
	gittest.Write(t, filepath.Join(ws, ".mimir", "journal.db"), "state\n")

	user, err := FindUserRepo(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	head, err := user.Head(ctx)
	if err != nil || head == "" {
		t.Fatalf("head %q: %v", head, err)
	}
	repo, err := Init(ctx, filepath.Join(t.TempDir(), "git"), user, ".mimir")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := repo.Snapshot(ctx, ws, head, ".mimir")
	if err != nil {
		t.Fatal(err)
	}
	wt1, wt2 := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")
	for _, wt := range []string{wt1, wt2} {
		if err := repo.AddWorktree(ctx, wt, snap); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(wt1, "a.txt"))
	if !strings.Contains(string(got), "edited, not committed") {
		t.Errorf("the worktree does not have the uncommitted edit: %q", got)
	}
	for name, want := range map[string]bool{"new.txt": true, "debug.log": false, ".mimir": false} {
		if _, err := os.Lstat(filepath.Join(wt1, name)); (err == nil) != want {
			t.Errorf("%s in the worktree: %v, want %v", name, err == nil, want)
		}
	}

	gittest.Write(t, filepath.Join(wt1, "a.txt"), "ONE\ntwo\nthree\nfour (edited, not committed)\nfive\n")
	gittest.Write(t, filepath.Join(wt2, "b/c.txt"), "added\n")
	if err := os.Remove(filepath.Join(wt2, "new.txt")); err != nil {
		t.Fatal(err)
	}
	c1, err := repo.Capture(ctx, wt1, snap, "one")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := repo.Capture(ctx, wt2, snap, "two")
	if err != nil {
		t.Fatal(err)
	}
	both, err := repo.Merge(ctx, c1, c2)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := repo.Changes(ctx, snap, both)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, c := range changes {
		summary = append(summary, c.Status+" "+c.Path)
	}
	if want := []string{"modified a.txt", "added b/c.txt", "deleted new.txt"}; !slices.Equal(summary, want) {
		t.Errorf("changes %v, want %v", summary, want)
	}
	patch, err := repo.Patch(ctx, snap, c1)
	if err != nil || !strings.Contains(string(patch), "-one\n+ONE\n") {
		t.Errorf("patch %q: %v", patch, err)
	}

	// Committed on a branch of the user's repository: HEAD plus the
	// change, without the uncommitted edit.
	headTree, _ := repo.Tree(ctx, head)
	onSnap, err := repo.CommitTree(ctx, headTree, "HEAD", snap)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := repo.Merge(ctx, onSnap, both)
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := repo.Tree(ctx, merged)
	commit, err := repo.CommitTree(ctx, tree, "change", head)
	if err != nil {
		t.Fatal(err)
	}
	if err := user.Branch(ctx, repo, "mimir/test", commit, head); err != nil {
		t.Fatal(err)
	}
	if got := gittest.Run(t, ws, "-c", "core.fsmonitor=false", "show", "mimir/test:a.txt"); got != "ONE\ntwo\nthree\nfour\nfive" {
		t.Errorf("branch a.txt = %q", got)
	}
	if err := user.Branch(ctx, repo, "mimir/test", commit, head); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second branch of the same name: %v", err)
	}
	noMarker(t, marker)
}

func TestMergeReportsConflictingFiles(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	ws := t.TempDir()
	gittest.Write(t, filepath.Join(ws, "a.txt"), "one\n")
	repo, err := Init(ctx, filepath.Join(t.TempDir(), "git"), nil, ".mimir")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := repo.Snapshot(ctx, ws, "", ".mimir")
	if err != nil {
		t.Fatal(err)
	}
	var commits []string
	for _, v := range []string{"two\n", "three\n"} {
		wt := filepath.Join(t.TempDir(), "wt")
		if err := repo.AddWorktree(ctx, wt, snap); err != nil {
			t.Fatal(err)
		}
		gittest.Write(t, filepath.Join(wt, "a.txt"), v)
		c, err := repo.Capture(ctx, wt, snap, filepath.Base(filepath.Dir(wt)))
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, c)
	}
	_, err = repo.Merge(ctx, commits...)
	files, ok := IsConflict(err)
	if !ok || !slices.Equal(files, []string{"a.txt"}) {
		t.Fatalf("merge: %v (files %v)", err, files)
	}
}

// An id read back from the journal is never put on git's command line
// unless it is one.
func TestObjectIDsAreChecked(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	repo, err := Init(ctx, filepath.Join(t.TempDir(), "git"), nil, ".mimir")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"--output=/tmp/x", "HEAD", "", strings.Repeat("g", 40)} {
		if _, err := repo.Blob(ctx, id); err == nil || !strings.Contains(err.Error(), "not a git object id") {
			t.Errorf("Blob(%q): %v", id, err)
		}
	}
}

func TestFindUserRepoOutsideGit(t *testing.T) {
	isolate(t)
	_, err := FindUserRepo(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), ErrNotRepository.Error()) {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkIsolatedTask is what an isolated task costs in git on a
// repository of 2,000 files: the snapshot (once per execution), the
// worktree, and capturing a one-file change with its patch.
func BenchmarkIsolatedTask(b *testing.B) {
	if _, err := exec.LookPath("git"); err != nil {
		b.Skip("git is not installed")
	}
	files := map[string]string{}
	for i := range 2000 {
		files[fmt.Sprintf("pkg%02d/file%04d.go", i%40, i)] = strings.Repeat(fmt.Sprintf("line %d\n", i), 40)
	}
	ws := gittest.Repo(b, files)
	ctx := context.Background()
	user, err := FindUserRepo(ctx, ws)
	if err != nil {
		b.Fatal(err)
	}
	head, _ := user.Head(ctx)
	var snap, work, capture time.Duration
	for i := range b.N {
		repo, err := Init(ctx, filepath.Join(b.TempDir(), "git"), user, ".mimir")
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		s, err := repo.Snapshot(ctx, ws, head, ".mimir")
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		wt := filepath.Join(b.TempDir(), "wt")
		if err := repo.AddWorktree(ctx, wt, s); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		gittest.Write(b, filepath.Join(wt, "pkg00/file0000.go"), fmt.Sprintf("changed %d\n", i))
		c, err := repo.Capture(ctx, wt, s, "t")
		if err == nil {
			_, err = repo.Patch(ctx, s, c)
		}
		if err != nil {
			b.Fatal(err)
		}
		snap, work, capture = snap+t1.Sub(t0), work+t2.Sub(t1), capture+time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(snap.Milliseconds())/n, "ms-snapshot")
	b.ReportMetric(float64(work.Milliseconds())/n, "ms-worktree")
	b.ReportMetric(float64(capture.Milliseconds())/n, "ms-capture")
}
