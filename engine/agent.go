package engine

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Job is what an agent is given for one attempt of one task.
type Job struct {
	ExecutionID string
	Task        *Task
	// Workflow is the workflow the task is part of.
	Workflow    *Workflow
	Attempt     int
	MaxAttempts int
	// Dir is the task's staging folder: the worker writes its deliverables
	// here, the QC agent reads them. It exists once EnsureDir has been
	// called; agents that use it call that first.
	Dir string
	// StagingRoot holds every task's folder, so a task can read what the
	// tasks it depends on produced (StagingRoot/<dependency id>/…).
	StagingRoot string
	// WorkflowDir is the folder of the workflow file (or the workspace for
	// inline workflows): where a workflow's own scripts live.
	WorkflowDir string
	// Workspace is the workspace root.
	Workspace string
	// Gap is the last failed QC's gap, nil on the first attempt; GapFile is
	// the same as JSON on disk for commands ("" when Gap is nil).
	Gap     *Gap
	GapFile string
	// Change, for the QC agent of an isolated task, is what the worker
	// changed in the task's worktree (Dir); nil otherwise.
	Change *AttemptChange

	// isolated jobs work in a worktree the engine made (Dir), not a
	// staging folder.
	isolated bool

	// report emits an event of the attempt, its task's and attempt's
	// fields filled in.
	report func(name string, data EventData)
	// sandbox is the fence of the commands the agent of a phase starts
	// (nil: none).
	sandbox func(phase string) sandbox.Policy
}

// EnsureDir creates the task's staging folder if it is not there yet. The
// engine leaves that to the agents that use a folder, so an in-process agent
// costs no filesystem work.
//
// The folder is made through the staging folder's state-folder handle: a
// link planted at the task's name (a cloned .mimir/ can hold one) is
// refused, never followed, so neither the agent's commands nor the fence
// that lets them write their folder are pointed elsewhere.
func (j *Job) EnsureDir() error {
	if j.isolated {
		return nil
	}
	root := j.StagingRoot
	if root == "" { // a job made by hand: its folder's parent holds it
		root = filepath.Dir(j.Dir)
	}
	rel, err := filepath.Rel(root, j.Dir)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("create staging folder of task %s: %s is not inside %s", j.Task.ID, j.Dir, root)
	}
	staging, err := statedir.Open(root)
	if err == nil {
		err = staging.MkdirAll(filepath.ToSlash(rel), 0o755)
		staging.Close()
	}
	if err != nil {
		return fmt.Errorf("create staging folder of task %s: %w", j.Task.ID, err)
	}
	return nil
}

// ToolCall reports a tool call the agent makes, as it happens.
func (j *Job) ToolCall(tool, summary string) {
	j.emit(EventWorkerToolCall, EventData{Phase: PhaseWorker, Tool: tool, Summary: summary, Message: "🔧 " + tool + ": " + summary})
}

// AgentToolCall reports a tool call of an agent that says its kind and
// status (an ACP agent's), in either phase; one call may be reported
// again as its status changes.
func (j *Job) AgentToolCall(phase, title, kind, status string) {
	j.emit(EventWorkerToolCall, EventData{Phase: phase, Tool: title, Kind: kind, ToolStatus: status, Summary: status, Message: "🔧 " + title + " (" + status + ")"})
}

// AgentMessage reports what an agent said: kind is "message", "thought"
// or "plan".
func (j *Job) AgentMessage(phase, kind, text string) {
	j.emit(EventAgentMessage, EventData{Phase: phase, Kind: kind, Summary: text, Message: "💬 " + text})
}

// Permission reports a permission an agent asked for and the answer.
func (j *Job) Permission(phase, tool string, allowed bool, reason string) {
	msg := "🔓 allowed: " + tool
	if !allowed {
		msg = "🔒 refused: " + tool
	}
	j.emit(EventAgentPermission, EventData{Phase: phase, Tool: tool, OK: ptr(allowed), Reason: reason, Message: msg + " (" + reason + ")"})
}

// Usage reports the tokens an agent used.
func (j *Job) Usage(phase string, in, out, total int) {
	j.emit(EventAgentUsage, EventData{Phase: phase, Tokens: ptr(total), InTokens: ptr(in), OutTokens: ptr(out),
		Message: fmt.Sprintf("🪙 %d tokens (%d in, %d out)", total, in, out)})
}

func (j *Job) emit(name string, data EventData) {
	if j.report != nil {
		j.report(name, data)
	}
}

// WorkResult is what a worker reports about an attempt that ran to the end.
type WorkResult struct {
	ToolCalls int
	// Worker names the worker process that ran a dispatched attempt.
	Worker string
	// Output is a bounded tail of what the worker printed, for the gap when
	// it fails and for people reading the execution later.
	Output string
}

// Verdict is a QC agent's judgement of an attempt.
type Verdict struct {
	Passed bool
	Score  int
	Gap    Gap
	// Worker names the worker process that ran a dispatched check.
	Worker string
}

// Worker does a task's work in its staging folder. An error means the
// attempt failed; the error's text goes into the gap handed to the next one.
type Worker interface {
	Work(ctx context.Context, job *Job) (WorkResult, error)
}

// QC checks a worker's attempt. An error means the check itself could not be
// done (the QC command crashed, the model was unreachable): that also fails
// the attempt, never passes it.
type QC interface {
	Check(ctx context.Context, job *Job) (Verdict, error)
}

// Agents builds the agents a workflow names, by type ("exec" when a spec
// names none). The engine ships none: whoever wires it up passes them
// (package engine/exec, engine/llm).
type Agents map[string]AgentKind

// AgentKind makes the worker and QC agents of one type.
type AgentKind struct {
	Worker func(task *Task, spec *AgentSpec) (Worker, error)
	QC     func(task *Task, spec *AgentSpec) (QC, error)
	// NoToolCalls says that its workers do not work through tool calls
	// (a command): worker-complete then says nothing of them, where
	// "0 tool calls" would only puzzle.
	NoToolCalls bool
}

// countsToolCalls reports whether the workers of spec's kind make tool
// calls, so that their count means something.
func (a Agents) countsToolCalls(spec *AgentSpec) bool {
	k, err := a.kind(spec)
	return err != nil || !k.NoToolCalls
}

func (a Agents) worker(wf *Workflow, t *Task) (Worker, error) {
	kind, err := a.kind(t.Worker)
	if err != nil {
		return nil, &AgentError{TaskID: t.ID, Role: "worker", Err: err}
	}
	w, err := kind.Worker(t, specFor(wf, t.Worker))
	if err != nil {
		return nil, &AgentError{TaskID: t.ID, Role: "worker", Err: err}
	}
	return w, nil
}

// AgentError says that a task's agent could not be set up: the agent type
// is not available, or its configuration is broken.
type AgentError struct {
	TaskID string
	Role   string // "worker" or "qc"
	Err    error
}

func (e *AgentError) Error() string { return fmt.Sprintf("task %s: %s: %v", e.TaskID, e.Role, e.Err) }

func (e *AgentError) Unwrap() error { return e.Err }

func (a Agents) qc(wf *Workflow, t *Task) (QC, error) {
	if t.QC == nil {
		return nil, nil
	}
	kind, err := a.kind(t.QC)
	if err != nil {
		return nil, &AgentError{TaskID: t.ID, Role: "qc", Err: err}
	}
	q, err := kind.QC(t, specFor(wf, t.QC))
	if err != nil {
		return nil, &AgentError{TaskID: t.ID, Role: "qc", Err: err}
	}
	return q, nil
}

// specFor is the spec an agent of wf is built from. An agent is given the
// task alone, so what only the workflow knows is filled into a copy (the
// workflow itself is never changed, so one workflow can be prepared
// concurrently): for llm agents, the workflow's provider and model where
// the agent names none, and the preamble file made absolute against the
// workflow's folder.
func specFor(wf *Workflow, spec *AgentSpec) *AgentSpec {
	if spec.Type != "llm" {
		return spec
	}
	s := *spec
	if d := wf.LLM; d != nil {
		// The workflow's model goes with its provider, and with the
		// configuration's default provider when it names none: it means
		// nothing to an agent that asks another one. An agent that names
		// a provider while the workflow names none gets that provider's
		// model, even if it names the default, which is not known here.
		if s.Model == "" && (s.Provider == "" || s.Provider == d.Provider) {
			s.Model = d.Model
		}
		if s.Provider == "" {
			s.Provider = d.Provider
		}
	}
	// The preamble file is made absolute only when it lies inside the
	// workflow's folder (the workspace, for an inline workflow): a
	// workflow from a cloned repository must not read, and send to a
	// model, a file from elsewhere, by ".." or through a symlink. One
	// that does not is left as written, relative, which the llm agent
	// refuses with what to change. Validation has refused absolute paths.
	if rel := filepath.FromSlash(s.PreambleFile); rel != "" && wf.Dir != "" && filepath.IsLocal(rel) {
		path := filepath.Join(wf.Dir, rel)
		if real, err := filepath.EvalSymlinks(path); err != nil {
			s.PreambleFile = path // missing or unreadable: the agent's read says which
		} else if base, err := filepath.EvalSymlinks(wf.Dir); err == nil {
			if inside, err := filepath.Rel(base, real); err == nil && filepath.IsLocal(inside) {
				s.PreambleFile = real
			}
		}
	}
	return &s
}

func (a Agents) kind(spec *AgentSpec) (AgentKind, error) {
	typ := spec.Type
	if typ == "" {
		typ = "exec"
	}
	k, ok := a[typ]
	if !ok || k.Worker == nil || k.QC == nil {
		return AgentKind{}, fmt.Errorf("agent type %q is not available in this sidecar", typ)
	}
	return k, nil
}
