package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Record is what a journal keeps of an execution besides its events: its
// id and enough to rebuild its workflow.
type Record struct {
	ID       string
	Workflow string // its name
	Path     string
	Dir      string
	Source   []byte
}

// PastExecution is an execution read back from a journal, with its
// events, oldest first.
type PastExecution struct {
	Record
	Events []Event
}

// loadHistory registers the journal's executions as finished ones, and
// records that those still running when the last sidecar stopped were
// interrupted (their launchers stopped their commands when it died).
func (r *Runner) loadHistory() {
	stored, err := r.journal.Load()
	if err != nil {
		r.log.Error("load past executions", "err", err)
		return
	}
	for _, s := range stored {
		ex := r.restore(s.Record)
		for _, ev := range s.Events {
			ex.state.apply(ev)
		}
		r.executions[s.ID] = ex
		r.order = append(r.order, ex)
		if ex.state.sum.Status == StatusRunning {
			r.emit(ex, EventExecutionInterrupted, EventData{Reason: "the sidecar stopped while it ran", Message: msgExecutionInterrupted})
		}
	}
}

// restore makes a finished Execution of a stored one. One whose workflow
// no longer parses is kept all the same, rebuilt from its events, so that
// it is listed, its deliverables saved and it can be pruned; only resuming
// it is refused.
func (r *Runner) restore(s Record) *Execution {
	ctx, cancel := context.WithCancelCause(r.ctx)
	cancel(errors.New("finished before this sidecar started"))
	ex := &Execution{
		r: r, id: s.ID, dir: filepath.Join(r.opts.StateDir, "executions", s.ID), parallelism: 1,
		ctx: ctx, cancel: cancel, done: make(chan struct{}), finished: true,
	}
	ex.start.Do(func() {}) // nothing to run
	close(ex.done)
	wf, err := ParseWorkflow(s.Path, s.Source)
	if err != nil {
		r.log.Warn("a past execution's workflow no longer parses; it is listed but cannot be resumed", "execution", s.ID, "err", err)
		ex.broken = err
		ex.wf = &Workflow{Name: s.Workflow, Path: s.Path, Dir: s.Dir, Source: s.Source}
		ex.state = newOpenState(s.ID, s.Workflow, s.Path)
		return ex
	}
	wf.Path, wf.Dir = s.Path, s.Dir
	ex.wf = wf
	ex.state = newState(s.ID, wf)
	return ex
}

// Resume prepares an interrupted, failed or cancelled execution to run
// again under the same id: tasks that completed keep their results and
// deliverables, the others run again. Like Prepare, it starts nothing, but
// from its return the execution is running: a second Resume is refused and
// Cancel takes effect.
func (r *Runner) Resume(id string) (*Execution, error) {
	old, ok := r.Get(id)
	if !ok {
		return nil, fmt.Errorf("resume %s: no such execution", id)
	}
	// Checked here for a clear answer before agents are built, and again
	// when the resume is claimed.
	r.mu.Lock()
	err := resumable(old, old)
	r.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", id, err)
	}
	workers, qcs, par, err := r.build(old.wf, ExecOptions{})
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", id, err)
	}
	return r.prepare(id, old.wf, par, workers, qcs, old)
}

// resumable says why cur, the execution registered under prev's id, cannot
// be resumed from prev; r.mu is held.
func resumable(cur, prev *Execution) error {
	if cur != prev {
		return errors.New("it has been resumed already")
	}
	if prev.broken != nil {
		return fmt.Errorf("its workflow can no longer be read: %w", prev.broken)
	}
	switch st := prev.state.sum.Status; st {
	case StatusInterrupted, StatusFailed, StatusCancelled:
		return nil
	case StatusRunning:
		return errors.New("it is already running")
	default:
		return fmt.Errorf("it is %s; only interrupted, failed or cancelled executions can be resumed", st)
	}
}

// Prune forgets finished executions, with their events and files: those
// finished longer than olderThan ago (when > 0), and all but the newest keep
// (when > 0). Running executions are never pruned. It returns the ids
// removed.
func (r *Runner) Prune(olderThan time.Duration, keep int) ([]string, error) {
	r.mu.Lock()
	if r.closed {
		// Close lets go of the journal: pruning on would remove files and
		// leave their records behind.
		r.mu.Unlock()
		return nil, fmt.Errorf("prune: %w", ErrClosed)
	}
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

	if j != nil {
		// Their last events may still be on their way to the disk; deleting
		// before they land would bring them back.
		err := j.Flush()
		if err == nil {
			err = j.Forget(ids)
		}
		if err != nil {
			// Their files stay with their records, for the next sidecar.
			// (The error says what it was doing: flushing or forgetting.)
			return ids, err
		}
	}
	state, err := r.stateDir()
	if err != nil {
		return ids, fmt.Errorf("remove the files of the pruned executions: %w", err)
	}
	var errs []error
	for _, ex := range gone {
		// Through the state folder, by an id checked when it was loaded
		// (or made here): never a path the journal spelled out.
		if err := CheckExecutionID(ex.id); err != nil {
			errs = append(errs, fmt.Errorf("remove the files of %s: %w", ex.id, err))
			continue
		}
		if err := state.RemoveAll(executionFolder(ex.id)); err != nil {
			errs = append(errs, fmt.Errorf("remove the files of %s: %w", ex.id, err))
		}
	}
	return ids, errors.Join(errs...)
}
