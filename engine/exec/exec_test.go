package exec

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/enginetest"
	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher/launchertest"
)

// TestMain lets this test binary serve as the launcher of the commands its
// tests run (see launchertest.Init).
func TestMain(m *testing.M) {
	launchertest.Init()
	os.Exit(m.Run())
}

// run executes wf with the exec agent and waits for its last event.
func run(t *testing.T, wf *engine.Workflow) (*engine.Execution, []engine.Event) {
	t.Helper()
	rec := &enginetest.Recorder{}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), Sink: rec, Agents: engine.Agents{"exec": Agent()}})
	t.Cleanup(func() { r.Close(context.Background()) })
	ex, err := r.Execute(wf, engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-ex.Done()
	return ex, rec.Events()
}

// The exec agent: the environment it promises, the gap file, a JSON
// verdict, and bounded output.
func TestExecAgent(t *testing.T) {
	tk := &engine.Task{
		ID:     "x",
		Title:  "Exec",
		Worker: &engine.AgentSpec{Command: engine.Command{Shell: `echo "$MIMIR_TASK_ID $MIMIR_ATTEMPT/$MIMIR_MAX_ATTEMPTS $(basename "$PWD")" > env.txt; [ -n "$MIMIR_GAP_FILE" ] && cp "$MIMIR_GAP_FILE" gap.json; head -c 1000000 /dev/zero | tr '\0' x; echo; echo last-line`}},
		QC:     &engine.AgentSpec{Command: engine.Command{Argv: []string{"sh", "-c", `echo checking; if [ "$MIMIR_ATTEMPT" = 1 ]; then echo '{"score": 40, "feedback": "more", "issues": ["short"], "requiredFixes": ["longer"]}'; fi`}}},
	}
	ex, evs := run(t, &engine.Workflow{Name: "e", Tasks: []*engine.Task{tk}})
	if ex.Summary().Status != engine.StatusCompleted {
		t.Fatalf("status %s: %+v", ex.Summary().Status, evs[len(evs)-1].Data)
	}
	qc := evs[enginetest.Index(evs, engine.EventQCComplete, "x")]
	if *qc.Data.Passed || *qc.Data.Score != 40 || qc.Data.Gap.Feedback != "more" {
		t.Errorf("verdict below the threshold: %+v", qc.Data)
	}
	dir := filepath.Join(ex.StagingDir(), "x")
	env, _ := os.ReadFile(filepath.Join(dir, "env.txt"))
	if string(env) != "x 2/3 x\n" {
		t.Errorf("env.txt = %q", env)
	}
	var gap engine.Gap
	b, _ := os.ReadFile(filepath.Join(dir, "gap.json"))
	if err := json.Unmarshal(b, &gap); err != nil || gap.Feedback != "more" || gap.RequiredFixes[0] != "longer" {
		t.Errorf("gap file %s", b)
	}
}

func TestExecWorkerOutputBounded(t *testing.T) {
	w := worker{&engine.AgentSpec{Command: engine.Command{Shell: "head -c 1000000 /dev/zero | tr '\\0' x; echo; echo last-line; exit 1"}}}
	j := &engine.Job{Task: &engine.Task{ID: "o"}, Dir: t.TempDir()}
	res, err := w.Work(context.Background(), j)
	if err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("err %v", err)
	}
	if len(res.Output) > 64<<10+len("…") || !strings.HasSuffix(res.Output, "last-line\n") {
		t.Errorf("output kept: %d bytes, ending %q", len(res.Output), res.Output[max(0, len(res.Output)-20):])
	}
}

func TestExecQCWithoutVerdict(t *testing.T) {
	q := qc{spec: &engine.AgentSpec{Command: engine.Command{Shell: "echo missing README >&2; exit 1"}}, threshold: 80}
	v, err := q.Check(context.Background(), &engine.Job{Task: &engine.Task{ID: "q"}, Dir: t.TempDir()})
	if err != nil || v.Passed || v.Score != 0 || !strings.Contains(v.Gap.Feedback, "missing README") {
		t.Errorf("failing QC: %+v %v", v, err)
	}
	q = qc{spec: &engine.AgentSpec{Command: engine.Command{Shell: `echo '{"passed": true, "score": 150}'`}}, threshold: 80}
	if _, err := q.Check(context.Background(), &engine.Job{Task: &engine.Task{ID: "q"}, Dir: t.TempDir()}); err == nil {
		t.Error("a score of 150 was accepted")
	}
	q = qc{spec: &engine.AgentSpec{Command: engine.Command{Shell: "true"}}, threshold: 80}
	if v, err := q.Check(context.Background(), &engine.Job{Task: &engine.Task{ID: "q"}, Dir: t.TempDir()}); err != nil || !v.Passed || v.Score != 100 {
		t.Errorf("exit 0: %+v %v", v, err)
	}
}

// A QC command that exits 0 as its timeout strikes reports the timeout,
// not an empty failed verdict.
func TestExecQCSucceedingAtTheTimeout(t *testing.T) {
	// SIGTERM (what the timeout sends first) makes it exit 0 at once.
	q := qc{spec: &engine.AgentSpec{Command: engine.Command{Shell: `trap 'exit 0' TERM; sleep 30 & wait`}}, threshold: 80}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	v, err := q.Check(ctx, &engine.Job{Task: &engine.Task{ID: "q"}, Dir: t.TempDir()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("QC exiting 0 at its timeout: %+v, %v; want a timeout error", v, err)
	}
}
