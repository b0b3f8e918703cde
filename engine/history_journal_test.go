package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
)

const journaledWorkflow = `name: two
tasks:
  - {id: a, worker: {type: exec, command: "true"}}
  - {id: b, dependsOn: [a], worker: {type: exec, command: "true"}}
`

// journaledRunner runs on the journal in state with in-process agents.
func journaledRunner(t *testing.T, state string, work func(context.Context) error) (*engine.Runner, *journal.Journal) {
	t.Helper()
	j, _, err := journal.Open(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	agent := hookAgent{work: work}
	return engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), StateDir: state, Journal: j, Agents: engine.Agents{"exec": {
		Worker: func(*engine.Task, *engine.AgentSpec) (engine.Worker, error) { return agent, nil },
		QC:     func(*engine.Task, *engine.AgentSpec) (engine.QC, error) { return agent, nil },
	}}}), j
}

type hookAgent struct{ work func(context.Context) error }

func (a hookAgent) Work(ctx context.Context, _ *engine.Job) (engine.WorkResult, error) {
	if a.work == nil {
		return engine.WorkResult{}, nil
	}
	return engine.WorkResult{}, a.work(ctx)
}

func (hookAgent) Check(context.Context, *engine.Job) (engine.Verdict, error) {
	return engine.Verdict{Passed: true, Score: 100}, nil
}

func runOne(t *testing.T, r *engine.Runner) *engine.Execution {
	t.Helper()
	wf, err := engine.ParseWorkflow("wf.yaml", []byte(journaledWorkflow))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := r.Execute(wf, engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-ex.Done()
	return ex
}

// A journaled runner holds what runs and a few finished executions, not
// its history: after many executions, and after a restart, the same.
// Every one of them is still listed, a page at a time, and read back in
// full when asked for.
func TestHistoryIsNotHeldInMemory(t *testing.T) {
	state := t.TempDir()
	r, _ := journaledRunner(t, state, nil)
	const n = 3*engine.PastCacheSize + 5
	var ids []string
	for range n {
		ids = append(ids, runOne(t, r).ID())
	}
	if held := engine.Held(r); held > engine.PastCacheSize {
		t.Errorf("after %d executions the runner holds %d, more than its cache of %d", n, held, engine.PastCacheSize)
	}
	r.Close(context.Background())

	// Restarted with one cut off by a crash: only that one is read.
	release := make(chan struct{})
	r, j := journaledRunner(t, state, func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	wf, _ := engine.ParseWorkflow("wf.yaml", []byte(journaledWorkflow))
	cut, err := r.Execute(wf, engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.Flush()
	// The sidecar "dies": its journal goes without the execution's end.
	j.Close()
	close(release)
	<-cut.Done()
	r.Close(context.Background())

	r, _ = journaledRunner(t, state, nil)
	defer r.Close(context.Background())
	if held := engine.Held(r); held != 1 {
		t.Errorf("a restarted runner holds %d executions, want only the interrupted one", held)
	}
	if ex, ok := r.Get(cut.ID()); !ok || ex.Summary().Status != engine.StatusInterrupted {
		t.Fatalf("the execution cut off is not found interrupted: %v", ok)
	}
	var listed []string
	var before uint64
	for pages := 0; ; pages++ {
		page, err := r.ListPage(t.Context(), before, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Executions) > 10 {
			t.Fatalf("a page of 10 holds %d", len(page.Executions))
		}
		for _, s := range page.Executions {
			listed = append(listed, s.ExecutionID)
		}
		if page.Next == 0 {
			break
		}
		before = page.Next
	}
	want := append([]string{cut.ID()}, ids...)
	slices.Reverse(want[1:])
	if !slices.Equal(listed, want) {
		t.Errorf("paged through %d executions, want %d, newest first:\n got %v\nwant %v", len(listed), len(want), listed, want)
	}
	oldest, ok := r.Get(ids[0])
	if !ok {
		t.Fatal("the oldest execution cannot be read back")
	}
	if info := oldest.Info(); info.Status != engine.StatusCompleted || len(info.TaskList) != 2 || info.TaskList[1].Status != engine.TaskCompleted {
		t.Errorf("the oldest execution read back: %+v", info)
	}
	if held := engine.Held(r); held > engine.PastCacheSize {
		t.Errorf("holds %d after reading back", held)
	}
}
