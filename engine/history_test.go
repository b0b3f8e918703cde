package engine

import (
	"context"
	"slices"
	"testing"
	"time"
)

// testAgents makes every task's worker and QC a.
func testAgents(a funcAgent) Agents {
	return Agents{"test": {
		Worker: func(*Task, *AgentSpec) (Worker, error) { return a, nil },
		QC:     func(*Task, *AgentSpec) (QC, error) { return a, nil },
	}}
}

func twoTasks() *Workflow {
	return &Workflow{Name: "two", Tasks: []*Task{task("a"), task("b", "a")}}
}

func TestPruneByAge(t *testing.T) {
	state, ws := t.TempDir(), t.TempDir()
	release := make(chan struct{})
	hold := funcAgent{work: func(ctx context.Context, j *Job) (WorkResult, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return WorkResult{}, nil
	}}
	r := NewRunner(t.Context(), Options{Workspace: ws, StateDir: state, Agents: testAgents(funcAgent{})})
	defer r.Close(context.Background())
	var done []*Execution
	for range 3 {
		ex, _ := r.Execute(twoTasks(), ExecOptions{})
		<-ex.Done()
		done = append(done, ex)
	}
	// Two of them finished long ago: set their end back, as a restart would
	// read it from their events.
	r.mu.Lock()
	for i, days := range []int{30, 8} {
		at := time.Now().Add(-time.Duration(days) * 24 * time.Hour)
		done[i].state.sum.StartedAt, done[i].state.sum.FinishedAt = at.Add(-time.Minute), &at
	}
	r.mu.Unlock()
	// A running execution is never pruned, however old.
	r.opts.Agents = testAgents(hold)
	running, _ := r.Execute(twoTasks(), ExecOptions{})
	r.mu.Lock()
	running.state.sum.StartedAt = time.Now().Add(-60 * 24 * time.Hour)
	r.mu.Unlock()

	removed, err := r.Prune(7*24*time.Hour, 0)
	if err != nil || !slices.Equal(removed, []string{done[1].ID(), done[0].ID()}) {
		t.Errorf("prune older than 7d: %v %v, want the two old ones, newest first", removed, err)
	}
	var listed []string
	for _, s := range r.List() {
		listed = append(listed, s.ExecutionID)
	}
	if !slices.Equal(listed, []string{running.ID(), done[2].ID()}) {
		t.Errorf("left after prune: %v", listed)
	}
	close(release)
	<-running.Done()
}

// Executions prepared and not started yet are listed first, in the order
// prepared, each once however small the pages.
func TestListPagesPreparedExecutions(t *testing.T) {
	r := NewRunner(t.Context(), Options{Workspace: t.TempDir(), StateDir: t.TempDir(), Agents: testAgents(funcAgent{})})
	defer r.Close(context.Background())
	done, _ := r.Execute(twoTasks(), ExecOptions{})
	<-done.Done()
	var want []string
	for range 3 {
		ex, err := r.Prepare(twoTasks(), ExecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{ex.ID()}, want...)
	}
	want = append(want, done.ID())
	var got []string
	var before uint64
	for range 10 {
		page, err := r.ListPage(t.Context(), before, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Executions {
			got = append(got, s.ExecutionID)
		}
		if page.Next == 0 {
			break
		}
		before = page.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged one at a time: %v, want %v", got, want)
	}
}
