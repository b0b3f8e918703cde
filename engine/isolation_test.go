//go:build unix

package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/git"
	"github.com/mimir-sidecar/mimir-sidecar/internal/git/gittest"
)

func isolatedTask(id, worker, qc string, deps ...string) *Task {
	tk := shellTask(worker, qc)
	tk.ID, tk.DependsOn, tk.Isolation = id, deps, IsolationWorktree
	return tk
}

func taskComplete(t *testing.T, evs []Event, id string) EventData {
	t.Helper()
	i := index(evs, EventTaskComplete, id)
	if i < 0 {
		t.Fatalf("task %s did not complete: %v", id, evs)
	}
	return evs[i].Data
}

func changedPaths(c *Changes) []string {
	var out []string
	for _, f := range c.Files {
		out = append(out, f.Status+" "+f.Path)
	}
	return out
}

// The worker works on the workspace as the user has it, uncommitted edit
// included; its QC gets the diff; the user's working tree, index and
// worktree list are as they were.
func TestIsolatedTaskWorksOnTheUsersTreeAndLeavesItAlone(t *testing.T) {
	ws := gittest.Repo(t, map[string]string{"a.txt": "one\n"})
	gittest.Write(t, filepath.Join(ws, "a.txt"), "one\nedited\n")
	status := gittest.Run(t, ws, "status", "--porcelain")

	wf := &Workflow{Name: "w", Tasks: []*Task{isolatedTask("t",
		`grep -q edited a.txt && echo fixed >> a.txt && echo new > b.txt`,
		`grep -q '^+fixed' "$MIMIR_PATCH_FILE" && grep -q edited a.txt`)}}
	_, evs := runFenced(t, ws, wf)
	d := taskComplete(t, evs, "t")
	if d.Changes == nil {
		t.Fatal("task-complete has no changes")
	}
	if got, want := changedPaths(d.Changes), []string{"modified a.txt", "added b.txt"}; !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if len(d.Deliverables) != 1 || d.Deliverables[0].Path != "t/t.patch" {
		t.Errorf("deliverables %+v, want the patch", d.Deliverables)
	}
	if got, _ := os.ReadFile(filepath.Join(ws, "a.txt")); string(got) != "one\nedited\n" {
		t.Errorf("the workspace's a.txt became %q", got)
	}
	if _, err := os.Stat(filepath.Join(ws, "b.txt")); err == nil {
		t.Error("b.txt appeared in the workspace before any apply")
	}
	if got := strings.ReplaceAll(gittest.Run(t, ws, "status", "--porcelain"), "?? .mimir/", ""); strings.TrimSpace(got) != status {
		t.Errorf("git status went from %q to %q", status, got)
	}
	if got := gittest.Run(t, ws, "worktree", "list", "--porcelain"); strings.Count(got, "worktree ") != 1 {
		t.Errorf("the user's repository has new worktrees:\n%s", got)
	}
}

// Each attempt's change is captured from the same start: the second
// attempt's diff holds both attempts' edits.
func TestIsolatedRetryKeepsTheFirstAttemptsWork(t *testing.T) {
	ws := gittest.Repo(t, map[string]string{"a.txt": "a\n"})
	tk := isolatedTask("t", `echo "attempt $MIMIR_ATTEMPT" >> a.txt`, `test "$MIMIR_ATTEMPT" = 2 && grep -q '^+attempt 1' "$MIMIR_PATCH_FILE" && grep -q '^+attempt 2' "$MIMIR_PATCH_FILE"`)
	tk.MaxRetries = ptr(1)
	_, evs := runFenced(t, ws, &Workflow{Name: "w", Tasks: []*Task{tk}})
	if d := taskComplete(t, evs, "t"); d.Attempt != 2 {
		t.Errorf("completed on attempt %d, want 2", d.Attempt)
	}
}

// A task that depends on isolated tasks starts from their combined
// results; two that changed the same lines fail it, naming the file.
func TestDependentsStartFromCombinedResults(t *testing.T) {
	ws := gittest.Repo(t, map[string]string{"a.txt": "a\n", "b.txt": "b\n"})
	wf := &Workflow{Name: "w", Tasks: []*Task{
		isolatedTask("x", `echo x >> a.txt`, ""),
		isolatedTask("y", `echo y >> b.txt`, ""),
		isolatedTask("z", `grep -q x a.txt && grep -q y b.txt && echo z > z.txt`, "", "x", "y"),
	}}
	_, evs := runFenced(t, ws, wf)
	if got := changedPaths(taskComplete(t, evs, "z").Changes); !slices.Equal(got, []string{"added z.txt"}) {
		t.Errorf("z's own changes %v", got)
	}

	wf = &Workflow{Name: "w", Tasks: []*Task{
		isolatedTask("x", `echo x > a.txt`, ""),
		isolatedTask("y", `echo y > a.txt`, ""),
		isolatedTask("z", `true`, "", "x", "y"),
	}}
	_, evs = runFenced(t, ws, wf)
	i := index(evs, EventTaskFail, "z")
	if i < 0 {
		t.Fatalf("z did not fail: %v", names(evs, "z"))
	}
	if g := evs[i].Data.Gap; g == nil || !slices.Equal(g.Issues, []string{"a.txt"}) {
		t.Errorf("z's gap %+v, want the conflicting a.txt", g)
	}
}

func TestWorktreeNeedsAGitRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ws := t.TempDir()
	r := NewRunner(t.Context(), Options{Workspace: ws, Agents: Agents{"exec": commandAgent()}})
	_, err := r.Execute(&Workflow{Name: "w", Tasks: []*Task{isolatedTask("t", "true", "")}}, ExecOptions{})
	if err == nil || !strings.Contains(err.Error(), "git init") || !strings.Contains(err.Error(), "isolation: copy") {
		t.Fatalf("got %v", err)
	}

	// isolation: copy takes the folder as it is, .gitignore honoured.
	gittest.Write(t, filepath.Join(ws, "src.txt"), "s\n")
	gittest.Write(t, filepath.Join(ws, ".gitignore"), "*.log\n")
	gittest.Write(t, filepath.Join(ws, "x.log"), "l\n")
	tk := isolatedTask("t", `test -f src.txt && test ! -e x.log && echo more >> src.txt`, "")
	tk.Isolation = IsolationCopy
	_, evs := runFenced(t, ws, &Workflow{Name: "w", Tasks: []*Task{tk}})
	if got := changedPaths(taskComplete(t, evs, "t").Changes); !slices.Equal(got, []string{"modified src.txt"}) {
		t.Errorf("changes %v", got)
	}
}

// A task's worktree made again (a resumed task's, after a crash) replaces
// the old one: the execution's repository never lists a stale worktree,
// and removing the worktrees leaves none.
func TestWorktreesDoNotPileUp(t *testing.T) {
	ws := gittest.Repo(t, map[string]string{"a.txt": "a\n"})
	ex, _ := runFenced(t, ws, &Workflow{Name: "w", Tasks: []*Task{isolatedTask("t", `echo more >> a.txt`, "")}})
	tk := ex.wf.Tasks[0]
	for range 2 {
		if _, err := ex.prepareWorktree(t.Context(), tk); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := git.OpenRepo(t.Context(), filepath.Join(ex.dir, "git"))
	if err != nil {
		t.Fatal(err)
	}
	if wts, err := repo.Worktrees(t.Context()); err != nil || len(wts) != 1 {
		t.Errorf("worktrees %v (%v), want one", wts, err)
	}
	if err := ex.RemoveWorktrees(t.Context()); err != nil {
		t.Fatal(err)
	}
	if wts, err := repo.Worktrees(t.Context()); err != nil || len(wts) != 0 {
		t.Errorf("worktrees after removal %v (%v), want none", wts, err)
	}
}

// An apply's event comes back from the journal as written: its status is
// an apply's, not an execution's.
func TestChangesAppliedPassesTheJournalsCheck(t *testing.T) {
	const id = "ex_01M8Y4J8METW8YJAJM7ANZAAV2"
	for status, ok := range map[string]bool{"applied": true, "conflict": true, "branch": true, "completed": false, "bogus": false} {
		ev := &Event{ExecutionID: id, Event: EventChangesApplied, Data: EventData{Status: status, Message: "m"}}
		if err := CheckEvent(ev, id); (err == nil) != ok {
			t.Errorf("changes-applied with status %q: %v", status, err)
		}
	}
	if err := CheckEvent(&Event{ExecutionID: id, Event: EventExecutionComplete, Data: EventData{Status: "applied"}}, id); err == nil {
		t.Error("execution-complete with an apply's status passed")
	}
}

// Neither applying nor discarding touches a running execution's
// worktrees: its tasks work in them.
func TestChangesWaitForTheExecutionToEnd(t *testing.T) {
	ws := gittest.Repo(t, map[string]string{"a.txt": "a\n"})
	release := make(chan struct{})
	rec := &recorder{}
	r := NewRunner(t.Context(), Options{Workspace: ws, Sink: rec, Agents: Agents{"exec": commandAgent(), "test": {
		Worker: func(*Task, *AgentSpec) (Worker, error) {
			return funcAgent{work: func(ctx context.Context, j *Job) (WorkResult, error) {
				<-release
				return WorkResult{}, nil
			}}, nil
		},
		QC: func(*Task, *AgentSpec) (QC, error) { return funcAgent{}, nil },
	}}})
	tk := &Task{ID: "t", Worker: &AgentSpec{Type: "test"}, Isolation: IsolationWorktree}
	ex, err := r.Execute(&Workflow{Name: "w", Tasks: []*Task{tk}}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(release); <-ex.Done() }()
	for ex.Info().Status != StatusRunning {
		time.Sleep(time.Millisecond)
	}
	if _, err := ex.ChangeSet(nil); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("ChangeSet of a running execution: %v", err)
	}
	if err := ex.DiscardChanges(t.Context()); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("DiscardChanges of a running execution: %v", err)
	}
}
