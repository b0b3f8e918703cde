package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
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

// PastSummary is an execution's summary as a journal lists it: First, the
// seq of its first event, orders the history and pages through it.
type PastSummary struct {
	Summary
	First uint64
}

// A Page is what one listing of the history holds: the executions begun
// before the cursor, newest first, and the cursor of the next page (0 when
// there is none).
type Page struct {
	Executions []Summary
	Next       uint64
}

// MaxPage bounds one page of the history.
const MaxPage = 1000

// pastCacheSize is how many finished executions a journaled runner keeps
// in memory once built from the journal: those an editor is looking at,
// not the whole history.
const pastCacheSize = 16

// pastCache is the bounded set of finished executions a journaled runner
// holds, most recently used first.
type pastCache struct {
	list []*Execution
}

// get returns the execution with that id and marks it used.
func (c *pastCache) get(id string) *Execution {
	i := slices.IndexFunc(c.list, func(ex *Execution) bool { return ex.id == id })
	if i < 0 {
		return nil
	}
	ex := c.list[i]
	copy(c.list[1:i+1], c.list[:i])
	c.list[0] = ex
	return ex
}

// peek returns the execution with that id, leaving the order alone.
func (c *pastCache) peek(id string) *Execution {
	i := slices.IndexFunc(c.list, func(ex *Execution) bool { return ex.id == id })
	if i < 0 {
		return nil
	}
	return c.list[i]
}

// put makes ex the most recently used, in place of any with its id; the
// least recently used goes when the cache is full.
func (c *pastCache) put(ex *Execution) {
	c.remove(ex.id)
	if len(c.list) == pastCacheSize {
		c.list[len(c.list)-1] = nil
		c.list = c.list[:len(c.list)-1]
	}
	c.list = slices.Insert(c.list, 0, ex)
}

func (c *pastCache) remove(id string) {
	c.list = slices.DeleteFunc(c.list, func(ex *Execution) bool { return ex.id == id })
}

// loadHistory finds the executions that were running when the last
// sidecar stopped and records that they were interrupted (their launchers
// stopped their commands when it died). Only those are read in full: the
// rest of the history stays in the journal until asked for.
func (r *Runner) loadHistory() {
	ids, err := r.journal.Unfinished(r.ctx)
	if err != nil {
		r.log.Error("find the executions the last sidecar left running", "err", err)
		return
	}
	for _, id := range ids {
		ex, err := r.load(r.journal, id)
		if err != nil {
			r.log.Error("read an interrupted execution", "execution", id, "err", err)
			continue
		}
		if ex == nil {
			continue
		}
		r.mu.Lock()
		r.cache.put(ex)
		r.mu.Unlock()
		if ex.Summary().Status == StatusRunning {
			r.emit(ex, EventExecutionInterrupted, EventData{Reason: "the sidecar stopped while it ran", Message: msgExecutionInterrupted})
		}
	}
}

// load builds a finished execution from its journaled events (nil when the
// journal has none by that id).
func (r *Runner) load(j Journal, id string) (*Execution, error) {
	past, ok, err := j.Execution(r.ctx, id)
	if err != nil || !ok {
		return nil, err
	}
	ex := r.restore(past.Record)
	for _, ev := range past.Events {
		ex.state.apply(ev)
	}
	return ex, nil
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
	ex.wf, ex.state, ex.broken = pastState(s)
	if ex.broken != nil {
		r.log.Warn("a past execution's workflow no longer parses; it is listed but cannot be resumed", "execution", s.ID, "err", ex.broken)
	}
	return ex
}

// pastState is the workflow and initial state of a stored execution, and
// why its workflow no longer parses (then the state learns its tasks from
// the events).
func pastState(s Record) (*Workflow, *state, error) {
	wf, err := ParseWorkflow(s.Path, s.Source)
	if err != nil {
		return &Workflow{Name: s.Workflow, Path: s.Path, Dir: s.Dir, Source: s.Source}, newOpenState(s.ID, s.Workflow, s.Path), err
	}
	wf.Path, wf.Dir = s.Path, s.Dir
	return wf, newState(s.ID, wf), nil
}

// Summarize is the summary of a stored execution: what a journal written
// before it kept summaries computes once for each execution it holds.
func Summarize(past PastExecution) PastSummary {
	_, s, _ := pastState(past.Record)
	for _, ev := range past.Events {
		s.apply(ev)
	}
	return PastSummary{Summary: s.summary(), First: s.first}
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

// current is the execution this runner holds under id, running or
// finished, without reading the journal (nil if it holds none); r.mu is
// held.
func (r *Runner) current(id string) *Execution {
	if ex, ok := r.executions[id]; ok {
		return ex
	}
	return r.cache.peek(id)
}

// resumable says why cur, the execution registered under prev's id, cannot
// be resumed from prev; r.mu is held.
func resumable(cur, prev *Execution) error {
	if cur != prev {
		return errors.New("it has been resumed or removed meanwhile; list the executions again")
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

// retire lets a journaled runner forget a finished execution: it leaves
// the running ones for the bounded cache, and is read back from the
// journal when it is asked for after that; r.mu is held. Without a journal
// the runner's memory is the only history, and it is kept.
func (r *Runner) retire(ex *Execution) {
	if r.journal == nil {
		return
	}
	if r.executions[ex.id] == ex {
		delete(r.executions, ex.id)
		r.order = slices.DeleteFunc(r.order, func(o *Execution) bool { return o == ex })
	}
	r.cache.put(ex)
	select {
	case r.retain <- struct{}{}:
	default: // a pass is due already
	}
}

// Get returns the execution with that id: one running, or one of the
// history, read back from the journal when it is not in memory.
func (r *Runner) Get(id string) (*Execution, bool) {
	r.mu.Lock()
	if ex, ok := r.executions[id]; ok {
		r.mu.Unlock()
		return ex, true
	}
	if ex := r.cache.get(id); ex != nil {
		r.mu.Unlock()
		return ex, true
	}
	j := r.journal
	r.mu.Unlock()
	if j == nil || CheckExecutionID(id) != nil {
		return nil, false
	}
	// Not flushed first: a Get never waits on a disk that cannot write.
	// What ended lately is in the cache, and what left it has long been
	// written. Held for reading until the execution is cached: a prune
	// cannot forget it in between, leaving it cached.
	r.forgetting.RLock()
	defer r.forgetting.RUnlock()
	ex, err := r.load(j, id)
	if err != nil {
		r.log.Warn("read a past execution", "execution", id, "err", err)
	}
	if ex == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Another Get, or a resume, may have been first: one execution per id.
	if cur := r.current(id); cur != nil {
		return cur, true
	}
	r.cache.put(ex)
	return ex, true
}

// Running returns the executions running (or prepared to run) now.
func (r *Runner) Running() []*Execution {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Execution
	for _, ex := range r.order {
		if !ex.finished {
			out = append(out, ex)
		}
	}
	return out
}

// ListPage lists up to limit executions (at most MaxPage) begun before the
// cursor before (0: the newest), newest first: the journal's summaries,
// with the state of those running now.
func (r *Runner) ListPage(ctx context.Context, before uint64, limit int) (Page, error) {
	limit = min(max(limit, 1), MaxPage)
	r.mu.Lock()
	j := r.journal
	r.mu.Unlock()
	var stored []PastSummary
	if j != nil {
		var err error
		if stored, err = j.Summaries(ctx, before, limit); err != nil {
			return Page{}, fmt.Errorf("list the executions: %w", err)
		}
	}
	r.mu.Lock()
	all := make([]PastSummary, 0, len(stored)+len(r.order))
	held := make(map[string]bool, len(r.order))
	for i, ex := range r.order {
		// Prepared and not started yet: newer than anything journaled, in
		// the order prepared, each its own place for the cursor.
		first := cmp.Or(ex.state.first, math.MaxUint64-uint64(len(r.order)-1-i))
		if before == 0 || first < before {
			all = append(all, PastSummary{Summary: ex.state.summary(), First: first})
		}
		held[ex.id] = true
	}
	for _, s := range stored {
		if held[s.ExecutionID] { // what runs here is newer than its row
			continue
		}
		// So is what the cache holds: the journal writes behind the
		// events, so a row may not yet say what was just recorded (an
		// execution marked interrupted at start, one that just ended).
		if ex := r.cache.peek(s.ExecutionID); ex != nil {
			s.Summary = ex.state.summary()
		}
		all = append(all, s)
	}
	r.mu.Unlock()
	slices.SortFunc(all, func(a, b PastSummary) int { return cmp.Compare(b.First, a.First) })
	var page Page
	if len(all) > limit || len(stored) == limit {
		all = all[:min(limit, len(all))]
		page.Next = all[len(all)-1].First
	}
	page.Executions = make([]Summary, len(all))
	for i, s := range all {
		page.Executions[i] = s.Summary
	}
	return page, nil
}

// List summarizes every execution, newest first, reading the whole
// history: for a tool that wants it all, never for an editor (ListPage).
func (r *Runner) List() []Summary {
	var out []Summary
	var before uint64
	for {
		page, err := r.ListPage(r.ctx, before, MaxPage)
		if err != nil {
			r.log.Error("list the executions", "err", err)
			return out
		}
		out = append(out, page.Executions...)
		if page.Next == 0 {
			return out
		}
		before = page.Next
	}
}

// A PruneRule picks the finished executions to remove, by their age (from
// their end) and their place among the finished ones, newest first.
type PruneRule struct {
	// OlderThan, when > 0, marks those finished longer ago than this.
	OlderThan time.Duration
	// Keep, when > 0, marks all but the newest Keep.
	Keep int
	// Both removes only what both limits mark, so that an execution either
	// keeps is kept (a retention: the last 200 or 30 days, whichever keeps
	// more); otherwise either limit removes it (the prune command).
	Both bool
	// KeepInterrupted leaves interrupted executions for the user to resume.
	KeepInterrupted bool
}

// removes says whether the rule removes a finished execution that ended at
// end and is the i-th newest finished one.
func (p PruneRule) removes(i int, end, now time.Time) bool {
	old := p.OlderThan > 0 && end.Before(now.Add(-p.OlderThan))
	beyond := p.Keep > 0 && i >= p.Keep
	if p.Both {
		return (old || p.OlderThan <= 0) && (beyond || p.Keep <= 0) && (p.OlderThan > 0 || p.Keep > 0)
	}
	return old || beyond
}

// Prune forgets finished executions, with their events and files: those
// finished longer than olderThan ago (when > 0), and all but the newest keep
// (when > 0). Running executions are never pruned. It returns the ids
// removed.
func (r *Runner) Prune(olderThan time.Duration, keep int) ([]string, error) {
	return r.PruneBy(r.ctx, PruneRule{OlderThan: olderThan, Keep: keep})
}

// prunePage is how many summaries a prune reads at a time.
const prunePage = 200

// pruneCandidates picks the finished executions rule removes, newest
// first. It reads them oldest first, and stops at the first that the rule
// would keep even had it ended when it started: every newer one is newer
// in rank and began later, so is kept too. A retention pass over a history
// it keeps whole reads one summary, not the history.
func (r *Runner) pruneCandidates(ctx context.Context, j Journal, rule PruneRule, now time.Time) ([]string, error) {
	var total int
	var next func() ([]PastSummary, error) // oldest first, finished only
	if j != nil {
		var err error
		if total, err = j.CountFinished(ctx); err != nil {
			return nil, err
		}
		var after uint64
		next = func() ([]PastSummary, error) {
			page, err := j.OldestFinished(ctx, after, prunePage)
			if len(page) > 0 {
				after = page[len(page)-1].First
			}
			return page, err
		}
	} else {
		// The runner's memory is the whole history.
		r.mu.Lock()
		var all []PastSummary
		for _, ex := range r.order {
			if ex.state.sum.Status != StatusRunning {
				all = append(all, PastSummary{Summary: ex.state.summary(), First: ex.state.first})
			}
		}
		r.mu.Unlock()
		slices.SortFunc(all, func(a, b PastSummary) int { return cmp.Compare(a.First, b.First) })
		total = len(all)
		next = func() ([]PastSummary, error) {
			page := all
			all = nil
			return page, nil
		}
	}
	var picked []string
	rank := total - 1 // among the finished, newest first
	for {
		page, err := next()
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, s := range page {
			if !rule.removes(rank, s.StartedAt, now) {
				slices.Reverse(picked)
				return picked, nil
			}
			end := s.StartedAt
			if s.FinishedAt != nil {
				end = *s.FinishedAt
			}
			if rule.removes(rank, end, now) && !(rule.KeepInterrupted && s.Status == StatusInterrupted) {
				picked = append(picked, s.ExecutionID)
			}
			rank--
		}
	}
	slices.Reverse(picked)
	return picked, nil
}

// PruneBy forgets the finished executions rule picks, with their events
// and files; running ones are never pruned. It returns the ids removed,
// newest first.
func (r *Runner) PruneBy(ctx context.Context, rule PruneRule) ([]string, error) {
	ids, _, err := r.pruneBy(ctx, rule)
	return ids, err
}

// pruneBy is PruneBy, and then the removal of the deliverables' blobs no
// kept execution uses; it says what that freed.
func (r *Runner) pruneBy(ctx context.Context, rule PruneRule) ([]string, freed, error) {
	ids, err := r.prune(ctx, rule)
	if err != nil {
		return ids, freed{}, err
	}
	if len(ids) > 0 {
		r.blobs.due.Store(true)
	}
	// The prune is done either way: blobs left behind cost only disk, and
	// the next prune tries again.
	f, err := r.collectBlobs(ctx)
	if err != nil && !errors.Is(err, ErrClosed) {
		r.log.Warn("remove the stored deliverables no execution uses; the next prune tries again", "err", err)
	}
	return ids, f, nil
}

func (r *Runner) prune(ctx context.Context, rule PruneRule) ([]string, error) {
	r.mu.Lock()
	if r.closed {
		// Close lets go of the journal: pruning on would remove files and
		// leave their records behind.
		r.mu.Unlock()
		return nil, fmt.Errorf("prune: %w", ErrClosed)
	}
	j := r.journal
	r.mu.Unlock()
	if j != nil {
		// The summaries of executions that just ended may still be on their
		// way to the disk.
		if err := j.Flush(); err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
	}
	picked, err := r.pruneCandidates(ctx, j, rule, time.Now())
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}

	r.forgetting.Lock()
	defer r.forgetting.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("prune: %w", ErrClosed)
	}
	// Decided under the lock a resume claims its execution under: one
	// running now (resumed since it was listed) stays.
	ids := picked[:0]
	gone := make(map[string]bool, len(picked))
	for _, id := range picked {
		if ex, ok := r.executions[id]; ok && !ex.finished {
			continue
		}
		ids = append(ids, id)
		gone[id] = true
		delete(r.executions, id)
		r.cache.remove(id)
	}
	r.order = slices.DeleteFunc(r.order, func(ex *Execution) bool { return gone[ex.id] })
	j = r.journal
	r.mu.Unlock()
	if len(ids) == 0 {
		return nil, nil
	}

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
	for _, id := range ids {
		// Through the state folder, by an id checked when it was read back
		// (or made here): never a path the journal spelled out.
		if err := CheckExecutionID(id); err != nil {
			errs = append(errs, fmt.Errorf("remove the files of %s: %w", id, err))
			continue
		}
		if err := state.RemoveAll(executionFolder(id)); err != nil {
			errs = append(errs, fmt.Errorf("remove the files of %s: %w", id, err))
		}
	}
	return ids, errors.Join(errs...)
}

// maxStoredCount bounds a summary's counts as read back.
const maxStoredCount = 1 << 20

// Check refuses a summary the sidecar would not have written.
func (s *PastSummary) Check() error {
	if err := CheckExecutionID(s.ExecutionID); err != nil {
		return err
	}
	if s.Status == "" || !knownStatus("", s.Status) {
		return fmt.Errorf("unknown status %q", truncate(s.Status, 80))
	}
	for field, v := range map[string]string{"workflow": s.Workflow, "workflowPath": s.WorkflowPath} {
		if err := checkText(field, v); err != nil {
			return err
		}
	}
	for field, n := range map[string]int{"tasks": s.Tasks, "completedTasks": s.CompletedTasks, "failedTasks": s.FailedTasks, "deliverables": s.Deliverables} {
		if n < 0 || n > maxStoredCount {
			return fmt.Errorf("%s %d is out of range", field, n)
		}
	}
	return nil
}
