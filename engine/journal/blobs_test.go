//go:build unix

package journal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

func sum(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// writes is an agent whose task a writes out.txt holding content(a), and
// task b holding content(b).
func writes(content func(task string) string) engine.Agents {
	return execAs(funcAgent{work: func(_ context.Context, j *engine.Job) (engine.WorkResult, error) {
		j.EnsureDir()
		return engine.WorkResult{}, os.WriteFile(filepath.Join(j.Dir, "out.txt"), []byte(content(j.Task.ID)), 0o644)
	}})
}

func same(task string) string { return "the same " + task + " every time\n" }

// blobRunner is a journaled runner in a fresh workspace.
func blobRunner(t *testing.T, agents engine.Agents) (r *engine.Runner, ws, state string) {
	t.Helper()
	ws = t.TempDir()
	state = filepath.Join(ws, ".mimir")
	r = engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: agents})
	t.Cleanup(func() { r.Close(context.Background()) })
	return r, ws, state
}

func runOnce(t *testing.T, r *engine.Runner) *engine.Execution {
	t.Helper()
	ex, err := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-ex.Done()
	if s := ex.Summary().Status; s != engine.StatusCompleted {
		t.Fatalf("execution %s", s)
	}
	return ex
}

func blobNames(t *testing.T, state string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(state, "blobs"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// stagedIsBlob checks that the staging file of ex's task holds want and
// is the blob of want's sum, one file.
func stagedIsBlob(t *testing.T, state string, ex *engine.Execution, task, want string) {
	t.Helper()
	p := filepath.Join(ex.StagingDir(), task, "out.txt")
	if b, err := os.ReadFile(p); err != nil || string(b) != want {
		t.Errorf("%s holds %q, %v; want %q", p, b, err, want)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	bst, err := os.Lstat(filepath.Join(state, "blobs", sum(want)))
	if err != nil {
		t.Errorf("no blob for %s: %v", p, err)
		return
	}
	if !os.SameFile(st, bst) {
		t.Errorf("%s is not its blob: a copy of the same bytes", p)
	}
}

// A re-run that makes the same files adds no blob: its staging files are
// the blobs the first run stored.
func TestRerunStoresDeliverablesOnce(t *testing.T) {
	r, _, state := blobRunner(t, writes(same))
	first := runOnce(t, r)
	want := []string{sum(same("a")), sum(same("b"))}
	slices.Sort(want)
	if got := blobNames(t, state); !slices.Equal(got, want) {
		t.Fatalf("blobs after one run %v, want %v", got, want)
	}
	for range 3 {
		ex := runOnce(t, r)
		stagedIsBlob(t, state, ex, "a", same("a"))
		stagedIsBlob(t, state, ex, "b", same("b"))
	}
	stagedIsBlob(t, state, first, "a", same("a"))
	if got := blobNames(t, state); !slices.Equal(got, want) {
		t.Errorf("blobs after four runs %v, want %v", got, want)
	}
}

// A blob a kept execution reports is kept, with that execution's file;
// once no kept execution reports it, it goes.
func TestPruneKeepsBlobsOfKeptExecutions(t *testing.T) {
	n := 0
	r, _, state := blobRunner(t, writes(func(task string) string {
		if task == "b" {
			n++
			return fmt.Sprintf("run %d\n", n) // b differs run to run
		}
		return same(task)
	}))
	old := runOnce(t, r)
	kept := runOnce(t, r)
	if removed, err := r.Prune(0, 1); err != nil || !slices.Equal(removed, []string{old.ID()}) {
		t.Fatalf("prune: %v, %v", removed, err)
	}
	want := []string{sum(same("a")), sum("run 2\n")}
	slices.Sort(want)
	if got := blobNames(t, state); !slices.Equal(got, want) {
		t.Errorf("blobs after pruning the older run %v, want the kept run's %v", got, want)
	}
	stagedIsBlob(t, state, kept, "a", same("a"))
	stagedIsBlob(t, state, kept, "b", "run 2\n")
	if removed, err := r.Prune(time.Nanosecond, 0); err != nil || len(removed) != 1 {
		t.Fatalf("prune: %v, %v", removed, err)
	}
	if got := blobNames(t, state); len(got) != 0 {
		t.Errorf("blobs after pruning every run: %v", got)
	}
}

// While an execution runs, its tasks' files may be blobs its events do
// not report yet: no blob is removed then, and those that no kept
// execution uses go once nothing runs.
func TestRunningExecutionKeepsBlobs(t *testing.T) {
	release := make(chan struct{})
	aDone := make(chan struct{}, 2)
	runs := 0
	r, _, state := blobRunner(t, execAs(funcAgent{work: func(ctx context.Context, j *engine.Job) (engine.WorkResult, error) {
		j.EnsureDir()
		content := same(j.Task.ID)
		if j.Task.ID == "b" {
			runs++
			if runs == 2 {
				aDone <- struct{}{}
				select { // the second run holds here, its task a complete
				case <-release:
				case <-ctx.Done():
				}
			}
			content = fmt.Sprintf("run %d\n", runs)
		}
		return engine.WorkResult{}, os.WriteFile(filepath.Join(j.Dir, "out.txt"), []byte(content), 0o644)
	}}))
	old := runOnce(t, r)
	running, err := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-aDone
	if removed, err := r.Prune(time.Nanosecond, 0); err != nil || !slices.Equal(removed, []string{old.ID()}) {
		t.Fatalf("prune: %v, %v", removed, err)
	}
	stagedIsBlob(t, state, running, "a", same("a"))
	if got := blobNames(t, state); !slices.Contains(got, sum("run 1\n")) {
		t.Errorf("a blob went while an execution ran: %v", got)
	}
	close(release)
	<-running.Done()
	// Nothing to prune, but the collection put off is due.
	if removed, err := r.Prune(time.Hour, 0); err != nil || len(removed) != 0 {
		t.Fatalf("prune: %v, %v", removed, err)
	}
	want := []string{sum(same("a")), sum("run 2\n")}
	slices.Sort(want)
	if got := blobNames(t, state); !slices.Equal(got, want) {
		t.Errorf("blobs once nothing runs %v, want the kept run's %v", got, want)
	}
}

// A blob that is a link or a named pipe is refused, never followed or
// opened, and one whose content is not what its name says is never made
// one with a deliverable: each task completes, with its own file.
func TestBlobsNotMadeByTheSidecarAreRefused(t *testing.T) {
	r, _, state := blobRunner(t, writes(same))
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte(same("a")), 0o644); err != nil {
		t.Fatal(err)
	}
	blobs := filepath.Join(state, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(blobs, sum(same("a")))); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(blobs, sum(same("b"))), 0o644); err != nil {
		t.Fatal(err)
	}
	ex := runOnce(t, r)
	for _, task := range []string{"a", "b"} {
		p := filepath.Join(ex.StagingDir(), task, "out.txt")
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() {
			t.Fatalf("%s: %v, %v", p, st, err)
		}
		if b, _ := os.ReadFile(p); string(b) != same(task) {
			t.Errorf("%s holds %q", p, b)
		}
		if o, _ := os.Stat(outside); os.SameFile(st, o) {
			t.Errorf("%s was made one with the file a blob link points to", p)
		}
	}
	if st, err := os.Lstat(filepath.Join(blobs, sum(same("a")))); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link in blobs: %v, %v", st, err)
	}
	if b, _ := os.ReadFile(outside); string(b) != same("a") {
		t.Errorf("the file outside changed: %q", b)
	}

	// Same size and name, other bytes: the deliverable keeps its own, and
	// takes the blob's place.
	forged := bytes.ToUpper([]byte(same("a")))
	name := filepath.Join(blobs, sum(same("a")))
	os.Remove(name)
	if err := os.WriteFile(name, forged, 0o644); err != nil {
		t.Fatal(err)
	}
	ex = runOnce(t, r)
	stagedIsBlob(t, state, ex, "a", same("a"))
}

// Saving a deliverable of an execution whose files are blobs copies the
// bytes the task made.
func TestSaveDeliverablesOfStoredExecution(t *testing.T) {
	r, wsDir, state := blobRunner(t, writes(same))
	runOnce(t, r)
	ex := runOnce(t, r)
	stagedIsBlob(t, state, ex, "a", same("a"))
	ws, err := workspace.Open(wsDir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ws.Save(t.Context(), ex.StagingDir(), []string{"a/out.txt", "b/out.txt"}, workspace.SaveOptions{Target: "saved"})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"a", "b"} {
		b, err := os.ReadFile(filepath.Join(wsDir, "saved", task, "out.txt"))
		if err != nil || string(b) != same(task) {
			t.Errorf("saved %s: %q, %v", task, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(state, "blobs", sum(same("a")))); string(b) != same("a") {
		t.Errorf("saving changed the blob: %q", b)
	}
}

// The retention says how many blobs, and bytes, it freed.
func TestRetentionReportsFreedBlobs(t *testing.T) {
	ws := t.TempDir()
	state := filepath.Join(ws, ".mimir")
	watch := &logWatch{message: "removed=1 blobs=1 bytes=6 ", seen: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(watch, nil))
	n := 0
	agents := writes(func(task string) string {
		if task == "b" {
			n++
			return fmt.Sprintf("run %d\n", n)
		}
		return same(task)
	})
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Logger: log, Agents: agents,
		Retention: &engine.PruneRule{Keep: 1, Both: true}})
	defer r.Close(context.Background())
	runOnce(t, r)
	runOnce(t, r)
	select {
	case <-watch.seen:
	case <-time.After(20 * time.Second):
		t.Fatalf("the retention did not report the blob it freed within 20s:\n%s", watch.text.String())
	}
	want := []string{sum(same("a")), sum("run 2\n")}
	slices.Sort(want)
	if got := blobNames(t, state); !slices.Equal(got, want) {
		t.Errorf("blobs after the retention %v, want the kept run's %v", got, want)
	}
}

// A blobs folder that is a link is refused, and the log says what to do:
// nothing is linked through it, the tasks complete with their own files,
// and a prune still prunes.
func TestBlobsFolderLinkIsRefused(t *testing.T) {
	ws := t.TempDir()
	state := filepath.Join(ws, ".mimir")
	watch := &logWatch{message: "remove " + filepath.Join(state, "blobs") + " and the sidecar recreates it", seen: make(chan struct{})}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state),
		Logger: slog.New(slog.NewTextHandler(watch, nil)), Agents: writes(same)})
	defer r.Close(context.Background())
	outside := t.TempDir()
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(state, "blobs")); err != nil {
		t.Fatal(err)
	}
	ex := runOnce(t, r)
	if b, err := os.ReadFile(filepath.Join(ex.StagingDir(), "a", "out.txt")); err != nil || string(b) != same("a") {
		t.Errorf("the deliverable: %q, %v", b, err)
	}
	runOnce(t, r)
	if removed, err := r.Prune(0, 1); err != nil || len(removed) != 1 {
		t.Errorf("prune: %v, %v", removed, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("files were put through the link: %v", ents)
	}
	select {
	case <-watch.seen: // logged before the task completed
	default:
		t.Errorf("the log does not say what to do about the link:\n%s", watch.text.String())
	}
}
