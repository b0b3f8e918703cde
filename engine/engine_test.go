package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/proc"
)

// recorder is a Sink that keeps every event.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) Emit(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// funcAgent is an in-process agent whose behaviour a test scripts.
type funcAgent struct {
	work  func(ctx context.Context, j *Job) (WorkResult, error)
	check func(ctx context.Context, j *Job) (Verdict, error)
}

func (a funcAgent) Work(ctx context.Context, j *Job) (WorkResult, error) {
	if a.work == nil {
		return WorkResult{}, nil
	}
	return a.work(ctx, j)
}

func (a funcAgent) Check(ctx context.Context, j *Job) (Verdict, error) {
	if a.check == nil {
		return Verdict{Passed: true, Score: 100}, nil
	}
	return a.check(ctx, j)
}

// commandAgent runs its spec's command, as worker and as QC (which passes
// on exit 0): the least an agent does with commands, for the tests of what
// the engine does with them (process control, the sandbox, the
// environment). Package engine/exec has the real one.
func commandAgent() AgentKind {
	return AgentKind{
		Worker: func(_ *Task, spec *AgentSpec) (Worker, error) {
			return funcAgent{work: func(ctx context.Context, j *Job) (WorkResult, error) {
				out, err := RunCommand(ctx, j, spec.Command, spec.Env, PhaseWorker, nil)
				return WorkResult{Output: out}, err
			}}, nil
		},
		QC: func(_ *Task, spec *AgentSpec) (QC, error) {
			return funcAgent{check: func(ctx context.Context, j *Job) (Verdict, error) {
				out, err := RunCommand(ctx, j, spec.Command, spec.Env, PhaseQC, nil)
				if err != nil && ctx.Err() == nil {
					return Verdict{Gap: Gap{Feedback: err.Error() + "\n" + out, Issues: OutputIssues(out)}}, nil
				}
				return Verdict{Passed: err == nil, Score: 100}, err
			}}, nil
		},
	}
}

// run executes wf with every task's worker and QC being a, and waits.
func run(t *testing.T, wf *Workflow, a funcAgent, opts ...func(*Options)) (*Execution, []Event) {
	t.Helper()
	rec := &recorder{}
	o := Options{
		Workspace: t.TempDir(),
		Sink:      rec,
		Agents: Agents{
			"exec": commandAgent(),
			"test": {
				Worker: func(*Task, *AgentSpec) (Worker, error) { return a, nil },
				QC:     func(*Task, *AgentSpec) (QC, error) { return a, nil },
			},
		},
	}
	for _, f := range opts {
		f(&o)
	}
	r := NewRunner(t.Context(), o)
	ex, err := r.Execute(wf, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ex.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the execution did not finish within 30s")
	}
	return ex, rec.events()
}

// runFenced runs wf (fenced where the kernel can) in the workspace ws and returns the execution and its
// events.
func runFenced(t *testing.T, ws string, wf *Workflow, opts ...func(*Options)) (*Execution, []Event) {
	t.Helper()
	return run(t, wf, funcAgent{}, append([]func(*Options){func(o *Options) { o.Workspace = ws }}, opts...)...)
}

func shellTask(worker, qc string) *Task {
	tk := &Task{ID: "t", Worker: &AgentSpec{Command: Command{Shell: worker}}, MaxRetries: ptr(0)}
	if qc != "" {
		tk.QC = &AgentSpec{Command: Command{Shell: qc}}
	}
	return tk
}

func task(id string, deps ...string) *Task {
	return &Task{ID: id, Worker: &AgentSpec{Type: "test"}, QC: &AgentSpec{Type: "test"}, DependsOn: deps}
}

func names(evs []Event, taskID string) []string {
	var out []string
	for _, ev := range evs {
		if taskID == "" || ev.Data.TaskID == taskID {
			out = append(out, ev.Event)
		}
	}
	return out
}

func index(evs []Event, name, taskID string) int {
	return slices.IndexFunc(evs, func(ev Event) bool { return ev.Event == name && ev.Data.TaskID == taskID })
}

func TestDependencyOrderAndSeq(t *testing.T) {
	wf := &Workflow{Name: "dag", Parallelism: 4, Tasks: []*Task{task("d", "b", "c"), task("b", "a"), task("c", "a"), task("a")}}
	ex, evs := run(t, wf, funcAgent{})
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: seqs must be strictly increasing without gaps", i, ev.Seq)
		}
		if ev.ExecutionID != ex.ID() {
			t.Fatalf("event for %s", ev.ExecutionID)
		}
	}
	for _, edge := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}} {
		if index(evs, EventTaskComplete, edge[0]) > index(evs, EventTaskStart, edge[1]) {
			t.Errorf("%s started before %s completed", edge[1], edge[0])
		}
	}
	if evs[0].Event != EventExecutionStart || evs[len(evs)-1].Event != EventExecutionComplete {
		t.Errorf("first/last: %s/%s", evs[0].Event, evs[len(evs)-1].Event)
	}
	want := "task-start worker-start worker-complete qc-start qc-complete task-complete"
	if got := strings.Join(names(evs, "a"), " "); got != want {
		t.Errorf("a's events: %s", got)
	}
	info := ex.Info()
	if info.Status != StatusCompleted || info.CompletedTasks != 4 || info.FinishedAt == nil {
		t.Errorf("info %+v", info.Summary)
	}
}

// The bound is reached and never exceeded.
func TestParallelismBound(t *testing.T) {
	const n, limit = 12, 3
	var running, peak atomic.Int32
	var tasks []*Task
	for i := range n {
		tasks = append(tasks, task(fmt.Sprint("t", i)))
	}
	work := func(ctx context.Context, j *Job) (WorkResult, error) {
		now := running.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		// Hold the slot until the bound is reached or time passes, so
		// tasks overlap for certain.
		deadline := time.Now().Add(200 * time.Millisecond)
		for peak.Load() < limit && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		running.Add(-1)
		return WorkResult{}, nil
	}
	_, evs := run(t, &Workflow{Name: "wide", Parallelism: limit, Tasks: tasks}, funcAgent{work: work})
	if peak.Load() != limit {
		t.Errorf("peak concurrency %d, want exactly %d", peak.Load(), limit)
	}
	if got := len(names(evs, "")); got != 2+n*6 {
		t.Errorf("%d events", got)
	}
}

func TestFailedTaskSkipsDependents(t *testing.T) {
	wf := &Workflow{Name: "skip", Parallelism: 1, Tasks: []*Task{
		task("bad"), task("child", "bad"), task("grandchild", "child"), task("free"), task("mixed", "bad", "free"),
	}}
	zero := 0
	wf.Tasks[0].MaxRetries = &zero
	var ran sync.Map
	a := funcAgent{
		work: func(_ context.Context, j *Job) (WorkResult, error) {
			ran.Store(j.Task.ID, true)
			return WorkResult{}, nil
		},
		check: func(_ context.Context, j *Job) (Verdict, error) {
			if j.Task.ID == "bad" {
				return Verdict{Score: 10, Gap: Gap{Feedback: "no"}}, nil
			}
			return Verdict{Passed: true, Score: 90}, nil
		},
	}
	ex, evs := run(t, wf, a)
	for _, id := range []string{"child", "grandchild", "mixed"} {
		if _, ok := ran.Load(id); ok {
			t.Errorf("%s ran although a dependency failed", id)
		}
		if index(evs, EventTaskSkipped, id) < 0 {
			t.Errorf("%s was not reported skipped", id)
		}
	}
	if _, ok := ran.Load("free"); !ok {
		t.Error("an independent task did not run")
	}
	last := evs[len(evs)-1]
	if last.Data.Status != StatusFailed || *last.Data.FailedTasks != 1 || *last.Data.SkippedTasks != 3 || *last.Data.CompletedTasks != 1 {
		t.Errorf("execution-complete %+v", last.Data)
	}
	skip := evs[index(evs, EventTaskSkipped, "grandchild")]
	if skip.Data.FailedDependency != "child" || skip.Data.Message != "⏭️ Task skipped: grandchild (dependency child did not complete)" {
		t.Errorf("grandchild skipped: %+v", skip.Data)
	}
	if ex.Info().TaskList[2].Status != TaskSkipped {
		t.Errorf("state: %+v", ex.Info().TaskList[2])
	}
}

// The gap of attempt N's QC reaches attempt N+1, as Job.Gap, in its
// worker-start event, and out of attempts the task fails with the last gap.
func TestRetryHandsGapToWorker(t *testing.T) {
	var gaps []*Gap
	var mu sync.Mutex
	a := funcAgent{
		work: func(_ context.Context, j *Job) (WorkResult, error) {
			mu.Lock()
			gaps = append(gaps, j.Gap)
			mu.Unlock()
			return WorkResult{ToolCalls: 2}, nil
		},
		check: func(_ context.Context, j *Job) (Verdict, error) {
			return Verdict{Score: 30 + j.Attempt, Gap: Gap{Feedback: fmt.Sprint("fix ", j.Attempt), Issues: []string{"i"}, RequiredFixes: []string{"f"}}}, nil
		},
	}
	ex, evs := run(t, &Workflow{Name: "retry", Tasks: []*Task{task("a")}}, a)
	if len(gaps) != 3 || gaps[0] != nil || gaps[1].Feedback != "fix 1" || gaps[2].Feedback != "fix 2" {
		t.Fatalf("gaps handed to the worker: %+v", gaps)
	}
	var starts []Event
	for _, ev := range evs {
		if ev.Event == EventWorkerStart {
			starts = append(starts, ev)
		}
	}
	if starts[0].Data.Gap != nil || starts[1].Data.Gap.Feedback != "fix 1" {
		t.Errorf("worker-start gaps: %+v %+v", starts[0].Data.Gap, starts[1].Data.Gap)
	}
	qcs := []string{}
	for _, ev := range evs {
		if ev.Event == EventQCComplete {
			qcs = append(qcs, ev.Data.Message)
		}
	}
	want := []string{"❌ QC failed (Score: 31/100) - Retrying (1/2)", "❌ QC failed (Score: 32/100) - Retrying (2/2)", "❌ QC failed (Score: 33/100) - No retries left"}
	if !slices.Equal(qcs, want) {
		t.Errorf("qc messages %q", qcs)
	}
	fail := evs[index(evs, EventTaskFail, "a")]
	if fail.Data.Gap.Feedback != "fix 3" || fail.Data.Message != "❌ Task failed: a after 3 attempts" {
		t.Errorf("task-fail %+v", fail.Data)
	}
	if g := ex.Info().TaskList[0].Gap; g == nil || g.Feedback != "fix 3" {
		t.Errorf("state's last gap %+v", g)
	}
	wc := evs[index(evs, EventWorkerComplete, "a")]
	if *wc.Data.ToolCalls != 2 || !strings.HasSuffix(wc.Data.Message, ", 2 tool calls)") {
		t.Errorf("worker-complete %+v", wc.Data)
	}
}

func TestWorkerErrorIsAFailedAttempt(t *testing.T) {
	one := 1
	tk := task("a")
	tk.MaxRetries = &one
	calls := 0
	a := funcAgent{work: func(_ context.Context, j *Job) (WorkResult, error) {
		calls++
		if j.Attempt == 1 {
			return WorkResult{Output: "line1\nboom"}, errors.New("exit status 3")
		}
		if j.Gap == nil || !strings.Contains(j.Gap.Feedback, "exit status 3") || !slices.Contains(j.Gap.Issues, "boom") {
			return WorkResult{}, fmt.Errorf("attempt 2 got gap %+v", j.Gap)
		}
		return WorkResult{}, nil
	}}
	_, evs := run(t, &Workflow{Name: "w", Tasks: []*Task{tk}}, a)
	want := "task-start worker-start worker-complete worker-start worker-complete qc-start qc-complete task-complete"
	if got := strings.Join(names(evs, "a"), " "); got != want {
		t.Errorf("events %s", got)
	}
	wc := evs[index(evs, EventWorkerComplete, "a")]
	if *wc.Data.OK || wc.Data.Error != "exit status 3" || !strings.HasPrefix(wc.Data.Message, "❌ Worker failed (") {
		t.Errorf("failed worker-complete %+v", wc.Data)
	}
}

func TestTimeoutIsAFailedAttempt(t *testing.T) {
	zero := 0
	tk := task("slow")
	tk.MaxRetries = &zero
	tk.Timeout = Duration(50 * time.Millisecond)
	a := funcAgent{work: func(ctx context.Context, _ *Job) (WorkResult, error) {
		<-ctx.Done()
		return WorkResult{}, ctx.Err()
	}}
	_, evs := run(t, &Workflow{Name: "t", Tasks: []*Task{tk}}, a)
	fail := evs[index(evs, EventTaskFail, "slow")]
	if fail.Data.Gap == nil || !strings.Contains(fail.Data.Gap.Feedback, "timed out after 50ms") {
		t.Errorf("task-fail %+v", fail.Data)
	}
	if evs[len(evs)-1].Data.Status != StatusFailed {
		t.Errorf("last %+v", evs[len(evs)-1])
	}
}

// The runner's executions live under its caller's context: when that is
// done, they end as Close ends them, saying why.
func TestCallersContextCancelsExecutions(t *testing.T) {
	started := make(chan struct{})
	a := funcAgent{work: func(ctx context.Context, _ *Job) (WorkResult, error) {
		close(started)
		<-ctx.Done()
		return WorkResult{}, ctx.Err()
	}}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(t.Context())
	r := NewRunner(ctx, Options{Workspace: t.TempDir(), Sink: rec, Agents: Agents{"test": {
		Worker: func(*Task, *AgentSpec) (Worker, error) { return a, nil },
		QC:     func(*Task, *AgentSpec) (QC, error) { return a, nil },
	}}})
	t.Cleanup(func() { r.Close(context.Background()) })
	ex, err := r.Execute(&Workflow{Name: "c", Tasks: []*Task{task("a")}}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	<-ex.Done()
	evs := rec.events()
	if last := evs[len(evs)-1]; last.Event != EventExecutionCancelled || last.Data.Reason != ErrClosed.Error() {
		t.Errorf("last event %s %q, want %s %q", last.Event, last.Data.Reason, EventExecutionCancelled, ErrClosed.Error())
	}
}

func TestCancelMidTask(t *testing.T) {
	started := make(chan struct{})
	a := funcAgent{work: func(ctx context.Context, _ *Job) (WorkResult, error) {
		close(started)
		<-ctx.Done()
		return WorkResult{}, ctx.Err()
	}}
	rec := &recorder{}
	r := NewRunner(t.Context(), Options{Workspace: t.TempDir(), Sink: rec, Agents: Agents{"test": {
		Worker: func(*Task, *AgentSpec) (Worker, error) { return a, nil },
		QC:     func(*Task, *AgentSpec) (QC, error) { return a, nil },
	}}})
	ex, err := r.Execute(&Workflow{Name: "c", Tasks: []*Task{task("a"), task("b", "a")}}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	ex.Cancel("")
	select {
	case <-ex.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end the execution")
	}
	evs := rec.events()
	last := evs[len(evs)-1]
	if last.Event != EventExecutionCancelled || last.Data.Message != "⏹️ Execution cancelled: cancelled by the user" {
		t.Errorf("last event %s %q", last.Event, last.Data.Message)
	}
	if index(evs, EventTaskStart, "b") >= 0 {
		t.Error("a task started after cancel")
	}
	info := ex.Info()
	if info.Status != StatusCancelled || info.TaskList[0].Status != TaskCancelled || info.TaskList[1].Status != TaskCancelled {
		t.Errorf("state after cancel %+v", info)
	}
	ex.Cancel("again") // harmless
	if len(rec.events()) != len(evs) {
		t.Error("cancelling a finished execution emitted events")
	}
}

func TestDeliverables(t *testing.T) {
	tk := task("docs")
	tk.Deliverables = []string{"**/*.md"}
	a := funcAgent{work: func(_ context.Context, j *Job) (WorkResult, error) {
		if err := j.EnsureDir(); err != nil {
			return WorkResult{}, err
		}
		os.MkdirAll(filepath.Join(j.Dir, "a/b"), 0o755)
		os.WriteFile(filepath.Join(j.Dir, "a/b/deep.md"), []byte("deep"), 0o644)
		os.WriteFile(filepath.Join(j.Dir, "top.md"), []byte("top"), 0o644)
		os.WriteFile(filepath.Join(j.Dir, "notes.txt"), []byte("no"), 0o644)
		os.Symlink("/etc/passwd", filepath.Join(j.Dir, "link.md"))
		return WorkResult{}, nil
	}}
	ex, _ := run(t, &Workflow{Name: "d", Tasks: []*Task{tk}}, a)
	got := ex.Deliverables()
	paths := []string{}
	for _, d := range got {
		paths = append(paths, d.Path)
	}
	if !slices.Equal(paths, []string{"docs/a/b/deep.md", "docs/top.md"}) {
		t.Errorf("deliverables %v: want the .md files, prefixed with the task id, no symlink", paths)
	}
	if got[1].Size != 3 || got[1].SHA256 != sha("top") {
		t.Errorf("top.md %+v", got[1])
	}
}

func sha(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// Cancelling kills the command's whole process group, even a process that
// ignores SIGTERM and one started in the background.
func TestCancelKillsProcessGroup(t *testing.T) {
	ws := t.TempDir()
	tk := &Task{ID: "p", Worker: &AgentSpec{Command: Command{Shell: `trap '' TERM; sleep 300 & echo $! > "$MIMIR_WORKSPACE/child"; echo $$ > "$MIMIR_WORKSPACE/shell"; while :; do sleep 1; done`}}}
	rec := &recorder{}
	// The command leaves its pids in the workspace, which the sandbox lets
	// it write only when the user's configuration says so.
	r := NewRunner(t.Context(), Options{Workspace: ws, Sink: rec, Agents: Agents{"exec": commandAgent()}, Sandbox: SandboxSettings{Write: []string{ws}}})
	ex, err := r.Execute(&Workflow{Name: "k", Tasks: []*Task{tk}}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pids := waitForPids(t, ws, "shell", "child")
	start := time.Now()
	ex.Cancel("")
	<-ex.Done()
	if took := time.Since(start); took > time.Second+200*time.Millisecond {
		t.Errorf("cancel took %v", took)
	}
	// SIGKILL is delivered at once but a process takes a moment to die.
	gone := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for {
			if !proc.Running(pid) {
				break
			}
			if time.Now().After(gone) {
				t.Errorf("process %d survived the cancel", pid)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if evs := rec.events(); evs[len(evs)-1].Event != EventExecutionCancelled {
		t.Errorf("last event %s", evs[len(evs)-1].Event)
	}
}

// BenchmarkScheduler10kTasks measures the engine's own cost per task: a
// 10,000-task DAG of no-op in-process agents with QC, every event encoded
// as the sidecar does.
func BenchmarkScheduler10kTasks(b *testing.B) {
	const n = 10000
	wf := &Workflow{Name: "big"}
	for i := range n {
		tk := task(fmt.Sprint("t", i))
		if i >= 100 { // each depends on two tasks of earlier layers
			tk.DependsOn = []string{fmt.Sprint("t", i-100), fmt.Sprint("t", i-37)}
		}
		wf.Tasks = append(wf.Tasks, tk)
	}
	agents := Agents{"test": {
		Worker: func(*Task, *AgentSpec) (Worker, error) { return funcAgent{}, nil },
		QC:     func(*Task, *AgentSpec) (QC, error) { return funcAgent{}, nil },
	}}
	sink := SinkFunc(func(ev Event) { json.NewEncoder(io.Discard).Encode(ev) })
	ws := b.TempDir()
	runs := 0
	cpu0 := cpuTime(b)
	b.ReportAllocs()
	for b.Loop() {
		r := NewRunner(b.Context(), Options{Workspace: ws, Agents: agents, Sink: sink})
		ex, err := r.Execute(wf, ExecOptions{})
		if err != nil {
			b.Fatal(err)
		}
		<-ex.Done()
		runs++
	}
	// Per task, the figure issue 2 sets a target for (under 50 µs); on a
	// machine shared with other work the CPU time it took says more than
	// the wall clock.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(runs*n)/1000, "µs/task")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(runs*n)/1000, "cpu-µs/task")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	d, err := proc.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// A panicking agent fails its attempt with an error that names the task,
// and the sidecar lives on.
func TestAgentPanicFailsTheAttempt(t *testing.T) {
	one := 1
	tk := task("a")
	tk.MaxRetries = &one
	a := funcAgent{
		work: func(_ context.Context, j *Job) (WorkResult, error) {
			if j.Attempt == 1 {
				panic("worker boom")
			}
			return WorkResult{}, nil
		},
		check: func(_ context.Context, j *Job) (Verdict, error) {
			var none []Verdict
			return none[j.Attempt], nil // a runtime error, not a string
		},
	}
	ex, evs := run(t, &Workflow{Name: "p", Tasks: []*Task{tk}}, a)
	wc := evs[index(evs, EventWorkerComplete, "a")]
	if *wc.Data.OK || wc.Data.Error != "task a: the worker agent crashed: worker boom" {
		t.Errorf("worker-complete after a panic: %+v", wc.Data)
	}
	qc := evs[index(evs, EventQCComplete, "a")]
	if *qc.Data.Passed || qc.Data.Gap == nil || !strings.Contains(qc.Data.Gap.Feedback, "task a: the QC agent crashed: runtime error: index out of range [2] with length 0") {
		t.Errorf("qc-complete after a panic: %+v", qc.Data)
	}
	if s := ex.Summary().Status; s != StatusFailed {
		t.Errorf("status %s, want failed", s)
	}
}

// task-fail's reason quotes the last gap's feedback, cut when long.
func TestTaskFailReasonQuotesLongFeedback(t *testing.T) {
	zero := 0
	tk := task("a")
	tk.MaxRetries = &zero
	long := strings.Repeat("é", 300)
	_, evs := run(t, &Workflow{Name: "f", Tasks: []*Task{tk}}, funcAgent{check: func(context.Context, *Job) (Verdict, error) {
		return Verdict{Score: 5, Gap: Gap{Feedback: long}}, nil
	}})
	reason := evs[index(evs, EventTaskFail, "a")].Data.Error
	want := "QC failed on the last attempt: " + strings.Repeat("é", 199) + "…"
	if reason != want {
		t.Errorf("reason %q, want %q", reason, want)
	}
	if got := truncate("short", 200); got != "short" {
		t.Errorf("truncate of a short text: %q", got)
	}
}

// A cancel that lands after the last task but before the execution's last
// event is honoured: "cancelling" is always followed by
// execution-cancelled, and a cancel that comes too late reports the final
// status.
func TestLateCancelIsNeverLost(t *testing.T) {
	for i := range 50 {
		rec := &recorder{}
		answer := make(chan string, 1)
		var ex *Execution
		// The cancel is set off by b's task-complete and lands a little
		// later each run, so that the runs sweep the window between the
		// last task and the execution's last event (and some land after).
		sink := SinkFunc(func(ev Event) {
			rec.Emit(ev)
			if ev.Event == EventTaskComplete && ev.Data.TaskID == "b" {
				go func() {
					for range i * 20 {
						runtime.Gosched()
					}
					answer <- ex.Cancel("late")
				}()
			}
		})
		r := NewRunner(t.Context(), Options{Workspace: t.TempDir(), Sink: sink, Agents: Agents{"test": {
			Worker: func(*Task, *AgentSpec) (Worker, error) { return funcAgent{}, nil },
			QC:     func(*Task, *AgentSpec) (QC, error) { return funcAgent{}, nil },
		}}})
		var err error
		ex, err = r.Prepare(&Workflow{Name: "late", Tasks: []*Task{task("a"), task("b", "a")}}, ExecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ex.Start()
		<-ex.Done()
		got := <-answer
		evs := rec.events()
		last := evs[len(evs)-1]
		switch got {
		case StatusCancelling:
			if last.Event != EventExecutionCancelled {
				t.Fatalf("run %d: cancel answered %q but the execution ended with %s", i, got, last.Event)
			}
		case StatusCompleted:
			if last.Event != EventExecutionComplete {
				t.Fatalf("run %d: cancel answered %q but the execution ended with %s", i, got, last.Event)
			}
		default:
			t.Fatalf("run %d: cancel answered %q", i, got)
		}
	}
}

// The same, without chance: the cancel lands after the scheduler has seen
// its last task end.
func TestCancelAfterTheLastTask(t *testing.T) {
	rec := &recorder{}
	r := NewRunner(t.Context(), Options{Workspace: t.TempDir(), Sink: rec, Agents: Agents{"test": {
		Worker: func(*Task, *AgentSpec) (Worker, error) { return funcAgent{}, nil },
		QC:     func(*Task, *AgentSpec) (QC, error) { return funcAgent{}, nil },
	}}})
	ex, err := r.Prepare(&Workflow{Name: "late", Tasks: []*Task{task("a")}}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	ex.afterTasks = func() { got = ex.Cancel("just in time") }
	ex.Start()
	<-ex.Done()
	evs := rec.events()
	if last := evs[len(evs)-1]; got != StatusCancelling || last.Event != EventExecutionCancelled || last.Data.Reason != "just in time" {
		t.Errorf("cancel answered %q; the execution ended with %s %+v", got, last.Event, last.Data)
	}
}

func TestCancelFinishedReportsItsStatus(t *testing.T) {
	ex, evs := run(t, &Workflow{Name: "f", Tasks: []*Task{task("a")}}, funcAgent{})
	if got := ex.Cancel(""); got != StatusCompleted {
		t.Errorf("cancel of a completed execution answered %q", got)
	}
	if n := len(ex.r.opts.Sink.(*recorder).events()); n != len(evs) {
		t.Errorf("cancelling a finished execution emitted %d events", n-len(evs))
	}
}

// waitForPids reads the pids a test's command wrote into the named files
// under dir, waiting up to 10s for each.
func waitForPids(t *testing.T, dir string, files ...string) []int {
	t.Helper()
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for _, f := range files {
		for {
			var pid int
			b, _ := os.ReadFile(filepath.Join(dir, f))
			if _, err := fmt.Sscan(string(b), &pid); err == nil {
				pids = append(pids, pid)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s pid", f)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return pids
}
