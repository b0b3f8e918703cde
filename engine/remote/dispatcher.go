package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Dispatcher is the sidecar's side: an engine.Dispatcher that queues each
// attempt for the workers and waits for its result, relaying its events.
type Dispatcher struct {
	cfg   Config
	nc    *nats.Conn
	js    jetstream.JetStream
	l     *layout
	files *store
	log   *slog.Logger
	adv   *nats.Subscription

	mu sync.Mutex
	// cleared are the executions whose attempts from an earlier sidecar
	// have been cancelled and purged (a resumed execution's).
	cleared map[string]bool
	// given maps a queued attempt's stream sequence to what its waiter
	// is told when no worker finished it within MaxDeliver deliveries.
	given map[uint64]chan struct{}
}

// NewDispatcher connects and sets up the prefix's streams and buckets.
func NewDispatcher(ctx context.Context, cfg Config, log *slog.Logger) (*Dispatcher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	nc, js, l, err := open(ctx, cfg, "mimir-sidecar")
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{cfg: cfg, nc: nc, js: js, l: l, files: &store{obs: l.files}, log: log, cleared: map[string]bool{}, given: map[uint64]chan struct{}{}}
	// JetStream says when an attempt was delivered MaxDeliver times and
	// none of those workers acknowledged it: its waiter fails it.
	d.adv, err = nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+cfg.attemptsStream()+".workers", func(m *nats.Msg) {
		var a struct {
			StreamSeq uint64 `json:"stream_seq"`
		}
		if json.Unmarshal(m.Data, &a) != nil {
			return
		}
		d.mu.Lock()
		if ch, ok := d.given[a.StreamSeq]; ok {
			close(ch)
			delete(d.given, a.StreamSeq)
		}
		d.mu.Unlock()
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return d, nil
}

// Prefix is the prefix the dispatcher works under, for workers to use.
func (d *Dispatcher) Prefix() string { return d.cfg.Prefix }

// Close drains the connection.
func (d *Dispatcher) Close() error {
	_ = d.adv.Unsubscribe()
	return d.nc.Drain()
}

// Work runs a worker attempt on a worker and brings its files back into
// the task's folder.
func (d *Dispatcher) Work(ctx context.Context, job *engine.Job) (engine.WorkResult, error) {
	res, worker, err := d.run(ctx, job, engine.PhaseWorker)
	if err != nil {
		return engine.WorkResult{Worker: worker}, err
	}
	out := engine.WorkResult{ToolCalls: res.ToolCalls, Output: res.Output, Worker: worker}
	if err := d.bringBack(ctx, job, res.Outputs); err != nil {
		return out, err
	}
	return out, res.err()
}

// Check runs a QC attempt on a worker.
func (d *Dispatcher) Check(ctx context.Context, job *engine.Job) (engine.Verdict, error) {
	res, worker, err := d.run(ctx, job, engine.PhaseQC)
	if err != nil {
		return engine.Verdict{Worker: worker}, err
	}
	if err := res.err(); err != nil {
		return engine.Verdict{Worker: worker}, err
	}
	if res.Verdict == nil {
		return engine.Verdict{Worker: worker}, errors.New("the worker sent no verdict")
	}
	v := *res.Verdict
	v.Worker = worker
	return v, nil
}

// run queues one attempt and follows it to its result.
func (d *Dispatcher) run(ctx context.Context, job *engine.Job, phase string) (*resultMsg, string, error) {
	d.clearEarlier(ctx, job.ExecutionID)
	msg, err := d.attempt(ctx, job, phase)
	if err != nil {
		return nil, "", err
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, "", err
	}
	// Following starts before the attempt is queued, so no event of it
	// is missed; an ordered consumer survives reconnects by itself.
	events, err := d.l.events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{d.cfg.eventSubject(msg.ID)}})
	if err != nil {
		return nil, "", fmt.Errorf("follow the attempt's events: %w", err)
	}
	iter, err := events.Messages()
	if err != nil {
		return nil, "", fmt.Errorf("follow the attempt's events: %w", err)
	}
	// The reader is this call's: on return it is told to quit, the
	// iterator stopped (which ends a Next in progress), and waited for.
	incoming, quit := make(chan jetstream.Msg), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := iter.Next()
			if err != nil {
				return // stopped
			}
			select {
			case incoming <- m:
			case <-quit:
				return
			}
		}
	}()
	defer wg.Wait()
	defer iter.Stop()
	defer close(quit)

	seq, err := d.publish(ctx, d.cfg.attemptSubject(job.ExecutionID, msg.ID), data)
	if err != nil {
		return nil, "", err
	}
	gaveUp := make(chan struct{})
	d.mu.Lock()
	d.given[seq] = gaveUp
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.given, seq)
		d.mu.Unlock()
	}()

	notice := time.NewTimer(d.cfg.WaitNotice)
	defer notice.Stop()
	worker := ""
	for {
		select {
		case <-ctx.Done():
			d.cancel(job.ExecutionID, msg.ID, seq)
			return nil, worker, ctx.Err()
		case <-gaveUp:
			_ = d.l.attempts.DeleteMsg(context.WithoutCancel(ctx), seq)
			return nil, worker, fmt.Errorf("no worker finished the attempt: it was taken %d times and each worker stopped answering (killed, or cut off from NATS) before it ended", d.cfg.MaxDeliver)
		case <-notice.C:
			if worker == "" {
				_ = job.Relay(engine.EventTaskWaiting, engine.EventData{Phase: phase,
					Message: fmt.Sprintf("⏳ Waiting for a worker: none has taken this attempt for %s. Start one with: mimir-sidecar worker --nats %s --prefix %s", d.cfg.WaitNotice, d.cfg.URL, d.cfg.Prefix)})
			}
		case m := <-incoming:
			var ev eventMsg
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				d.log.Warn("an unreadable event from a worker", "attempt", msg.ID, "err", err)
				continue
			}
			switch ev.Kind {
			case "started":
				worker = truncateName(ev.Worker)
				if ev.Delivery > 1 {
					d.log.Info("attempt handed to another worker", "attempt", msg.ID, "worker", worker, "delivery", ev.Delivery)
				}
			case "event":
				if ev.Data != nil {
					data := *ev.Data
					data.Worker = worker
					if err := job.Relay(ev.Name, data); err != nil {
						d.log.Warn("an event from a worker refused", "attempt", msg.ID, "err", err)
					}
				}
			case "result":
				if ev.Result == nil {
					return nil, worker, errors.New("the worker sent an empty result")
				}
				return ev.Result, truncateName(ev.Worker), nil
			}
		}
	}
}

func truncateName(s string) string {
	if len(s) > 100 {
		return s[:100]
	}
	return s
}

// attempt builds the queued message: the workflow and the files the
// attempt needs, uploaded.
func (d *Dispatcher) attempt(ctx context.Context, job *engine.Job, phase string) (*attemptMsg, error) {
	wf := job.Workflow
	msg := &attemptMsg{
		ID: ulid.Make().String(), ExecutionID: job.ExecutionID, TaskID: job.Task.ID, Phase: phase,
		Attempt: job.Attempt, MaxAttempts: job.MaxAttempts, Gap: job.Gap,
		WorkflowFile: filepath.Base(wf.Path), Workflow: wf.Source,
	}
	if msg.WorkflowFile == "." || msg.WorkflowFile == "" {
		msg.WorkflowFile = "workflow.yaml"
	}
	type group struct{ dir, under string }
	groups := []group{{job.Dir, "task"}}
	for _, dep := range job.Task.DependsOn {
		groups = append(groups, group{filepath.Join(job.StagingRoot, dep), "deps/" + dep})
	}
	if job.WorkflowDir != "" {
		groups = append(groups, group{job.WorkflowDir, "workflow"})
	}
	for _, g := range groups {
		refs, err := list(g.dir, g.under, func(top string) bool { return top == ".mimir" || top == ".git" })
		if err != nil {
			return nil, fmt.Errorf("send task %s's files to the workers: %w", job.Task.ID, err)
		}
		if err := d.files.upload(ctx, g.dir, g.under, refs); err != nil {
			return nil, fmt.Errorf("send task %s's files to the workers: %w", job.Task.ID, err)
		}
		msg.Inputs = append(msg.Inputs, refs...)
	}
	return msg, nil
}

// publish queues data, retrying while NATS is unreachable (a server
// restart), until ctx is done; it returns the message's stream sequence.
func (d *Dispatcher) publish(ctx context.Context, subject string, data []byte) (uint64, error) {
	for {
		ack, err := d.js.Publish(ctx, subject, data)
		if err == nil {
			return ack.Sequence, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
			d.log.Debug("queue an attempt: retrying", "err", err)
		}
	}
}

// cancel tells the workers to stop an attempt and takes it off the queue
// if no worker has it yet.
func (d *Dispatcher) cancel(exec, attempt string, seq uint64) {
	_ = d.nc.Publish(d.cfg.cancelSubject(exec, attempt), nil)
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
	defer stop()
	_ = d.l.attempts.DeleteMsg(ctx, seq)
}

// clearEarlier, the first time this sidecar runs an attempt of an
// execution, cancels and takes off the queue what an earlier sidecar
// left of it (it is being resumed: its unfinished tasks run again).
func (d *Dispatcher) clearEarlier(ctx context.Context, exec string) {
	d.mu.Lock()
	done := d.cleared[exec]
	d.cleared[exec] = true
	d.mu.Unlock()
	if done {
		return
	}
	_ = d.nc.Publish(d.cfg.cancelSubject(exec, ""), nil)
	_ = d.l.attempts.Purge(ctx, jetstream.WithPurgeSubject(d.cfg.attemptSubject(exec, ">")))
}

// bringBack makes the task's folder hold what the worker's did: files
// fetched (and checked) where they differ, the others removed.
func (d *Dispatcher) bringBack(ctx context.Context, job *engine.Job, outputs []fileRef) error {
	if err := job.EnsureDir(); err != nil {
		return err
	}
	dest, err := statedir.Open(job.Dir)
	if err != nil {
		return fmt.Errorf("bring the worker's files back: %w", err)
	}
	defer dest.Close()
	have, err := list(job.Dir, "", nil)
	if err != nil {
		return fmt.Errorf("bring the worker's files back: %w", err)
	}
	current := map[string]fileRef{}
	for _, r := range have {
		current[r.Path] = r
	}
	wanted := map[string]bool{}
	for _, r := range outputs {
		p := path.Clean(r.Path)
		wanted[p] = true
		if c, ok := current[p]; ok && c.SHA256 == r.SHA256 && c.Exec == r.Exec {
			continue
		}
		if err := d.files.fetch(ctx, dest, p, r); err != nil {
			return fmt.Errorf("bring the worker's files back: %w", err)
		}
	}
	for p := range current {
		if !wanted[p] {
			if err := dest.Remove(p); err != nil {
				return fmt.Errorf("bring the worker's files back: %w", err)
			}
		}
	}
	return nil
}
