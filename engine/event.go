package engine

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event names, as clients match on them. See docs/protocol.md.
const (
	EventExecutionStart     = "execution-start"
	EventTaskStart          = "task-start"
	EventWorkerStart        = "worker-start"
	EventWorkerToolCall     = "worker-tool-call"
	EventWorkerComplete     = "worker-complete"
	EventQCStart            = "qc-start"
	EventQCComplete         = "qc-complete"
	EventTaskComplete       = "task-complete"
	EventTaskFail           = "task-fail"
	EventTaskSkipped        = "task-skipped"
	EventExecutionComplete  = "execution-complete"
	EventExecutionCancelled = "execution-cancelled"
	// EventExecutionInterrupted is recorded on start for an execution that
	// was running when the previous sidecar stopped.
	EventExecutionInterrupted = "execution-interrupted"
	EventDeliverablesSaved    = "deliverables-saved"
	// EventChangesApplied says what applying isolated tasks' changes to
	// the workspace did, per file; EventChangesDiscarded that they were
	// discarded (their worktrees removed).
	EventChangesApplied   = "changes-applied"
	EventChangesDiscarded = "changes-discarded"
	// EventTaskWaiting says an attempt was handed to the workers (see
	// Dispatcher) and none has taken it yet.
	EventTaskWaiting = "task-waiting"
	// EventTaskHeartbeat says an agent is still at work on a task, how
	// long it has been (durationMs): one every Options.HeartbeatEvery
	// while an agent call lasts, so that a long one does not look hung.
	EventTaskHeartbeat = "task-heartbeat"
	// EventExecutionWarning says, once per execution, what the user must
	// know about how it runs (no sandbox on this system, say).
	EventExecutionWarning = "execution-warning"
	// EventAgentMessage is what an ACP agent says as it works (its
	// message, thoughts or plan), coalesced into a few events.
	EventAgentMessage = "agent-message"
	// EventAgentPermission is a permission an ACP agent asked for, and the
	// answer the workflow's policy gave.
	EventAgentPermission = "agent-permission"
	// EventAgentUsage is the tokens an agent reports having used.
	EventAgentUsage = "agent-usage"
)

// knownEvent reports whether name is one of the events above, the only
// ones a journal row may hold: a new event is added to both.
func knownEvent(name string) bool {
	switch name {
	case EventExecutionStart, EventTaskStart, EventWorkerStart, EventWorkerToolCall,
		EventWorkerComplete, EventQCStart, EventQCComplete, EventTaskComplete,
		EventTaskFail, EventTaskSkipped, EventExecutionComplete, EventExecutionCancelled,
		EventExecutionInterrupted, EventDeliverablesSaved, EventExecutionWarning,
		EventAgentMessage, EventAgentPermission, EventAgentUsage,
		EventChangesApplied, EventChangesDiscarded, EventTaskWaiting:
		return true
	}
	return false
}

// Phases named in event data.
const (
	PhaseWorker = "worker"
	PhaseQC     = "qc"
)

// Event is the envelope every channel carries.
type Event struct {
	Seq         uint64    `json:"seq"`
	ExecutionID string    `json:"executionId"`
	Event       string    `json:"event"`
	Time        time.Time `json:"time"`
	Data        EventData `json:"data"`
	// Encoded is the event's JSON once the journal has made it, so that
	// listeners send those bytes instead of encoding the event again.
	Encoded json.RawMessage `json:"-"`
}

// Encode returns the event's JSON: the journal's, or a new encoding.
func (e *Event) Encode() ([]byte, error) {
	if e.Encoded != nil {
		return e.Encoded, nil
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s event %d: %w", e.Event, e.Seq, err)
	}
	return data, nil
}

// EventData is one struct for every event's payload rather than a type per
// event: encoding stays reflection-cheap and a client reads one shape. Fields
// whose zero value means something (passed, score, ok, counts) are pointers so
// that they are present exactly when the event defines them.
type EventData struct {
	TaskID      string   `json:"taskId,omitempty"`
	TaskTitle   string   `json:"taskTitle,omitempty"`
	Phase       string   `json:"phase,omitempty"`
	Attempt     int      `json:"attempt,omitempty"`
	MaxAttempts int      `json:"maxAttempts,omitempty"`
	DependsOn   []string `json:"dependsOn,omitempty"`

	DurationMs *int64 `json:"durationMs,omitempty"`
	ToolCalls  *int   `json:"toolCalls,omitempty"`
	OK         *bool  `json:"ok,omitempty"`
	Passed     *bool  `json:"passed,omitempty"`
	Score      *int   `json:"score,omitempty"`
	Gap        *Gap   `json:"gap,omitempty"`
	Error      string `json:"error,omitempty"`
	Output     string `json:"output,omitempty"`

	// Sandbox and Network say how the kernel fences an attempt's
	// processes (worker-start, qc-start); Warning is execution-warning's
	// code.
	Sandbox string `json:"sandbox,omitempty"`
	Network string `json:"network,omitempty"`
	Warning string `json:"warning,omitempty"`

	Tool    string `json:"tool,omitempty"`
	Summary string `json:"summary,omitempty"`
	// Worker names the worker process that ran a remote attempt.
	Worker string `json:"worker,omitempty"`
	// Kind is what an agent-message holds ("message", "thought",
	// "plan") or an ACP tool call's kind ("edit", "execute", …); Status
	// an ACP tool call's ("pending", "completed", …).
	Kind       string `json:"kind,omitempty"`
	ToolStatus string `json:"toolStatus,omitempty"`
	Tokens     *int   `json:"tokens,omitempty"`
	InTokens   *int   `json:"inputTokens,omitempty"`
	OutTokens  *int   `json:"outputTokens,omitempty"`

	Reason           string `json:"reason,omitempty"`
	FailedDependency string `json:"failedDependency,omitempty"`

	Workflow       string `json:"workflow,omitempty"`
	WorkflowPath   string `json:"workflowPath,omitempty"`
	Parallelism    int    `json:"parallelism,omitempty"`
	Resumed        bool   `json:"resumed,omitempty"`
	Status         string `json:"status,omitempty"`
	Tasks          *int   `json:"tasks,omitempty"`
	CompletedTasks *int   `json:"completedTasks,omitempty"`
	FailedTasks    *int   `json:"failedTasks,omitempty"`
	SkippedTasks   *int   `json:"skippedTasks,omitempty"`

	// Deliverables is non-nil (possibly empty) on the events that report them,
	// so clients always find a list there.
	Deliverables []Deliverable `json:"deliverables,omitzero"`
	// Changes is an isolated task's change (task-complete).
	Changes *Changes `json:"changes,omitempty"`

	Target  string `json:"target,omitempty"`
	Saved   *int   `json:"saved,omitempty"`
	Failed  *int   `json:"failed,omitempty"`
	Results any    `json:"results,omitzero"`

	// Applied and Conflicts count the files of changes-applied; Branch
	// is the branch the change was committed on.
	Applied   *int   `json:"applied,omitempty"`
	Conflicts *int   `json:"conflicts,omitempty"`
	Branch    string `json:"branch,omitempty"`

	Message string `json:"message"`
}

// Gap is what a failed QC hands back to the worker for its next attempt.
type Gap struct {
	Feedback      string   `json:"feedback"`
	Issues        []string `json:"issues"`
	RequiredFixes []string `json:"requiredFixes"`
}

// Deliverable is a file an execution produced. Path is the task id followed by
// the file's path inside that task's staging folder, slash-separated.
type Deliverable struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func ptr[T any](v T) *T { return &v }
