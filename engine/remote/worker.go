package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// WorkerOptions configure a worker process.
type WorkerOptions struct {
	Config Config
	// Name names the worker in the events of the attempts it runs.
	Name string
	// Concurrency is how many attempts it runs at once.
	Concurrency int
	// Dir is where each attempt gets a folder of its own, removed after.
	Dir string
	// Agents and Sandbox are this machine's, as the sidecar's would be.
	Agents  engine.Agents
	Sandbox engine.SandboxSettings
	Log     *slog.Logger
}

// attemptID is what the sidecar makes attempt ids of (a ULID).
var attemptID = regexp.MustCompile(`^[0-9A-Z]{26}$`)

// Worker takes attempts from the queue and runs them.
type Worker struct {
	opts  WorkerOptions
	nc    *nats.Conn
	js    jetstream.JetStream
	l     *layout
	files *store

	// pub keeps one attempt's messages in order: publishes are
	// serialised per attempt by its own lock.
	mu      sync.Mutex
	running map[string]*running
}

type running struct {
	exec   string
	cancel context.CancelFunc
	// cancelled is set when the sidecar asked: the result goes nowhere.
	cancelled bool
}

// NewWorker connects and finds (or sets up) the prefix's streams.
func NewWorker(ctx context.Context, opts WorkerOptions) (*Worker, error) {
	cfg, err := opts.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	opts.Config = cfg
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Name == "" {
		host, _ := os.Hostname()
		opts.Name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	nc, js, l, err := open(ctx, cfg, "mimir-sidecar worker "+opts.Name)
	if err != nil {
		return nil, err
	}
	return &Worker{opts: opts, nc: nc, js: js, l: l, files: &store{obs: l.files}, running: map[string]*running{}}, nil
}

// Run takes and runs attempts until ctx is done; attempts still running
// then are stopped and handed back to the queue at once, for another
// worker.
func (w *Worker) Run(ctx context.Context) error {
	defer w.nc.Drain()
	cancels, err := w.nc.Subscribe(w.opts.Config.Prefix+".cancel.>", w.onCancel)
	if err != nil {
		return fmt.Errorf("listen for cancels: %w", err)
	}
	defer cancels.Unsubscribe()
	w.opts.Log.Info("worker ready", "name", w.opts.Name, "prefix", w.opts.Config.Prefix, "concurrency", w.opts.Concurrency)

	slots := make(chan struct{}, w.opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		batch, err := w.l.workers.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			<-slots
			if ctx.Err() == nil {
				w.opts.Log.Debug("fetch an attempt", "err", err)
				time.Sleep(250 * time.Millisecond) // NATS away: wait for the reconnect
			}
			continue
		}
		took := false
		for m := range batch.Messages() {
			took = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				w.handle(ctx, m)
			}()
		}
		if !took {
			<-slots
		}
	}
	return nil
}

// onCancel stops the attempts a cancel names: <prefix>.cancel.<exec> for
// all of an execution's, <prefix>.cancel.<exec>.<attempt> for one.
func (w *Worker) onCancel(m *nats.Msg) {
	parts := strings.Split(strings.TrimPrefix(m.Subject, w.opts.Config.Prefix+".cancel."), ".")
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, r := range w.running {
		if r.exec == parts[0] && (len(parts) == 1 || parts[1] == id) {
			r.cancelled = true
			r.cancel()
		}
	}
}

// handle runs one delivered attempt to its end.
func (w *Worker) handle(ctx context.Context, m jetstream.Msg) {
	log := w.opts.Log
	var a attemptMsg
	if err := json.Unmarshal(m.Data(), &a); err != nil || !attemptID.MatchString(a.ID) || engine.CheckExecutionID(a.ExecutionID) != nil {
		log.Warn("an unreadable attempt dropped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	log = log.With("attempt", a.ID, "execution", a.ExecutionID, "task", a.TaskID, "phase", a.Phase)
	// An attempt finished before (its ack lost to a server restart) is
	// not run a second time.
	if _, err := w.l.done.Get(ctx, a.ID); err == nil {
		_ = m.Ack()
		return
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &running{exec: a.ExecutionID, cancel: cancel}
	w.mu.Lock()
	w.running[a.ID] = r
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, a.ID)
		w.mu.Unlock()
	}()

	delivery := 1
	if meta, err := m.Metadata(); err == nil {
		delivery = int(meta.NumDelivered)
	}
	log.Info("attempt started", "delivery", delivery)
	out := &publisher{w: w, subject: w.opts.Config.eventSubject(a.ID), ctx: ctx}
	out.send(eventMsg{Kind: "started", Worker: w.opts.Name, Delivery: delivery})

	// Progress keeps the attempt ours past AckWait while it runs.
	stopProgress := make(chan struct{})
	var progress sync.WaitGroup
	progress.Add(1)
	go func() {
		defer progress.Done()
		t := time.NewTicker(w.l.ackWait() / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = m.InProgress()
			case <-stopProgress:
				return
			}
		}
	}()
	res := w.runAttempt(actx, a, out)
	close(stopProgress)
	progress.Wait()

	switch {
	case ctx.Err() != nil:
		// This worker is stopping: another takes the attempt now.
		_ = m.Nak()
		return
	case r.cancelled:
		_ = m.Ack()
		log.Info("attempt cancelled")
		return
	}
	out.send(eventMsg{Kind: "result", Worker: w.opts.Name, Result: res})
	_, _ = w.l.done.Put(ctx, a.ID, []byte(w.opts.Name))
	for ctx.Err() == nil {
		if err := m.DoubleAck(ctx); err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	log.Info("attempt done", "error", res.Error)
}

// runAttempt lays the attempt's files out in a folder of its own, runs it,
// and sends back what a worker attempt left in the task's folder.
func (w *Worker) runAttempt(ctx context.Context, a attemptMsg, out *publisher) *resultMsg {
	fail := func(err error) *resultMsg { return &resultMsg{Error: err.Error()} }
	dir, err := os.MkdirTemp(w.opts.Dir, "attempt-")
	if err != nil {
		return fail(fmt.Errorf("make the attempt's folder: %w", err))
	}
	defer os.RemoveAll(dir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fail(err)
	}
	defer root.Close()
	if err := engine.CheckTaskID(a.TaskID); err != nil {
		return fail(err)
	}
	for _, d := range []string{"staging/" + a.TaskID, "workflow", "workspace"} {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}
	for _, in := range a.Inputs {
		dest, err := inputPath(in.Path, a.TaskID)
		if err != nil {
			return fail(err)
		}
		if err := w.files.fetch(ctx, root, dest, in); err != nil {
			return fail(err)
		}
	}
	spec := engine.AttemptSpec{
		ExecutionID: a.ExecutionID, TaskID: a.TaskID, Phase: a.Phase, Attempt: a.Attempt, MaxAttempts: a.MaxAttempts, Gap: a.Gap,
		Dir: filepath.Join(dir, "staging", a.TaskID), StagingRoot: filepath.Join(dir, "staging"),
		WorkflowDir: filepath.Join(dir, "workflow"), Workspace: filepath.Join(dir, "workflow"),
	}
	if a.Gap != nil {
		data, _ := json.MarshalIndent(a.Gap, "", "  ")
		if err := root.WriteFile("gap.json", data, 0o644); err != nil {
			return fail(err)
		}
		spec.GapFile = filepath.Join(dir, "gap.json")
	}
	name := filepath.Base(a.WorkflowFile)
	wf, err := engine.ParseWorkflow(filepath.Join(spec.WorkflowDir, name), a.Workflow)
	if err != nil {
		return fail(fmt.Errorf("the workflow sent with the attempt: %w", err))
	}
	wf.Path, wf.Dir = filepath.Join(spec.WorkflowDir, name), spec.WorkflowDir
	spec.Workflow = wf
	r := engine.RunAttempt(ctx, spec, w.opts.Agents, w.opts.Sandbox, func(name string, d engine.EventData) {
		out.send(eventMsg{Kind: "event", Worker: w.opts.Name, Name: name, Data: &d})
	})
	res := &resultMsg{ToolCalls: r.Work.ToolCalls, Output: r.Work.Output}
	if a.Phase == engine.PhaseQC && r.Err == nil {
		res.Verdict = &r.Verdict
	}
	if r.Err != nil {
		res.Error = r.Err.Error()
		res.TimedOut = errors.Is(r.Err, context.DeadlineExceeded)
	}
	if a.Phase == engine.PhaseWorker {
		outputs, err := list(spec.Dir, "", nil)
		if err == nil {
			err = w.files.upload(ctx, spec.Dir, "", outputs)
		}
		if err != nil {
			return fail(fmt.Errorf("send the task's files back: %w", err))
		}
		res.Outputs = outputs
	}
	return res
}

// inputPath is where an input goes in the attempt's folder: the task's
// files in staging/<task>, a dependency's in staging/<dep>, the
// workflow's in workflow/.
func inputPath(p, task string) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	switch top, rest, _ := strings.Cut(p, "/"); top {
	case "task":
		return "staging/" + task + "/" + rest, nil
	case "deps":
		dep, file, ok := strings.Cut(rest, "/")
		if !ok || engine.CheckTaskID(dep) != nil || dep == task {
			break
		}
		return "staging/" + dep + "/" + file, nil
	case "workflow":
		return "workflow/" + rest, nil
	}
	return "", fmt.Errorf("input %q is in no folder an attempt has", p)
}

// publisher sends one attempt's messages in order, retrying while NATS is
// away, until the worker stops.
type publisher struct {
	w       *Worker
	subject string
	ctx     context.Context
	mu      sync.Mutex
}

func (p *publisher) send(ev eventMsg) {
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.ctx.Err() == nil {
		if _, err := p.w.js.Publish(p.ctx, p.subject, data); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}
