package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Execution is one run of a workflow.
type Execution struct {
	r           *Runner
	id          string
	wf          *Workflow
	dir         string
	parallelism int
	workers     map[string]Worker
	qcs         map[string]QC
	sandbox     *sandboxPlan
	iso         isolation

	ctx    context.Context
	cancel context.CancelCauseFunc
	start  sync.Once
	done   chan struct{}

	// state is guarded by r.mu: it changes only as events are emitted (and
	// when Resume claims it).
	state *state
	// resumed executions keep the tasks that completed before.
	resumed bool
	// finished is set, under r.mu, together with the execution's last
	// event, so that Cancel and the end of the run agree on which it is.
	finished bool
	// broken, for an execution from the journal, is why its workflow can no
	// longer be rebuilt: it is listed and can be pruned, not resumed.
	broken error
	// afterTasks, when set (by tests), is called once the scheduler has
	// seen its last task end, before the execution's last event.
	afterTasks func()
}

// StatusCancelling is what Cancel reports when it took effect.
const StatusCancelling = "cancelling"

// ID is the execution's id ("ex_…").
func (ex *Execution) ID() string { return ex.id }

// Workflow is what it runs.
func (ex *Execution) Workflow() *Workflow { return ex.wf }

// StagingDir holds one folder per task; deliverable paths are relative to it.
func (ex *Execution) StagingDir() string { return filepath.Join(ex.dir, "staging") }

// Done is closed after the execution's last event.
func (ex *Execution) Done() <-chan struct{} { return ex.done }

// Start runs the execution in the background. Only the first call counts.
func (ex *Execution) Start() {
	ex.start.Do(func() {
		ex.r.wg.Add(1)
		go func() {
			defer ex.r.wg.Done()
			defer close(ex.done)
			ex.run()
		}()
	})
}

// errCancelled is the cause recorded when no reason is given.
var errCancelled = errors.New("cancelled by the user")

// Cancel stops the execution: running agents are stopped (commands get
// SIGTERM, then everything they started is killed; see internal/launcher)
// and the execution
// ends with execution-cancelled. It returns StatusCancelling when it took
// effect, which guarantees that execution-cancelled follows; an execution
// that had already finished is left alone and its final status returned.
// It does not wait; see Done.
func (ex *Execution) Cancel(reason string) string {
	cause := errCancelled
	if reason != "" {
		cause = errors.New(reason)
	}
	// Decided under the lock the final event is emitted under: a cancel
	// either lands before the run's last decision (and is honoured) or
	// after its last event (and is told so), never in between.
	ex.r.mu.Lock()
	if ex.finished {
		st := ex.state.sum.Status
		ex.r.mu.Unlock()
		return st
	}
	ex.cancel(cause)
	ex.r.mu.Unlock()
	// An execution that was prepared but never started still has to end
	// with its events.
	ex.Start()
	return StatusCancelling
}

// Info is a snapshot of the execution's state.
func (ex *Execution) Info() Info {
	ex.r.mu.Lock()
	defer ex.r.mu.Unlock()
	return ex.state.info()
}

// Summary is a snapshot of the execution's headline state.
func (ex *Execution) Summary() Summary {
	ex.r.mu.Lock()
	defer ex.r.mu.Unlock()
	return ex.state.summary()
}

// Deliverables lists what the execution's finished tasks produced so far.
func (ex *Execution) Deliverables() []Deliverable {
	ex.r.mu.Lock()
	defer ex.r.mu.Unlock()
	return ex.state.deliverables()
}

type taskOutcome int

const (
	outcomeCompleted taskOutcome = iota
	outcomeFailed
	outcomeCancelled
)

type taskResult struct {
	task    *Task
	outcome taskOutcome
}

// run schedules the task DAG: a task starts once every task it depends on
// has completed, at most parallelism at a time. Tasks ready at the start go
// in workflow order; after that, a task joins the queue when its last
// dependency completes, so the order follows completions, not the file. A
// failed task's dependents are skipped, transitively.
func (ex *Execution) run() {
	began := time.Now()
	tasks := ex.wf.Tasks
	done := map[string]bool{} // completed before a resume
	if ex.resumed {
		for _, t := range ex.Info().TaskList {
			done[t.ID] = t.Status == TaskCompleted
		}
	}
	start := EventData{
		Workflow:     ex.wf.Name,
		WorkflowPath: ex.wf.Path,
		Tasks:        ptr(len(tasks)),
		Parallelism:  ex.parallelism,
		Message:      msgExecutionStart(ex.wf.Name, len(tasks)),
	}
	if ex.resumed {
		remaining := 0
		staging, err := statedir.Open(ex.StagingDir())
		for _, t := range tasks {
			if !done[t.ID] {
				remaining++
				// A rerun starts from a clean folder, not a half-written
				// one (a link there is removed, never followed).
				if err == nil {
					_ = staging.RemoveAll(t.ID)
				}
			}
		}
		if err == nil {
			staging.Close()
		}
		start.Resumed, start.Message = true, msgExecutionResumed(ex.wf.Name, remaining)
	}
	ex.r.emit(ex, EventExecutionStart, start)
	for _, w := range ex.sandbox.warnings {
		ex.r.emit(ex, EventExecutionWarning, w)
	}

	waiting := make(map[string]int, len(tasks))        // unfinished dependencies
	dependents := make(map[string][]*Task, len(tasks)) // reverse edges
	for _, t := range tasks {
		waiting[t.ID] = len(t.DependsOn)
		for _, d := range t.DependsOn {
			dependents[d] = append(dependents[d], t)
		}
	}
	running, finished := 0, 0
	var completed, failed, skipped int
	for _, t := range tasks {
		if done[t.ID] {
			finished++
			completed++
			for _, dep := range dependents[t.ID] {
				waiting[dep.ID]--
			}
		}
	}
	ready := make([]*Task, 0, len(tasks))
	for _, t := range tasks {
		if waiting[t.ID] == 0 && !done[t.ID] {
			ready = append(ready, t)
		}
	}

	results := make(chan taskResult, ex.parallelism)
	for finished < len(tasks) {
		for running < ex.parallelism && len(ready) > 0 && ex.ctx.Err() == nil {
			t := ready[0]
			ready = ready[1:]
			running++
			go ex.runTaskSafely(t, results)
		}
		if running == 0 {
			break // cancelled before the rest could start
		}
		res := <-results
		running--
		finished++
		switch res.outcome {
		case outcomeCompleted:
			completed++
			for _, dep := range dependents[res.task.ID] {
				if waiting[dep.ID]--; waiting[dep.ID] == 0 {
					ready = append(ready, dep)
				}
			}
		case outcomeFailed:
			failed++
			n := ex.skipDependents(res.task, dependents, waiting)
			skipped += n
			finished += n
		}
	}

	if ex.afterTasks != nil {
		ex.afterTasks()
	}
	ex.finish(began, len(tasks), completed, failed, skipped)
}

// finish emits the execution's last event. Whether it was cancelled is
// decided under the lock Cancel takes, so a cancel that was answered
// "cancelling" always ends in execution-cancelled, even one that came after
// the last task.
func (ex *Execution) finish(began time.Time, tasks, completed, failed, skipped int) {
	r := ex.r
	r.mu.Lock()
	defer func() {
		r.mu.Unlock()
		// The execution is over: its context goes with it.
		ex.cancel(nil)
	}()
	ex.finished = true
	elapsed := ptr(time.Since(began).Milliseconds())
	deliverables := ex.state.deliverables()
	if cause := context.Cause(ex.ctx); cause != nil && ex.ctx.Err() != nil {
		r.emitLocked(ex, EventExecutionCancelled, EventData{
			Reason:       cause.Error(),
			DurationMs:   elapsed,
			Deliverables: deliverables,
			Message:      msgExecutionCancelled(cause.Error()),
		})
		return
	}
	status, msg := StatusCompleted, msgExecutionComplete(completed, tasks, len(deliverables))
	if failed > 0 {
		status, msg = StatusFailed, msgExecutionFailed(failed, tasks, skipped)
	}
	r.emitLocked(ex, EventExecutionComplete, EventData{
		Status:         status,
		DurationMs:     elapsed,
		Tasks:          ptr(tasks),
		CompletedTasks: ptr(completed),
		FailedTasks:    ptr(failed),
		SkippedTasks:   ptr(skipped),
		Deliverables:   deliverables,
		Message:        msg,
	})
}

// runTaskSafely runs t and reports its outcome. Agents' panics are caught
// where they are called (see callAgent); this is the net for one anywhere
// else in the task's code, so a bug fails a task, not the sidecar.
func (ex *Execution) runTaskSafely(t *Task, results chan<- taskResult) {
	res := taskResult{task: t, outcome: outcomeFailed}
	defer func() { results <- res }()
	defer func() {
		if p := recover(); p != nil {
			ex.r.log.Error("a task crashed", "execution", ex.id, "task", t.ID, "panic", p, "stack", string(debug.Stack()))
			res.outcome = ex.failTask(t, 0, nil, fmt.Sprintf("task %s crashed: %v", t.ID, p))
		}
	}()
	res.outcome = ex.runTask(t)
}

// skipDependents reports every task that can no longer run because failed
// did not complete, and returns how many there were.
func (ex *Execution) skipDependents(failed *Task, dependents map[string][]*Task, waiting map[string]int) int {
	n := 0
	queue := []*Task{failed}
	for len(queue) > 0 {
		cause := queue[0]
		queue = queue[1:]
		for _, t := range dependents[cause.ID] {
			if waiting[t.ID] < 0 {
				continue // already skipped through another dependency
			}
			waiting[t.ID] = -1
			n++
			ex.r.emit(ex, EventTaskSkipped, EventData{
				TaskID:           t.ID,
				TaskTitle:        t.DisplayTitle(),
				Reason:           "dependency " + cause.ID + " did not complete",
				FailedDependency: cause.ID,
				Message:          msgTaskSkipped(t.DisplayTitle(), cause.ID),
			})
			queue = append(queue, t)
		}
	}
	return n
}

// RecordSaved reports that deliverables of this execution were saved into
// target (a deliverables-saved event); results are the per-file outcomes.
func (ex *Execution) RecordSaved(target string, saved, failed int, results any) {
	ex.r.emit(ex, EventDeliverablesSaved, EventData{
		Target:  target,
		Saved:   ptr(saved),
		Failed:  ptr(failed),
		Results: results,
		Message: SavedMessage(saved, failed, target, results),
	})
}
