package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mimir-sidecar/mimir-sidecar/internal/git"
	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// maxEventOutput bounds the output excerpt an event carries.
const maxEventOutput = 4 << 10

// runTask runs one task's attempts: worker, then QC; a failed QC with
// attempts left hands its gap to the next attempt's worker.
func (ex *Execution) runTask(t *Task) taskOutcome {
	ctx := ex.ctx
	title := t.DisplayTitle()
	maxAttempts := t.Attempts()
	ex.r.emit(ex, EventTaskStart, EventData{
		TaskID: t.ID, TaskTitle: title, MaxAttempts: maxAttempts, DependsOn: t.DependsOn,
		Message: msgTaskStart(title),
	})
	dir := filepath.Join(ex.StagingDir(), t.ID)
	worker, qc := ex.workers[t.ID], ex.qcs[t.ID]
	var base string // an isolated task's starting commit
	if t.Isolated() {
		var err error
		if base, err = ex.prepareWorktree(ctx, t); err != nil {
			if ctx.Err() != nil {
				return outcomeCancelled
			}
			if files, ok := git.IsConflict(err); ok {
				gap := &Gap{
					Feedback:      "The changes of the tasks this one depends on conflict, so it has no single state of the workspace to start from.",
					Issues:        files,
					RequiredFixes: []string{"Make the tasks this one depends on change different files or lines, or make one depend on the other."},
				}
				return ex.failTask(t, 0, gap, "its dependencies' changes conflict in "+strings.Join(files, ", "))
			}
			return ex.failTask(t, 0, nil, err.Error())
		}
		dir = ex.worktreeDir(t)
	}

	var gap *Gap
	lastFailed := "QC" // what failed the latest attempt, for task-fail's reason
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		job := &Job{
			ExecutionID: ex.id,
			Task:        t,
			Workflow:    ex.wf,
			Attempt:     attempt,
			MaxAttempts: maxAttempts,
			Dir:         dir,
			StagingRoot: ex.StagingDir(),
			WorkflowDir: ex.wf.Dir,
			Workspace:   ex.r.opts.Workspace,
			Gap:         gap,
			isolated:    t.Isolated(),
		}
		job.sandbox = func(phase string) sandbox.Policy {
			if phase == PhaseQC && t.QC != nil {
				return ex.sandbox.policy(PhaseQC, t.QC)
			}
			return ex.sandbox.policy(PhaseWorker, t.Worker)
		}
		job.report = func(name string, d EventData) {
			d.TaskID, d.TaskTitle, d.Attempt, d.MaxAttempts = t.ID, title, attempt, maxAttempts
			ex.r.emit(ex, name, d)
		}
		if gap != nil {
			path, err := ex.writeGap(t, attempt, gap)
			if err != nil {
				return ex.failTask(t, attempt, gap, err.Error())
			}
			job.GapFile = path
		}

		start := EventData{
			TaskID: t.ID, TaskTitle: title, Phase: PhaseWorker, Attempt: attempt, MaxAttempts: maxAttempts,
			Gap: gap, Message: msgWorkerStart(title),
		}
		sandboxFields(job.sandbox(PhaseWorker), &start)
		ex.r.emit(ex, EventWorkerStart, start)
		began := time.Now()
		// The task's timeout bounds each agent call on its own: the worker
		// here, QC below with a fresh one.
		res, err := callAgent(ctx, ex, t, PhaseWorker, attempt, func(ctx context.Context) (WorkResult, error) {
			return worker.Work(ctx, job)
		})
		took := time.Since(began)
		if ctx.Err() != nil {
			return outcomeCancelled
		}
		var toolCalls *int // nil: the worker makes none, and says nothing of them
		if ex.r.opts.Agents.countsToolCalls(t.Worker) {
			toolCalls = ptr(res.ToolCalls)
		}
		if err != nil {
			reason := describeFailure(err, t.TimeoutOrDefault())
			gap = &Gap{
				Feedback:      fmt.Sprintf("The worker failed on attempt %d: %s.", attempt, reason),
				Issues:        OutputIssues(res.Output),
				RequiredFixes: []string{},
			}
			if errors.Is(err, context.DeadlineExceeded) {
				gap.RequiredFixes = []string{fmt.Sprintf("Finish within the task's timeout of %s.", t.TimeoutOrDefault())}
			}
			ex.r.emit(ex, EventWorkerComplete, EventData{
				TaskID: t.ID, TaskTitle: title, Phase: PhaseWorker, Attempt: attempt, MaxAttempts: maxAttempts,
				DurationMs: ptr(took.Milliseconds()), ToolCalls: toolCalls, OK: ptr(false), Worker: res.Worker,
				Error: reason, Output: lastBytes(res.Output, maxEventOutput),
				Message: msgWorkerFailed(took, reason, attempt, maxAttempts),
			})
			lastFailed = "the worker"
			continue
		}
		ex.r.emit(ex, EventWorkerComplete, EventData{
			TaskID: t.ID, TaskTitle: title, Phase: PhaseWorker, Attempt: attempt, MaxAttempts: maxAttempts,
			DurationMs: ptr(took.Milliseconds()), ToolCalls: toolCalls, OK: ptr(true), Worker: res.Worker,
			Message: msgWorkerComplete(took, toolCalls),
		})
		var commit string
		if t.Isolated() {
			commit, job.Change, err = ex.captureChange(ctx, t, base, attempt)
			if ctx.Err() != nil {
				return outcomeCancelled
			}
			if err != nil {
				return ex.failTask(t, attempt, gap, err.Error())
			}
		}

		score := 100
		if qc != nil {
			start := EventData{
				TaskID: t.ID, TaskTitle: title, Phase: PhaseQC, Attempt: attempt, MaxAttempts: maxAttempts,
				Message: msgQCStart(title),
			}
			sandboxFields(job.sandbox(PhaseQC), &start)
			ex.r.emit(ex, EventQCStart, start)
			began := time.Now()
			v, err := callAgent(ctx, ex, t, PhaseQC, attempt, func(ctx context.Context) (Verdict, error) {
				return qc.Check(ctx, job)
			})
			took := time.Since(began)
			if ctx.Err() != nil {
				return outcomeCancelled
			}
			if err != nil {
				// A check that could not be made is a failure, never a pass.
				v = Verdict{Score: 0, Gap: Gap{
					Feedback:      "The QC check could not be completed: " + describeFailure(err, t.TimeoutOrDefault()) + ".",
					Issues:        []string{},
					RequiredFixes: []string{},
				}}
			}
			data := EventData{
				TaskID: t.ID, TaskTitle: title, Phase: PhaseQC, Attempt: attempt, MaxAttempts: maxAttempts,
				Passed: ptr(v.Passed), Score: ptr(v.Score), DurationMs: ptr(took.Milliseconds()), Worker: v.Worker,
			}
			if v.Passed {
				data.Message = msgQCPassed(v.Score)
			} else {
				g := Gap{Feedback: v.Gap.Feedback, Issues: nonNil(v.Gap.Issues), RequiredFixes: nonNil(v.Gap.RequiredFixes)}
				gap = &g
				data.Gap = gap
				data.Message = msgQCFailed(v.Score, attempt, maxAttempts)
			}
			ex.r.emit(ex, EventQCComplete, data)
			if !v.Passed {
				lastFailed = "QC"
				continue
			}
			score = v.Score
		}

		var changes *Changes
		if t.Isolated() {
			if changes, err = ex.deliverChange(t, commit, job.Change); err != nil {
				return ex.failTask(t, attempt, gap, err.Error())
			}
			dir = filepath.Join(ex.StagingDir(), t.ID)
		}
		found, err := collectDeliverables(dir, t.ID, t.Deliverables)
		if err != nil {
			return ex.failTask(t, attempt, gap, err.Error())
		}
		ex.storeDeliverables(found)
		ex.r.emit(ex, EventTaskComplete, EventData{
			TaskID: t.ID, TaskTitle: title, Attempt: attempt, MaxAttempts: maxAttempts,
			Score: ptr(score), Deliverables: found, Changes: changes, Message: msgTaskComplete(title, attempt, maxAttempts),
		})
		return outcomeCompleted
	}
	reason := lastFailed + " failed on the last attempt"
	if gap != nil && gap.Feedback != "" {
		// The reason is a line for a list; the gap beside it has it all.
		reason += ": " + truncate(gap.Feedback, maxReasonFeedback)
	}
	return ex.failTask(t, maxAttempts, gap, reason)
}

func (ex *Execution) failTask(t *Task, attempts int, gap *Gap, reason string) taskOutcome {
	ex.r.emit(ex, EventTaskFail, EventData{
		TaskID: t.ID, TaskTitle: t.DisplayTitle(), Attempt: attempts, MaxAttempts: t.Attempts(),
		Gap: gap, Error: reason, Message: msgTaskFail(t.DisplayTitle(), attempts),
	})
	return outcomeFailed
}

// writeGap puts the gap where a command can read it: beside the staging
// folders, not in them, so it never becomes a deliverable.
func (ex *Execution) writeGap(t *Task, attempt int, gap *Gap) (string, error) {
	data, err := json.MarshalIndent(gap, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode gap for task %s: %w", t.ID, err)
	}
	state, err := ex.r.stateDir()
	if err != nil {
		return "", fmt.Errorf("write gap for task %s: %w", t.ID, err)
	}
	name := executionFolder(ex.id) + "/gaps/" + t.ID + "." + strconv.Itoa(attempt) + ".json"
	if err := state.WriteFile(name, data, 0o644); err != nil {
		return "", fmt.Errorf("write gap for task %s: %w", t.ID, err)
	}
	return state.Join(name), nil
}

// callAgent calls one of t's agents (role names it: worker or qc) under
// the task's timeout. A panic in the agent fails the call, with an error
// that says so, instead of taking the sidecar and every other execution
// down with it.
func callAgent[T any](ctx context.Context, ex *Execution, t *Task, phase string, attempt int, f func(context.Context) (T, error)) (T, error) {
	role := map[string]string{PhaseWorker: "worker", PhaseQC: "QC"}[phase]
	stop := ex.heartbeat(t, phase, attempt)
	defer stop()
	return callWithTimeout(ctx, t.TimeoutOrDefault(), func(ctx context.Context) (v T, err error) {
		defer func() {
			if p := recover(); p != nil {
				ex.r.log.Error("an agent crashed", "execution", ex.id, "task", t.ID, "agent", role, "panic", p, "stack", string(debug.Stack()))
				var zero T
				v, err = zero, fmt.Errorf("task %s: the %s agent crashed: %v", t.ID, role, p)
			}
		}()
		return f(ctx)
	})
}

// heartbeat emits a task-heartbeat every HeartbeatEvery until stop is
// called, which waits for the last one: an editor then shows that a long
// agent call is alive, and for how long, with no event per second.
func (ex *Execution) heartbeat(t *Task, phase string, attempt int) (stop func()) {
	every := cmp.Or(ex.r.opts.HeartbeatEvery, DefaultHeartbeat)
	if every < 0 {
		return func() {}
	}
	began := time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				took := now.Sub(began)
				ex.r.emit(ex, EventTaskHeartbeat, EventData{
					TaskID: t.ID, TaskTitle: t.DisplayTitle(), Phase: phase, Attempt: attempt, MaxAttempts: t.Attempts(),
					DurationMs: ptr(took.Milliseconds()), Message: msgTaskHeartbeat(phase, t.DisplayTitle(), took),
				})
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// callWithTimeout bounds one agent call by the task's timeout.
func callWithTimeout[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := f(ctx)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("%w", context.DeadlineExceeded)
	}
	return v, err
}

func describeFailure(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %s", timeout)
	}
	return err.Error()
}

// maxReasonFeedback bounds, in characters, the gap feedback quoted in
// task-fail's reason.
const maxReasonFeedback = 200

// truncate cuts s to at most n characters, the last being "…" when cut,
// never in the middle of a character.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return s[:i] + "…"
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++ // never start in the middle of a character
	}
	return "…" + s[i:]
}

// nonNil is s, or an empty list for nil: a gap's lists are never null on
// the wire.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
