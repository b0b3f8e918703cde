package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/enginetest"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
)

func openJournal(t testing.TB, dir string) *Journal {
	t.Helper()
	j, status, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status.Damaged != "" {
		t.Fatalf("a fresh journal was damaged: %v", status.Err)
	}
	return j
}

// parsedWorkflow gives a workflow with Source, as the journal needs to
// rebuild it; "test" agents keep it in-process.
func parsedWorkflow(t testing.TB, src string) *engine.Workflow {
	t.Helper()
	wf, err := engine.ParseWorkflow("wf.yaml", []byte(src))
	if err == nil {
		return wf
	}
	t.Fatal(err)
	return nil
}

const twoTasks = `name: two
tasks:
  - {id: a, worker: {type: exec, command: "true"}}
  - {id: b, dependsOn: [a], worker: {type: exec, command: "true"}}
`

// Use in-process agents for the exec type so the tests control them.
func execAs(a funcAgent) engine.Agents {
	return engine.Agents{"exec": {
		Worker: func(*engine.Task, *engine.AgentSpec) (engine.Worker, error) { return a, nil },
		QC:     func(*engine.Task, *engine.AgentSpec) (engine.QC, error) { return a, nil },
	}}
}

// The sink is handed an event only once it is on disk, with the bytes the
// journal wrote: listeners do not encode it again.
func TestSinkSeesOnlyCommittedEvents(t *testing.T) {
	state := t.TempDir()
	j := openJournal(t, state)
	var bad, n, reencode atomic.Int32
	sink := engine.SinkFunc(func(ev engine.Event) {
		n.Add(1)
		evs, err := j.Events(context.Background(), ev.Seq-1, "", 1)
		if err != nil || len(evs) != 1 {
			bad.Add(1)
		} else if !bytes.Equal(ev.Encoded, evs[0]) {
			reencode.Add(1)
		}
	})
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), StateDir: state, Sink: sink, Journal: j, Agents: execAs(funcAgent{})})
	ex, err := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-ex.Done()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.Load() == 0 || bad.Load() != 0 {
		t.Errorf("%d of %d events reached the sink before they were on disk", bad.Load(), n.Load())
	}
	if reencode.Load() != 0 {
		t.Errorf("%d of %d events reached the sink without the journal's encoding", reencode.Load(), n.Load())
	}
}

func TestHistoryAcrossRestart(t *testing.T) {
	state, ws := t.TempDir(), t.TempDir()
	rec := &enginetest.Recorder{}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Sink: rec, Journal: openJournal(t, state), Agents: execAs(funcAgent{
		work: func(_ context.Context, j *engine.Job) (engine.WorkResult, error) {
			j.EnsureDir()
			return engine.WorkResult{}, os.WriteFile(filepath.Join(j.Dir, "out.txt"), []byte(j.Task.ID), 0o644)
		},
	})})
	ex, _ := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	<-ex.Done()
	r.Close(context.Background())
	first := rec.Events()
	last := first[len(first)-1].Seq

	rec2 := &enginetest.Recorder{}
	r2 := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Sink: rec2, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	defer r2.Close(context.Background())
	list := r2.List()
	if len(list) != 1 || list[0].ExecutionID != ex.ID() || list[0].Status != engine.StatusCompleted || list[0].Deliverables != 2 {
		t.Fatalf("history after restart: %+v", list)
	}
	past, _ := r2.Get(ex.ID())
	if d := past.Deliverables(); len(d) != 2 || d[0].Path != "a/out.txt" {
		t.Errorf("past deliverables %+v", d)
	}
	if _, err := os.Stat(filepath.Join(past.StagingDir(), "a/out.txt")); err != nil {
		t.Errorf("the staging folder is not kept: %v", err)
	}
	ex2, _ := r2.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	<-ex2.Done()
	r2.Close(context.Background())
	if got := rec2.Events()[0].Seq; got != last+1 {
		t.Errorf("seq after restart starts at %d, want %d", got, last+1)
	}
	all, _ := openJournalEvents(t, state, 0, "")
	if len(all) != len(first)+len(rec2.Events()) {
		t.Errorf("journal holds %d events, want %d", len(all), len(first)+len(rec2.Events()))
	}
}

func openJournalEvents(t *testing.T, state string, since uint64, id string) ([]engine.Event, error) {
	t.Helper()
	j := openJournal(t, state)
	defer j.Close()
	raw, err := j.Events(context.Background(), since, id, 1<<20)
	var out []engine.Event
	for _, b := range raw {
		var ev engine.Event
		json.Unmarshal(b, &ev)
		out = append(out, ev)
	}
	return out, err
}

// A sidecar that stops mid-execution leaves it interrupted; a resume runs
// only what had not completed.
func TestInterruptedAndResume(t *testing.T) {
	state, ws := t.TempDir(), t.TempDir()
	release := make(chan struct{})
	var ranA atomic.Int32
	blockB := funcAgent{work: func(ctx context.Context, j *engine.Job) (engine.WorkResult, error) {
		if j.Task.ID == "a" {
			ranA.Add(1)
			return engine.WorkResult{}, nil
		}
		select {
		case <-release:
			return engine.WorkResult{}, nil
		case <-ctx.Done():
			return engine.WorkResult{}, ctx.Err()
		}
	}}
	rec := &enginetest.Recorder{}
	j := openJournal(t, state)
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Sink: rec, Journal: j, Agents: execAs(blockB)})
	ex, _ := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	deadline := time.Now().Add(10 * time.Second)
	for enginetest.Index(rec.Events(), engine.EventWorkerStart, "b") < 0 {
		if time.Now().After(deadline) {
			t.Fatal("b never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The sidecar "dies": its journal stops with the execution unfinished.
	j.Close()

	rec2 := &enginetest.Recorder{}
	r2 := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Sink: rec2, Journal: openJournal(t, state), Agents: execAs(blockB)})
	defer r2.Close(context.Background())
	got, _ := r2.Get(ex.ID())
	if s := got.Summary().Status; s != engine.StatusInterrupted {
		t.Fatalf("status after restart %s, want interrupted", s)
	}
	for wait := time.Now().Add(5 * time.Second); len(rec2.Events()) == 0 && time.Now().Before(wait); {
		time.Sleep(5 * time.Millisecond) // the event reaches the sink once committed
	}
	if evs := rec2.Events(); len(evs) != 1 || evs[0].Event != engine.EventExecutionInterrupted || evs[0].Data.Message != "⚠️ Execution interrupted: the sidecar stopped while it ran" {
		t.Fatalf("events on restart: %+v", evs)
	}
	close(release)
	resumed, err := r2.Resume(ex.ID())
	if err != nil {
		t.Fatal(err)
	}
	resumed.Start()
	<-resumed.Done()
	if s := resumed.Summary(); s.Status != engine.StatusCompleted || s.CompletedTasks != 2 {
		t.Errorf("after resume: %+v", s)
	}
	if ranA.Load() != 1 {
		t.Errorf("task a ran %d times; a completed task must not run again", ranA.Load())
	}
	r2.Flush() // the sink hears an event once it is committed
	evs := rec2.Events()
	start := evs[enginetest.Index(evs, engine.EventExecutionStart, "")]
	if !start.Data.Resumed || start.Data.Message != "🔁 Execution resumed: two (1 task to run)" {
		t.Errorf("resume's execution-start %+v", start.Data)
	}
	if _, err := r2.Resume(ex.ID()); err == nil || !strings.Contains(err.Error(), "only interrupted, failed or cancelled") {
		t.Errorf("resuming a completed execution: %v", err)
	}
	ex.Cancel("test over") // the first runner's goroutines
	r.Close(context.Background())
}

func TestPrune(t *testing.T) {
	state, ws := t.TempDir(), t.TempDir()
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	var ids []string
	for range 3 {
		ex, _ := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
		<-ex.Done()
		ids = append(ids, ex.ID())
	}
	removed, err := r.Prune(0, 1)
	if err != nil || len(removed) != 2 || removed[0] != ids[1] || removed[1] != ids[0] {
		t.Fatalf("prune keep 1: %v %v (ids %v)", removed, err, ids)
	}
	if len(r.List()) != 1 {
		t.Errorf("listed after prune: %v", r.List())
	}
	if _, err := os.Stat(filepath.Join(state, "executions", ids[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pruned files remain: %v", err)
	}
	r.Close(context.Background())
	if evs, _ := openJournalEvents(t, state, 0, ids[0]); len(evs) != 0 {
		t.Errorf("pruned events remain: %d", len(evs))
	}
	r2 := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	defer r2.Close(context.Background())
	if l := r2.List(); len(l) != 1 || l[0].ExecutionID != ids[2] {
		t.Errorf("history after prune and restart: %+v", l)
	}
}

func TestDamagedJournalIsKeptAside(t *testing.T) {
	for _, damage := range []string{"garbage", "truncated"} {
		t.Run(damage, func(t *testing.T) {
			state := t.TempDir()
			r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
			ex, _ := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
			<-ex.Done()
			r.Close(context.Background())
			db := filepath.Join(state, "journal.db")
			switch damage {
			case "garbage":
				os.WriteFile(db, []byte(strings.Repeat("not a database ", 1000)), 0o644)
			case "truncated":
				st, _ := os.Stat(db)
				os.Truncate(db, st.Size()/2)
				os.Remove(db + "-wal")
			}
			j, status, err := Open(state, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if status.Damaged == "" || status.Err == nil {
				t.Fatalf("damage not reported: %+v", status)
			}
			if _, err := os.Stat(status.Damaged); err != nil {
				t.Errorf("no copy of the damaged file: %v", err)
			}
			if last, err := j.LastSeq(); err != nil || last != 0 {
				t.Errorf("the fresh journal: %d %v", last, err)
			}
		})
	}
}

func TestSecondSidecarIsTold(t *testing.T) {
	state := t.TempDir()
	j := openJournal(t, state)
	defer j.Close()
	_, _, err := Open(state, nil)
	if !errors.Is(err, ErrJournalBusy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second open: %v", err)
	}
}

// BenchmarkJournal compares the engine's cost per task with and without
// the journal, on a 2,000-task DAG of in-process agents, every event
// encoded as the sidecar does.
func BenchmarkJournal(b *testing.B) {
	const n = 2000
	var src strings.Builder
	src.WriteString("name: big\ntasks:\n")
	for i := range n {
		fmt.Fprintf(&src, "  - {id: t%d, worker: {command: x}, qc: {command: x}", i)
		if i >= 10 {
			fmt.Fprintf(&src, ", dependsOn: [t%d]", i-10)
		}
		src.WriteString("}\n")
	}
	sink := engine.SinkFunc(func(ev engine.Event) { json.NewEncoder(io.Discard).Encode(ev) })
	journalOverhead(b, parsedWorkflow(b, src.String()), execAs(funcAgent{}), sink)
}

// BenchmarkJournalRealTasks is the same comparison with tasks that run a
// command (the exec agent running "true"), as real workflows do.
func BenchmarkJournalRealTasks(b *testing.B) {
	const n = 100
	var src strings.Builder
	src.WriteString("name: real\nparallelism: 2\ntasks:\n")
	for i := range n {
		fmt.Fprintf(&src, "  - {id: t%d, worker: {command: \"true\"}, qc: {command: \"true\"}}\n", i)
	}
	journalOverhead(b, parsedWorkflow(b, src.String()), engine.Agents{"exec": exec.Agent()}, engine.SinkFunc(func(engine.Event) {}))
}

// journalOverhead times only executions: the runners (and the journal) are
// made before the clock starts and closed after it stops. Each iteration
// runs wf once without the journal and once with it, alternating which goes
// first, so both see the same machine; the journaled run counts until its
// last event is committed, not merely queued. It reports each one's cost
// per task, their ratio (the journal's overhead: 1.10 is 10% more) and the
// events journaled per second of the journaled runs.
func journalOverhead(b *testing.B, wf *engine.Workflow, agents engine.Agents, sink engine.Sink) {
	b.Helper()
	state := b.TempDir()
	var committed atomic.Int64
	j := openJournal(b, state)
	on := engine.NewRunner(b.Context(), engine.Options{Workspace: state, StateDir: state, Agents: agents, Journal: j, Sink: engine.SinkFunc(func(ev engine.Event) {
		committed.Add(1)
		sink.Emit(ev)
	})})
	ws := b.TempDir()
	off := engine.NewRunner(b.Context(), engine.Options{Workspace: ws, StateDir: ws, Agents: agents, Sink: sink})
	once := func(r *engine.Runner) time.Duration {
		start := time.Now()
		ex, err := r.Execute(wf, engine.ExecOptions{})
		if err != nil {
			b.Fatal(err)
		}
		<-ex.Done()
		if r == on {
			if err := j.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var offTime, onTime time.Duration
	runs := 0
	for b.Loop() {
		if runs%2 == 0 {
			offTime += once(off)
			onTime += once(on)
		} else {
			onTime += once(on)
			offTime += once(off)
		}
		runs++
	}
	b.StopTimer()
	off.Close(context.Background())
	on.Close(context.Background())
	tasks := float64(runs * len(wf.Tasks))
	b.ReportMetric(float64(offTime.Nanoseconds())/tasks/1000, "µs/task-off")
	b.ReportMetric(float64(onTime.Nanoseconds())/tasks/1000, "µs/task-on")
	b.ReportMetric(float64(onTime)/float64(offTime), "on/off")
	b.ReportMetric(float64(committed.Load())/onTime.Seconds(), "events/s")
}

// BenchmarkJournalAppend is the journal alone: events per second from
// append until committed, in the writer's batches.
func BenchmarkJournalAppend(b *testing.B) {
	const batch = 1000
	j := openJournal(b, b.TempDir())
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	defer j.Close()
	ev := engine.Event{ExecutionID: "ex_bench", Event: engine.EventQCComplete, Time: time.Now(), Data: engine.EventData{
		TaskID: "t1", TaskTitle: "A task", Phase: engine.PhaseQC, Attempt: 1, MaxAttempts: 3, Passed: ptr(true), Score: ptr(90),
		Message: "✅ QC passed (Score: 90/100)",
	}}
	seq := uint64(0)
	for b.Loop() {
		for range batch {
			seq++
			ev.Seq = seq
			if err := appendEvent(j, ev, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := j.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "events/s")
}

// seq never goes back, even when every event has been pruned and the
// sidecar restarted.
func TestSeqSurvivesPruningEverything(t *testing.T) {
	state, ws := t.TempDir(), t.TempDir()
	rec := &enginetest.Recorder{}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Sink: rec, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	for range 2 {
		ex, _ := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
		<-ex.Done()
	}
	last := r.Seq()
	if removed, err := r.Prune(time.Nanosecond, 0); err != nil || len(removed) != 2 {
		t.Fatalf("prune all: %v %v", removed, err)
	}
	r.Close(context.Background())

	j := openJournal(t, state)
	if got, err := j.LastSeq(); err != nil || got != last {
		t.Errorf("LastSeq after pruning everything: %d %v, want %d", got, err, last)
	}
	rec2 := &enginetest.Recorder{}
	r2 := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Sink: rec2, Journal: j, Agents: execAs(funcAgent{})})
	ex, _ := r2.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	<-ex.Done()
	r2.Close(context.Background())
	if evs := rec2.Events(); len(evs) == 0 || evs[0].Seq != last+1 {
		t.Errorf("first seq after prune and restart: %v, want %d", evs, last+1)
	}
}

// A prune that races a shutdown returns, and leaves every execution whole:
// one it reports pruned without an error is gone from the journal and the
// disk; after an error, an execution still in the journal still has its
// files; the one it keeps is untouched.
func TestPruneDuringClose(t *testing.T) {
	for range 20 {
		state, ws := t.TempDir(), t.TempDir()
		r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
		var ids []string
		for range 3 {
			ex, _ := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
			<-ex.Done()
			ids = append(ids, ex.ID())
		}
		var (
			wg      sync.WaitGroup
			removed []string
			err     error
		)
		wg.Go(func() { removed, err = r.Prune(0, 1) })
		wg.Go(func() { r.Close(context.Background()) })
		wg.Wait()

		want := []string{ids[1], ids[0]}
		if (err == nil && !slices.Equal(removed, want)) || slices.ContainsFunc(removed, func(id string) bool { return !slices.Contains(want, id) }) {
			t.Fatalf("Prune reported %v pruned (err %v), want %v", removed, err, want)
		}
		for _, id := range ids {
			events, jerr := openJournalEvents(t, state, 0, id)
			if jerr != nil {
				t.Fatalf("read the journal after close: %v", jerr)
			}
			_, serr := os.Stat(filepath.Join(state, "executions", id))
			journaled, onDisk := len(events) > 0, serr == nil
			switch {
			case !slices.Contains(removed, id):
				if !journaled || !onDisk {
					t.Fatalf("kept %s: journaled %v, files %v", id, journaled, onDisk)
				}
			case err == nil:
				if journaled || onDisk {
					t.Fatalf("pruned %s without error, yet journaled %v, files %v", id, journaled, onDisk)
				}
			case journaled && !onDisk:
				t.Fatalf("prune failed (%v) and left %s in the journal without its files", err, id)
			}
		}
	}
}

// A closed journal refuses work instead of panicking.
func TestJournalAfterClose(t *testing.T) {
	j := openJournal(t, t.TempDir())
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// Close committed everything: a flush has nothing to wait for.
	if err := j.Flush(); err != nil {
		t.Errorf("flush after close: %v", err)
	}
	if err := appendEvent(j, engine.Event{Seq: 1}, nil); !errors.Is(err, ErrJournalClosed) {
		t.Errorf("append after close: %v", err)
	}
}

// History lists in the order executions began, whatever their start times
// look like as text, and a resume does not move an execution.
func TestHistoryOrder(t *testing.T) {
	state, ws := t.TempDir(), t.TempDir()
	j := openJournal(t, state)
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	// RFC 3339 drops trailing zeros: ".1Z" sorts after ".12Z" as text,
	// though it is earlier.
	base := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	src := []byte(twoTasks)
	seq := uint64(0)
	for _, ex := range []struct {
		id string
		at time.Duration
	}{{"ex_0000000000000000000000000A", 100 * time.Millisecond}, {"ex_0000000000000000000000000B", 120 * time.Millisecond}} {
		at := base.Add(ex.at)
		for _, name := range []string{engine.EventExecutionStart, engine.EventExecutionComplete} {
			seq++
			var rec *engine.Record
			data := engine.EventData{Message: "m"}
			if name == engine.EventExecutionStart {
				rec = &engine.Record{ID: ex.id, Workflow: "two", Path: "wf.yaml", Source: src}
			} else {
				data.Status = engine.StatusFailed
			}
			if err := appendEvent(j, engine.Event{Seq: seq, ExecutionID: ex.id, Event: name, Time: at, Data: data}, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	j.Close()
	ids := func(r *engine.Runner) []string {
		var out []string
		for _, s := range r.List() {
			out = append(out, s.ExecutionID)
		}
		return out
	}
	want := []string{"ex_0000000000000000000000000B", "ex_0000000000000000000000000A"}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	if got := ids(r); !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v (newest first)", got, want)
	}
	older, _ := r.Get("ex_0000000000000000000000000A")
	startedAt := older.Summary().StartedAt
	ex, err := r.Resume("ex_0000000000000000000000000A")
	if err != nil {
		t.Fatal(err)
	}
	ex.Start()
	<-ex.Done()
	r.Close(context.Background())

	r2 := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	defer r2.Close(context.Background())
	if got := ids(r2); !slices.Equal(got, want) {
		t.Errorf("after resuming the older one and a restart: %v, want %v", got, want)
	}
	again, _ := r2.Get("ex_0000000000000000000000000A")
	if s := again.Summary(); !s.StartedAt.Equal(startedAt) || s.Status != engine.StatusCompleted {
		t.Errorf("after resume: started %v (want %v), status %s", s.StartedAt, startedAt, s.Status)
	}
}

// failedOnce runs twoTasks in a journaled runner so that b fails, and
// returns the state folder, the workspace and the execution's id.
func failedOnce(t *testing.T) (state, ws, id string) {
	t.Helper()
	state, ws = t.TempDir(), t.TempDir()
	zero := funcAgent{work: func(_ context.Context, j *engine.Job) (engine.WorkResult, error) {
		if j.Task.ID == "b" {
			return engine.WorkResult{}, errors.New("no")
		}
		return engine.WorkResult{}, nil
	}}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(zero)})
	ex, err := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-ex.Done()
	if st := ex.Summary().Status; st != engine.StatusFailed {
		t.Fatalf("setup: status %s, want failed", st)
	}
	r.Close(context.Background())
	return state, ws, ex.ID()
}

// A resume claims the execution at once: a second resume is refused, and a
// cancel sent before the resumed run even starts takes effect.
func TestResumeClaimsTheExecution(t *testing.T) {
	state, ws, id := failedOnce(t)
	rec := &enginetest.Recorder{}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Sink: rec, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	defer r.Close(context.Background())

	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []*engine.Execution
	var errs []error
	for range 2 {
		wg.Go(func() {
			ex, err := r.Resume(id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else {
				got = append(got, ex)
			}
		})
	}
	wg.Wait()
	if len(got) != 1 || len(errs) != 1 {
		t.Fatalf("two concurrent resumes: %d succeeded (errors %v); want exactly one", len(got), errs)
	}
	if msg := errs[0].Error(); !strings.Contains(msg, id) || !(strings.Contains(msg, "already running") || strings.Contains(msg, "resumed already")) {
		t.Errorf("the refused resume says %q", msg)
	}
	ex := got[0]
	if s := ex.Summary().Status; s != engine.StatusRunning {
		t.Errorf("status right after resume %s, want running", s)
	}
	if _, err := r.Resume(id); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a third resume: %v", err)
	}
	if st := ex.Cancel("changed my mind"); st != engine.StatusCancelling {
		t.Fatalf("cancel right after resume answered %q, want %q", st, engine.StatusCancelling)
	}
	select {
	case <-ex.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled resume never ended")
	}
	if s := ex.Summary().Status; s != engine.StatusCancelled {
		t.Errorf("status after cancel %s, want cancelled", s)
	}
	r.Flush()
	evs := rec.Events()
	if last := evs[len(evs)-1]; last.Event != engine.EventExecutionCancelled || last.Data.Reason != "changed my mind" {
		t.Errorf("last event %s %+v", last.Event, last.Data)
	}
}

// An execution whose workflow no longer parses is still listed and can be
// pruned; an event that cannot be decoded costs only itself.
func TestUnreadableHistory(t *testing.T) {
	state, ws := t.TempDir(), t.TempDir()
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	var ids []string
	for range 3 {
		ex, _ := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
		<-ex.Done()
		ids = append(ids, ex.ID())
	}
	r.Close(context.Background())

	j := openJournal(t, state)
	if _, err := j.db.Exec("UPDATE executions SET source = ? WHERE id = ?", "tasks: [unclosed", ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := j.db.Exec("UPDATE events SET envelope = ? WHERE seq = (SELECT MIN(seq) FROM events WHERE execution_id = ? AND name = ?)", "{not json", ids[1], engine.EventTaskStart); err != nil {
		t.Fatal(err)
	}
	r2 := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: j, Agents: execAs(funcAgent{})})
	defer r2.Close(context.Background())
	list := r2.List()
	if len(list) != 3 {
		t.Fatalf("listed %d executions, want 3: %+v", len(list), list)
	}
	broken := list[2]
	if broken.ExecutionID != ids[0] || broken.Workflow != "two" || broken.Status != engine.StatusCompleted || broken.Deliverables != 0 || broken.CompletedTasks != 2 {
		t.Errorf("the execution whose workflow no longer parses: %+v", broken)
	}
	if ex, _ := r2.Get(ids[0]); len(ex.Info().TaskList) != 2 {
		t.Errorf("its tasks, from its events: %+v", ex.Info().TaskList)
	}
	if _, err := r2.Resume(ids[0]); err == nil || !strings.Contains(err.Error(), "can no longer be read") {
		t.Errorf("resuming it: %v", err)
	}
	if s := list[1]; s.ExecutionID != ids[1] || s.Status != engine.StatusCompleted {
		t.Errorf("the execution with an unreadable event: %+v", s)
	}
	removed, err := r2.Prune(0, 2)
	if err != nil || !slices.Equal(removed, []string{ids[0]}) {
		t.Errorf("prune keep 2: %v %v, want the broken one", removed, err)
	}
}

// Flush returns once every event emitted so far has reached the sink.
func TestRunnerFlush(t *testing.T) {
	state := t.TempDir()
	rec := &enginetest.Recorder{}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), StateDir: state, Sink: rec, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	ex, _ := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	<-ex.Done()
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if evs := rec.Events(); len(evs) == 0 || evs[len(evs)-1].Seq != r.Seq() {
		t.Errorf("after Flush the sink has %d events, the last not %d", len(evs), r.Seq())
	}
	r.Close(context.Background())
	if err := r.Flush(); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
}

// Between pages through the gap a listener fell into, in order, and stops
// before the event it resumes at.
func TestJournalBetween(t *testing.T) {
	j := openJournal(t, t.TempDir())
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	defer j.Close()
	for seq := uint64(1); seq <= 2500; seq++ {
		if err := appendEvent(j, engine.Event{Seq: seq, ExecutionID: "ex_01JD0000000000000000000001", Event: engine.EventTaskStart}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	last, err := j.Between(context.Background(), 100, 2300, func(e Stored) error {
		got = append(got, e.Seq)
		return nil
	})
	if err != nil || last != 2299 || len(got) != 2199 || got[0] != 101 || !slices.IsSorted(got) {
		t.Errorf("Between(100, 2300): last %d, %d events from %v, err %v", last, len(got), got[:1], err)
	}
}

func ptr[T any](v T) *T { return &v }
