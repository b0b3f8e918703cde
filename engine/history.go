package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// loadHistory registers the journal's executions as finished ones, and
// records that those still running when the last sidecar stopped were
// interrupted.
func (r *Runner) loadHistory() {
	stored, err := r.journal.load()
	if err != nil {
		r.log.Error("load past executions", "err", err)
		return
	}
	for _, s := range stored {
		wf, err := ParseWorkflow(s.path, s.source)
		if err != nil {
			r.log.Warn("a past execution's workflow no longer parses; it is not listed", "execution", s.id, "err", err)
			continue
		}
		wf.Path, wf.Dir = s.path, s.dir
		ctx, cancel := context.WithCancelCause(r.ctx)
		cancel(errors.New("finished before this sidecar started"))
		ex := &Execution{
			r: r, id: s.id, wf: wf, dir: filepath.Join(r.opts.StateDir, "executions", s.id), parallelism: 1,
			ctx: ctx, cancel: cancel, done: make(chan struct{}), state: newState(s.id, wf),
		}
		ex.start.Do(func() {}) // nothing to run
		close(ex.done)
		for _, ev := range s.events {
			ex.state.apply(ev)
		}
		r.executions[s.id] = ex
		r.order = append(r.order, ex)
		if ex.state.sum.Status == StatusRunning {
			r.emit(ex, EventExecutionInterrupted, EventData{Reason: "the sidecar stopped while it ran", Message: msgExecutionInterrupted})
		}
	}
}

// Resume prepares an interrupted, failed or cancelled execution to run
// again under the same id: tasks that completed keep their results and
// deliverables, the others run again. Like Prepare, it starts nothing.
func (r *Runner) Resume(id string) (*Execution, error) {
	old, ok := r.Get(id)
	if !ok {
		return nil, fmt.Errorf("resume %s: no such execution", id)
	}
	switch st := old.Summary().Status; st {
	case StatusInterrupted, StatusFailed, StatusCancelled:
	default:
		return nil, fmt.Errorf("resume %s: it is %s; only interrupted, failed or cancelled executions can be resumed", id, st)
	}
	workers, qcs, par, err := r.build(old.wf, ExecOptions{})
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", id, err)
	}
	r.mu.Lock()
	st := old.state
	r.mu.Unlock()
	return r.prepare(id, old.wf, par, workers, qcs, st)
}

// Prune forgets finished executions, with their events and files: those
// finished longer than olderThan ago (when > 0), and all but the newest keep
// (when > 0). Running executions are never pruned. It returns the ids
// removed.
func (r *Runner) Prune(olderThan time.Duration, keep int) ([]string, error) {
	r.mu.Lock()
	var finished []*Execution
	for _, ex := range slices.Backward(r.order) {
		if ex.state.sum.Status != StatusRunning {
			finished = append(finished, ex)
		}
	}
	cutoff := time.Now().Add(-olderThan)
	var gone []*Execution
	for i, ex := range finished {
		end := ex.state.sum.StartedAt
		if f := ex.state.sum.FinishedAt; f != nil {
			end = *f
		}
		if (olderThan > 0 && end.Before(cutoff)) || (keep > 0 && i >= keep) {
			gone = append(gone, ex)
		}
	}
	ids := make([]string, len(gone))
	for i, ex := range gone {
		ids[i] = ex.id
		delete(r.executions, ex.id)
	}
	r.order = slices.DeleteFunc(r.order, func(ex *Execution) bool { return slices.Contains(ids, ex.id) })
	j := r.journal
	r.mu.Unlock()

	var errs []error
	if j != nil {
		// Their last events may still be on their way to the disk; deleting
		// before they land would bring them back.
		j.flush()
		errs = append(errs, j.forget(ids))
	}
	for _, ex := range gone {
		if err := os.RemoveAll(ex.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove the files of %s: %w", ex.id, err))
		}
	}
	return ids, errors.Join(errs...)
}
