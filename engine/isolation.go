package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/internal/git"
)

// An isolated task (isolation: worktree or copy) works in a git worktree
// of a repository the execution keeps of its own (see package
// internal/git): checked out from one snapshot of the workspace as the
// user has it, or from the combined results of the tasks it depends on.
// What it changed there is recorded as a commit, handed to its QC agent as
// a diff, and delivered as a patch; applying it to the workspace is the
// caller's (package workspace).

// Changes is what an isolated task changed, on task-complete and in the
// task's state.
type Changes struct {
	// Snapshot is the commit of the workspace as the execution found it,
	// the base every isolated task of the execution starts from.
	Snapshot string `json:"snapshot"`
	// Commit is the task's result: the snapshot with its dependencies'
	// changes and its own.
	Commit string `json:"commit"`
	// Files are the task's own changes (against what it started from).
	Files []ChangedFile `json:"files"`
	// Patch is the deliverable holding them as a unified diff.
	Patch string `json:"patch"`
}

// ChangedFile is a file a change adds, modifies or deletes.
type ChangedFile struct {
	Path   string `json:"path"`
	Status string `json:"status"`
}

// AttemptChange is what the QC agent of an isolated task is given: the
// worker's change so far.
type AttemptChange struct {
	Files []ChangedFile
	// Patch is the unified diff; PatchFile holds the same for commands.
	Patch     []byte
	PatchFile string
}

// isolation is an execution's repository, made when its first isolated
// task starts.
type isolation struct {
	mu       sync.Mutex
	repo     *git.Repo
	snapshot string
}

// CheckIsolation tells, before a workflow runs, why its isolated tasks
// could not: git missing, or isolation: worktree in a workspace that is
// not the top folder of a git repository.
func CheckIsolation(ctx context.Context, wf *Workflow, workspace string) error {
	need := ""
	for _, t := range wf.Tasks {
		if t.Isolated() && need != IsolationWorktree {
			need = t.Isolation
		}
	}
	if need == "" {
		return nil
	}
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Errorf("tasks with isolation: %s need git, which is not on PATH: install it (apt-get install git, brew install git, or git-scm.com)", need)
	}
	if need != IsolationWorktree {
		return nil
	}
	_, err := userRepo(ctx, workspace)
	return err
}

// userRepo is the workspace's repository if the workspace is its top
// folder; an error says what to do when it is not.
func userRepo(ctx context.Context, workspace string) (*git.UserRepo, error) {
	u, err := git.FindUserRepo(ctx, workspace)
	if errors.Is(err, git.ErrNotRepository) {
		return nil, fmt.Errorf("isolation: worktree needs the workspace %s to be a git repository: run `git init` there, or use isolation: copy", workspace)
	}
	if err != nil {
		return nil, err
	}
	if !sameDir(u.Top, workspace) {
		return nil, fmt.Errorf("isolation: worktree needs the workspace to be the top folder of its git repository, %s (the workspace is %s): open %s as the workspace, or use isolation: copy", u.Top, workspace, u.Top)
	}
	return u, nil
}

func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// repoAndSnapshot makes the execution's repository and the snapshot on
// first use; a resumed execution reuses the snapshot its completed tasks
// started from, so their changes and the new ones share one base.
func (ex *Execution) repoAndSnapshot(ctx context.Context) (*git.Repo, string, error) {
	iso := &ex.iso
	iso.mu.Lock()
	defer iso.mu.Unlock()
	if iso.repo != nil {
		return iso.repo, iso.snapshot, nil
	}
	ws := ex.r.opts.Workspace
	user, err := git.FindUserRepo(ctx, ws)
	if err != nil && !errors.Is(err, git.ErrNotRepository) {
		return nil, "", err
	}
	if user != nil && !sameDir(user.Top, ws) {
		user = nil // isolation: copy of a folder inside a repository
	}
	repo, err := git.Init(ctx, filepath.Join(ex.dir, "git"), user, stateFolderName)
	if err != nil {
		return nil, "", err
	}
	snapshot := ""
	for _, t := range ex.Info().TaskList {
		if t.Changes != nil {
			snapshot = t.Changes.Snapshot
			break
		}
	}
	if snapshot == "" {
		head := ""
		if user != nil {
			if head, err = user.Head(ctx); err != nil {
				return nil, "", err
			}
		}
		if snapshot, err = repo.Snapshot(ctx, ws, head, stateFolderName); err != nil {
			return nil, "", err
		}
	}
	iso.repo, iso.snapshot = repo, snapshot
	return repo, snapshot, nil
}

// stateFolderName is the state folder's name in the workspace, never part
// of a snapshot nor of a change applied.
const stateFolderName = ".mimir"

// worktreeDir is where task t's worktree is checked out.
func (ex *Execution) worktreeDir(t *Task) string {
	return filepath.Join(ex.dir, "worktrees", t.ID)
}

// prepareWorktree checks out t's worktree, fresh, from the snapshot or the
// combined results of the isolated tasks t depends on, and returns what
// it started from. A left-over worktree (a resumed task's) is removed
// first.
func (ex *Execution) prepareWorktree(ctx context.Context, t *Task) (string, error) {
	repo, snapshot, err := ex.repoAndSnapshot(ctx)
	if err != nil {
		return "", fmt.Errorf("prepare the worktree of task %s: %w", t.ID, err)
	}
	done := map[string]*Changes{}
	for _, ti := range ex.Info().TaskList {
		done[ti.ID] = ti.Changes
	}
	var results []string // of the isolated tasks t depends on
	for _, d := range t.DependsOn {
		if c := done[d]; c != nil {
			results = append(results, c.Commit)
		}
	}
	if len(results) == 0 {
		results = []string{snapshot}
	}
	start, err := repo.Merge(ctx, results...)
	if err != nil {
		return "", err
	}
	state, err := ex.r.stateDir()
	if err != nil {
		return "", fmt.Errorf("prepare the worktree of task %s: %w", t.ID, err)
	}
	name := executionFolder(ex.id) + "/worktrees/" + t.ID
	if err := state.RemoveAll(name); err != nil {
		return "", fmt.Errorf("prepare the worktree of task %s: %w", t.ID, err)
	}
	if err := state.MkdirAll(executionFolder(ex.id)+"/worktrees", 0o755); err != nil {
		return "", fmt.Errorf("prepare the worktree of task %s: %w", t.ID, err)
	}
	if err := repo.AddWorktree(ctx, ex.worktreeDir(t), start); err != nil {
		return "", fmt.Errorf("prepare the worktree of task %s: %w", t.ID, err)
	}
	return start, nil
}

// captureChange records what the worker changed in t's worktree since
// start, for the QC agent of that attempt and, once it passes, for the
// task's result.
func (ex *Execution) captureChange(ctx context.Context, t *Task, start string, attempt int) (string, *AttemptChange, error) {
	repo, _, err := ex.repoAndSnapshot(ctx)
	if err != nil {
		return "", nil, err
	}
	commit, err := repo.Capture(ctx, ex.worktreeDir(t), start, t.ID)
	if err != nil {
		return "", nil, err
	}
	files, err := repo.Changes(ctx, start, commit)
	if err != nil {
		return "", nil, err
	}
	patch, err := repo.Patch(ctx, start, commit)
	if err != nil {
		return "", nil, err
	}
	state, err := ex.r.stateDir()
	if err != nil {
		return "", nil, fmt.Errorf("write the patch of task %s: %w", t.ID, err)
	}
	name := executionFolder(ex.id) + "/changes/" + t.ID + "." + strconv.Itoa(attempt) + ".patch"
	if err := state.MkdirAll(executionFolder(ex.id)+"/changes", 0o755); err != nil {
		return "", nil, fmt.Errorf("write the patch of task %s: %w", t.ID, err)
	}
	if err := state.WriteFile(name, patch, 0o644); err != nil {
		return "", nil, fmt.Errorf("write the patch of task %s: %w", t.ID, err)
	}
	ch := &AttemptChange{Files: changedFiles(files), Patch: patch, PatchFile: state.Join(name)}
	return commit, ch, nil
}

// deliverChange puts the passed attempt's patch in the task's staging
// folder, where it is the task's deliverable like any file, and returns
// the task's Changes.
func (ex *Execution) deliverChange(t *Task, commit string, ch *AttemptChange) (*Changes, error) {
	state, err := ex.r.stateDir()
	if err != nil {
		return nil, fmt.Errorf("deliver the change of task %s: %w", t.ID, err)
	}
	dir := executionFolder(ex.id) + "/staging/" + t.ID
	if err := state.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("deliver the change of task %s: %w", t.ID, err)
	}
	if err := state.WriteFile(dir+"/"+t.ID+".patch", ch.Patch, 0o644); err != nil {
		return nil, fmt.Errorf("deliver the change of task %s: %w", t.ID, err)
	}
	ex.iso.mu.Lock()
	snapshot := ex.iso.snapshot
	ex.iso.mu.Unlock()
	return &Changes{Snapshot: snapshot, Commit: commit, Files: ch.Files, Patch: t.ID + "/" + t.ID + ".patch"}, nil
}

func changedFiles(fs []git.FileChange) []ChangedFile {
	out := make([]ChangedFile, len(fs))
	for i, f := range fs {
		out[i] = ChangedFile{Path: f.Path, Status: f.Status}
	}
	return out
}

// ChangeSet is what applying an execution's changes needs: its
// repository, the snapshot and the results of the tasks chosen.
type ChangeSet struct {
	GitDir   string
	Snapshot string
	Commits  []string
	Tasks    []string
}

// ChangeSet gathers the changes of the execution's completed isolated
// tasks (those named, or all), for package workspace to apply.
func (ex *Execution) ChangeSet(tasks []string) (ChangeSet, error) {
	info := ex.Info()
	if info.Status == StatusRunning {
		return ChangeSet{}, fmt.Errorf("execution %s is still running: apply its changes once it has finished", ex.id)
	}
	byID := map[string]TaskInfo{}
	for _, t := range info.TaskList {
		byID[t.ID] = t
	}
	if len(tasks) == 0 {
		for _, t := range info.TaskList {
			if t.Changes != nil {
				tasks = append(tasks, t.ID)
			}
		}
		if len(tasks) == 0 {
			return ChangeSet{}, fmt.Errorf("execution %s has no changes to apply: only tasks with isolation: worktree or copy that completed have one", ex.id)
		}
	}
	cs := ChangeSet{GitDir: filepath.Join(ex.dir, "git")}
	for _, id := range tasks {
		t, ok := byID[id]
		switch {
		case !ok:
			return ChangeSet{}, fmt.Errorf("execution %s has no task %q", ex.id, id)
		case t.Changes == nil && t.Status != TaskCompleted:
			return ChangeSet{}, fmt.Errorf("task %s of execution %s did not complete, so it has no change to apply", id, ex.id)
		case t.Changes == nil:
			return ChangeSet{}, fmt.Errorf("task %s of execution %s is not isolated: its deliverables are files, saved with mimir/saveDeliverables", id, ex.id)
		}
		cs.Snapshot = t.Changes.Snapshot
		cs.Commits = append(cs.Commits, t.Changes.Commit)
		cs.Tasks = append(cs.Tasks, id)
	}
	return cs, nil
}

// RemoveWorktrees removes the execution's worktrees (its changes stay
// recorded in its repository), once they are applied or discarded.
func (ex *Execution) RemoveWorktrees(ctx context.Context) error {
	state, err := ex.r.stateDir()
	if err != nil {
		return fmt.Errorf("remove the worktrees of %s: %w", ex.id, err)
	}
	if err := state.RemoveAll(executionFolder(ex.id) + "/worktrees"); err != nil {
		return fmt.Errorf("remove the worktrees of %s: %w", ex.id, err)
	}
	gitDir := filepath.Join(ex.dir, "git")
	if _, err := os.Lstat(filepath.Join(gitDir, "HEAD")); err != nil {
		return nil // no isolated task ever ran
	}
	return (&git.Repo{Dir: gitDir}).Prune(ctx)
}

// RecordApplied reports an apply of the execution's changes (status is
// workspace's: applied, conflict or branch) with a changes-applied event,
// and removes the worktrees once the changes are in.
func (ex *Execution) RecordApplied(ctx context.Context, status, branch string, applied, conflicts int, results any) {
	ex.r.emit(ex, EventChangesApplied, EventData{
		Status:    status,
		Branch:    branch,
		Applied:   ptr(applied),
		Conflicts: ptr(conflicts),
		Results:   results,
		Message:   AppliedMessage(status, branch, applied, conflicts),
	})
	if conflicts == 0 {
		if err := ex.RemoveWorktrees(ctx); err != nil {
			ex.r.log.Warn("could not remove the worktrees", "execution", ex.id, "err", err)
		}
	}
}

// DiscardChanges removes the execution's worktrees and reports it; the
// changes stay recorded, and can still be applied.
func (ex *Execution) DiscardChanges(ctx context.Context) error {
	if ex.Info().Status == StatusRunning {
		return fmt.Errorf("execution %s is still running: its tasks work in those worktrees; cancel it first, or discard once it has finished", ex.id)
	}
	if err := ex.RemoveWorktrees(ctx); err != nil {
		return err
	}
	ex.r.emit(ex, EventChangesDiscarded, EventData{Message: "🗑️ Discarded the worktrees of the changes"})
	return nil
}
