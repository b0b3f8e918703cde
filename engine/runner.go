package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Sink receives every event. Emit is called one event at a time in seq order
// and must not block: hand the event to a bounded buffer, never to a reader
// that may be slow.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f.
func (f SinkFunc) Emit(ev Event) { f(ev) }

// A Journal keeps every event, and each execution's record, before any
// listener sees them, so that a restarted sidecar lists, replays and
// resumes what ran before. *journal.Journal (package engine/journal) is
// one; the runner owns it from NewRunner and closes it.
type Journal interface {
	// LastSeq is the seq of the newest event ever kept.
	LastSeq() (uint64, error)
	// Unfinished lists the executions whose summary says running: those
	// the last sidecar was running when it stopped.
	Unfinished(ctx context.Context) ([]string, error)
	// Summaries lists up to limit executions begun before the seq before
	// (0: the newest), newest first.
	Summaries(ctx context.Context, before uint64, limit int) ([]PastSummary, error)
	// CountFinished counts the executions whose summary says they are not
	// running.
	CountFinished(ctx context.Context) (int, error)
	// OldestFinished lists up to limit of those, begun after the seq
	// after, oldest first: what a prune considers.
	OldestFinished(ctx context.Context, after uint64, limit int) ([]PastSummary, error)
	// Execution reads one execution with its events, oldest first; ok is
	// false when the journal holds none by that id.
	Execution(ctx context.Context, id string) (past PastExecution, ok bool, err error)
	// Start begins keeping events: each goes to sink once it is kept, in
	// the order Append was called.
	Start(sink Sink)
	// Append queues ev, and rec when ev begins an execution, with sum,
	// the execution's summary once ev is applied: kept together, so the
	// history is listed without reading the events. It blocks only while
	// the journal is far behind, until StopWaiting.
	Append(ev Event, rec *Record, sum Summary) error
	// Flush waits until every event appended so far has been handed on;
	// on a closed journal it returns nil at once.
	Flush() error
	// Forget removes executions and their events, and gives the space
	// they took back to the file system.
	Forget(ids []string) error
	// DeliverableSums is the set of sha256 sums of the deliverables
	// the executions it holds report: the blobs that must be kept.
	DeliverableSums(ctx context.Context) (map[string]bool, error)
	// StopWaiting lets go of Append and Flush calls waiting on a disk
	// that cannot write: the runner's time to stop is up.
	StopWaiting()
	Close() error
}

// Options configure a Runner.
type Options struct {
	// Workspace is the root folder the executions work for.
	Workspace string
	// StateDir holds each execution's staging and bookkeeping folders;
	// default <Workspace>/.mimir.
	StateDir string
	// Parallelism is how many tasks of one execution run at once when the
	// workflow does not say; default one per CPU.
	Parallelism int
	// Agents are the agent types workflows may name (see Agents).
	Agents Agents
	Sink   Sink
	Logger *slog.Logger
	// LastSeq is the seq the first event follows when there is no journal.
	LastSeq uint64
	// Journal, when set, keeps every event before the sink sees it, and the
	// runner starts with the executions it holds. The runner closes it.
	// (Leave it nil, not a nil *journal.Journal, for none.)
	Journal Journal
	// Sandbox is the user's own sandbox settings (see SandboxSettings).
	Sandbox SandboxSettings
	// Dispatcher, when set, runs the attempts of every task without
	// isolation elsewhere (see Dispatcher); nil runs them here.
	Dispatcher Dispatcher
	// HeartbeatEvery is how often a task-heartbeat says an agent is still
	// at work (default DefaultHeartbeat; negative: never). It is the
	// throttle too: no task gets more than one per period.
	HeartbeatEvery time.Duration
	// Retention, when set with a Journal, is applied to the history in the
	// background: at start and each time an execution ends (see
	// LoadRetention). Running and interrupted executions are always kept.
	Retention *PruneRule
}

// DefaultHeartbeat is how often a long agent call is said to go on.
const DefaultHeartbeat = 30 * time.Second

// Runner runs executions and numbers their events. It owns every
// execution's goroutines: Close stops them all.
type Runner struct {
	opts Options
	log  *slog.Logger

	// ctx is the parent of every execution's context; cancelled, with
	// ErrClosed as its cause, when the caller's context is done or on Close.
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopAfter func() bool
	wg        sync.WaitGroup

	// mu orders events: seq assignment, state updates and the hand-off to
	// the sink happen together, so every listener sees one total order.
	mu  sync.Mutex
	seq uint64
	// executions (in order) are the running ones and, without a journal,
	// the finished ones too; with one, finished executions are read back
	// from it when asked for, and the last few kept in cache.
	executions map[string]*Execution
	order      []*Execution
	cache      pastCache
	// retain is signalled when an execution ends, for the retention pass;
	// retainStop stops that pass's goroutine, which closes retainDone.
	retain                 chan struct{}
	retainStop, retainDone chan struct{}
	closed                 bool
	journal                Journal // nil once closed

	// forgetting is held by a prune while it forgets executions, and for
	// reading by a Get that reads one back from the journal; it is taken
	// before mu.
	forgetting sync.RWMutex

	// stateMu guards state, the state folder, opened on first use so that
	// a refused folder fails the executions that need it, not the runner.
	stateMu sync.Mutex
	state   *statedir.Dir

	// blobs orders storing deliverables by content against removing the
	// blobs no execution uses.
	blobs blobStore
}

// stateDir is the state folder every file of an execution is made,
// written and removed through.
func (r *Runner) stateDir() (*statedir.Dir, error) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	if r.state == nil {
		// Not kept on failure: the user may fix the folder and try again.
		d, err := statedir.Ensure(r.opts.StateDir)
		if err != nil {
			return nil, err
		}
		r.state = d
	}
	return r.state, nil
}

// executionFolder is an execution's folder in the state folder, made of an
// id the sidecar made or checked (CheckExecutionID).
func executionFolder(id string) string { return "executions/" + id }

// NewRunner returns a Runner ready to execute workflows. Its executions
// run under a context derived from ctx: cancelling ctx cancels them, each
// ending with execution-cancelled, as Close does. Close still owns the
// shutdown (the journal, the state folder) and is called either way.
func NewRunner(ctx context.Context, opts Options) *Runner {
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(opts.Workspace, ".mimir")
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = runtime.NumCPU()
	}
	if opts.Sink == nil {
		opts.Sink = SinkFunc(func(Event) {})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// The caller's values are kept; its cancellation becomes ErrClosed, so
	// that executions end saying why ("the sidecar is shutting down"), not
	// "context canceled".
	base, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	r := &Runner{
		opts:       opts,
		log:        opts.Logger,
		ctx:        base,
		cancel:     cancel,
		stopAfter:  context.AfterFunc(ctx, func() { cancel(ErrClosed) }),
		seq:        opts.LastSeq,
		executions: map[string]*Execution{},
		retain:     make(chan struct{}, 1),
	}
	r.blobs.due.Store(true)
	if j := opts.Journal; j != nil {
		r.journal = j
		if last, err := j.LastSeq(); err != nil {
			r.log.Error("read the journal's last seq", "err", err)
		} else {
			r.seq = max(r.seq, last)
		}
		j.Start(opts.Sink)
		r.loadHistory()
		if opts.Retention != nil {
			rule := *opts.Retention
			rule.KeepInterrupted = true
			r.retainInBackground(rule)
		}
	}
	return r
}

// ExecOptions tune one execution.
type ExecOptions struct {
	// Parallelism overrides the workflow's and the runner's.
	Parallelism int
}

// ErrClosed is returned for work asked of a closed Runner.
var ErrClosed = errors.New("the sidecar is shutting down")

// Prepare checks that every agent of wf can be made and sets up the
// execution's folders, but starts nothing: the caller can announce the
// execution's id before its first event (see Execution.Start).
func (r *Runner) Prepare(wf *Workflow, opts ExecOptions) (*Execution, error) {
	workers, qcs, par, err := r.build(wf, opts)
	if err != nil {
		return nil, err
	}
	id := "ex_" + ulid.Make().String()
	return r.prepare(id, wf, par, workers, qcs, nil)
}

// build makes a workflow's agents and settles its parallelism.
func (r *Runner) build(wf *Workflow, opts ExecOptions) (map[string]Worker, map[string]QC, int, error) {
	workers := make(map[string]Worker, len(wf.Tasks))
	qcs := make(map[string]QC, len(wf.Tasks))
	for _, t := range wf.Tasks {
		if d := r.opts.Dispatcher; d != nil && !t.Isolated() {
			workers[t.ID] = dispatchedWorker{d}
			if t.QC != nil {
				qcs[t.ID] = dispatchedQC{d}
			}
			continue
		}
		w, err := r.opts.Agents.worker(wf, t)
		if err != nil {
			return nil, nil, 0, err
		}
		q, err := r.opts.Agents.qc(wf, t)
		if err != nil {
			return nil, nil, 0, err
		}
		workers[t.ID], qcs[t.ID] = w, q
	}
	par := opts.Parallelism
	if par <= 0 {
		par = wf.Parallelism
	}
	if par <= 0 {
		par = r.opts.Parallelism
	}
	return workers, qcs, par, nil
}

// prepare makes the execution's folders and registers it; prev, when set,
// is the finished execution being resumed under the same id.
func (r *Runner) prepare(id string, wf *Workflow, par int, workers map[string]Worker, qcs map[string]QC, prev *Execution) (*Execution, error) {
	fence, err := planSandbox(wf, r.opts.Sandbox)
	if err != nil {
		return nil, err
	}
	if err := CheckIsolation(r.ctx, wf, r.opts.Workspace); err != nil {
		return nil, err
	}
	if err := CheckExecutionID(id); err != nil {
		return nil, fmt.Errorf("prepare execution: %w", err)
	}
	state, err := r.stateDir()
	if err != nil {
		return nil, fmt.Errorf("prepare execution: %w", err)
	}
	for _, sub := range []string{"staging", "gaps"} {
		if err := state.MkdirAll(executionFolder(id)+"/"+sub, 0o755); err != nil {
			return nil, fmt.Errorf("prepare execution: %w", err)
		}
	}
	dir := state.Join(executionFolder(id))
	ctx, cancel := context.WithCancelCause(r.ctx)
	ex := &Execution{
		r:           r,
		id:          id,
		wf:          wf,
		dir:         dir,
		parallelism: par,
		workers:     workers,
		qcs:         qcs,
		sandbox:     fence,
		ctx:         ctx,
		cancel:      cancel,
		done:        make(chan struct{}),
		resumed:     prev != nil,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		cancel(nil)
		return nil, ErrClosed
	}
	if prev == nil {
		ex.state = newState(id, wf)
		r.order = append(r.order, ex)
		r.executions[id] = ex
		return ex, nil
	}
	// Checking and claiming happen under one lock, so two resumes of one
	// execution cannot both start a run on the same state and folders.
	if err := resumable(r.current(id), prev); err != nil {
		cancel(nil)
		return nil, fmt.Errorf("resume %s: %w", id, err)
	}
	// The execution counts as running from now, not from its
	// execution-start (sent once the caller has announced it): a second
	// resume is refused and a cancel takes effect. A crash before that event
	// leaves the journal saying what it said, which is still true.
	ex.state = prev.state
	ex.state.sum.Status, ex.state.sum.FinishedAt = StatusRunning, nil
	r.cache.remove(id)
	if i := slices.IndexFunc(r.order, func(old *Execution) bool { return old.id == id }); i >= 0 {
		r.order[i] = ex
	} else {
		r.order = append(r.order, ex)
	}
	r.executions[id] = ex
	return ex, nil
}

// Execute prepares and starts an execution.
func (r *Runner) Execute(wf *Workflow, opts ExecOptions) (*Execution, error) {
	ex, err := r.Prepare(wf, opts)
	if err != nil {
		return nil, err
	}
	ex.Start()
	return ex, nil
}

// Seq is the seq of the last event emitted.
func (r *Runner) Seq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// Flush waits until every event emitted so far has been handed to the
// sink: with a journal, once it is committed; without one, at once.
func (r *Runner) Flush() error {
	r.mu.Lock()
	j := r.journal
	r.mu.Unlock()
	if j == nil {
		return nil
	}
	return j.Flush()
}

// Close cancels every running execution and waits, until ctx is done, for
// each to finish with its execution-cancelled event.
func (r *Runner) Close(ctx context.Context) error {
	if j := r.opts.Journal; j != nil {
		// An emit blocked on a journal that cannot write holds r.mu; past
		// the deadline the journal stops waiting for the disk.
		defer context.AfterFunc(ctx, j.StopWaiting)()
	}
	r.mu.Lock()
	r.closed = true
	running := append([]*Execution(nil), r.order...)
	r.mu.Unlock()
	if r.retainStop != nil {
		// Before the journal closes: a pass under way finishes with it.
		close(r.retainStop)
		<-r.retainDone
	}
	for _, ex := range running {
		ex.Cancel("the sidecar is shutting down")
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("close runner: executions still stopping: %w", ctx.Err())
	}
	r.stopAfter()
	r.cancel(ErrClosed)
	r.mu.Lock()
	j := r.journal
	r.journal = nil // later events (none are expected) go straight to the sink
	r.mu.Unlock()
	if j != nil {
		if cerr := j.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close the journal: %w", cerr))
		}
	}
	r.stateMu.Lock()
	if r.state != nil {
		r.state.Close()
	}
	r.stateMu.Unlock()
	return err
}

// emit numbers an event, applies it to its execution's state and hands it
// to the sink, all under one lock so that order is total.
func (r *Runner) emit(ex *Execution, name string, data EventData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emitLocked(ex, name, data)
}

// emitLocked is emit for a caller that holds r.mu because the event must be
// decided together with other state (an execution's final event and
// Cancel).
func (r *Runner) emitLocked(ex *Execution, name string, data EventData) {
	r.seq++
	ev := Event{Seq: r.seq, ExecutionID: ex.id, Event: name, Time: time.Now().UTC(), Data: data}
	ex.state.apply(ev)
	switch name {
	case EventExecutionComplete, EventExecutionCancelled, EventExecutionInterrupted:
		defer r.retire(ex)
	}
	if r.journal == nil {
		if r.opts.Journal != nil {
			// The journal is the record: a listener sees nothing it lacks.
			r.log.Error("an event came after the journal closed; it is dropped", "seq", ev.Seq, "event", name)
			return
		}
		r.opts.Sink.Emit(ev)
		return
	}
	var rec *Record
	if name == EventExecutionStart {
		rec = &Record{ID: ex.id, Workflow: ex.wf.Name, Path: ex.wf.Path, Dir: ex.wf.Dir, Source: ex.wf.Source}
	}
	if err := r.journal.Append(ev, rec, ex.state.summary()); err != nil {
		// Not kept, so not shown: a listener sees nothing the journal
		// lacks.
		r.log.Error("an event could not be journaled; it is dropped", "err", err)
	}
}
