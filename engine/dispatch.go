package engine

import (
	"context"
	"fmt"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// A Dispatcher runs attempts somewhere else (package engine/remote hands
// them to worker processes over NATS JetStream). The engine keeps the
// scheduling, retries, the gap hand-off, the journal and the seq: a
// dispatcher only runs one worker or QC call and reports what happened,
// relaying its agent's events through [Job.Relay]. Tasks with isolation
// run here all the same: their worktree is on this machine.
type Dispatcher interface {
	Work(ctx context.Context, job *Job) (WorkResult, error)
	Check(ctx context.Context, job *Job) (Verdict, error)
}

// Relay emits an event a remote attempt's agent reported: only the events
// an agent itself reports (tool calls, messages, permissions, usage) and
// task-waiting, with the attempt's task fields filled in by the engine,
// never the remote side's.
func (j *Job) Relay(name string, d EventData) error {
	switch name {
	case EventWorkerToolCall, EventAgentMessage, EventAgentPermission, EventAgentUsage, EventTaskWaiting:
	default:
		return fmt.Errorf("relay %q: not an event an attempt reports", name)
	}
	if d.Phase != PhaseWorker && d.Phase != PhaseQC && name != EventTaskWaiting {
		return fmt.Errorf("relay %s: phase %q is neither worker nor qc", name, d.Phase)
	}
	j.emit(name, EventData{
		Phase: d.Phase, Tool: truncate(d.Tool, 200), Summary: truncate(d.Summary, maxEventOutput),
		Kind: truncate(d.Kind, 40), ToolStatus: truncate(d.ToolStatus, 40), OK: d.OK, Reason: truncate(d.Reason, 500),
		Tokens: d.Tokens, InTokens: d.InTokens, OutTokens: d.OutTokens,
		Worker: truncate(d.Worker, 100), Message: truncate(d.Message, maxEventOutput),
	})
	return nil
}

// AttemptSpec is one attempt as a worker process elsewhere runs it: the
// workflow (parsed from the source the sidecar sent) and where the task's
// files were laid out on this machine.
type AttemptSpec struct {
	ExecutionID string
	Workflow    *Workflow
	TaskID      string
	Phase       string // PhaseWorker or PhaseQC
	Attempt     int
	MaxAttempts int
	Gap         *Gap
	GapFile     string
	// Dir is the task's folder, StagingRoot the folder holding it and the
	// folders of the tasks it depends on; WorkflowDir the workflow's own
	// files; Workspace what commands see as the workspace.
	Dir, StagingRoot, WorkflowDir, Workspace string
}

// AttemptResult is what an attempt run with RunAttempt came to: the
// worker's result or the QC's verdict, and the error that failed it.
type AttemptResult struct {
	Work    WorkResult
	Verdict Verdict
	Err     error
}

// RunAttempt runs one attempt of a task, with the agents and the sandbox of
// this machine, under the task's timeout, reporting its agent's events to
// report: what a worker process does with an attempt it took.
func RunAttempt(ctx context.Context, a AttemptSpec, agents Agents, fence SandboxSettings, report func(name string, d EventData)) AttemptResult {
	wf := a.Workflow
	var t *Task
	for _, x := range wf.Tasks {
		if x.ID == a.TaskID {
			t = x
		}
	}
	if t == nil {
		return AttemptResult{Err: fmt.Errorf("the workflow %s has no task %q", wf.Name, a.TaskID)}
	}
	plan, err := planSandbox(wf, fence)
	if err != nil {
		return AttemptResult{Err: err}
	}
	job := &Job{
		ExecutionID: a.ExecutionID, Task: t, Workflow: wf, Attempt: a.Attempt, MaxAttempts: a.MaxAttempts,
		Dir: a.Dir, StagingRoot: a.StagingRoot, WorkflowDir: a.WorkflowDir, Workspace: a.Workspace,
		Gap: a.Gap, GapFile: a.GapFile, report: report,
	}
	job.sandbox = func(phase string) sandbox.Policy {
		if phase == PhaseQC && t.QC != nil {
			return plan.policy(PhaseQC, t.QC)
		}
		return plan.policy(PhaseWorker, t.Worker)
	}
	crashed := func(role string, p any) error { return fmt.Errorf("task %s: the %s agent crashed: %v", t.ID, role, p) }
	switch a.Phase {
	case PhaseWorker:
		w, err := agents.worker(wf, t)
		if err != nil {
			return AttemptResult{Err: err}
		}
		res, err := callWithTimeout(ctx, t.TimeoutOrDefault(), func(ctx context.Context) (res WorkResult, err error) {
			defer func() {
				if p := recover(); p != nil {
					err = crashed("worker", p)
				}
			}()
			return w.Work(ctx, job)
		})
		return AttemptResult{Work: res, Err: err}
	case PhaseQC:
		q, err := agents.qc(wf, t)
		if err != nil || q == nil {
			return AttemptResult{Err: fmt.Errorf("task %s has no QC agent to run: %v", t.ID, err)}
		}
		v, err := callWithTimeout(ctx, t.TimeoutOrDefault(), func(ctx context.Context) (v Verdict, err error) {
			defer func() {
				if p := recover(); p != nil {
					err = crashed("QC", p)
				}
			}()
			return q.Check(ctx, job)
		})
		return AttemptResult{Verdict: v, Err: err}
	}
	return AttemptResult{Err: fmt.Errorf("phase %q is neither worker nor qc", a.Phase)}
}

// dispatched are the agents of a task whose attempts a Dispatcher runs.
type dispatchedWorker struct{ d Dispatcher }

func (w dispatchedWorker) Work(ctx context.Context, job *Job) (WorkResult, error) {
	return w.d.Work(ctx, job)
}

type dispatchedQC struct{ d Dispatcher }

func (q dispatchedQC) Check(ctx context.Context, job *Job) (Verdict, error) {
	return q.d.Check(ctx, job)
}
