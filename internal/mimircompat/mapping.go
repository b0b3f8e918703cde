package mimircompat

import (
	"bytes"
	"encoding/json"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// eventMap is how one of our events is told on Mimir's stream: under which
// name, with which fields. The table (eventTable) is the one place the
// mapping is written: the stream, the tests and docs/mimir-compat.md are
// all made from it.
type eventMap struct {
	// Ours is our event name; connectEvent for the frame sent on connect.
	Ours string
	// Mimir is Mimir's event name, "" when the event is not sent.
	Mimir string
	// Note says, for the docs, what differs from Mimir or why the event is
	// not sent.
	Note string
	// Terminal ends the stream after the event, as Mimir closes it after
	// its last event.
	Terminal bool
	Fields   []fieldMap
}

// connectEvent stands, in the table, for the stream being opened.
const connectEvent = "(stream opened)"

// fieldMap is one top-level field of a Mimir payload.
type fieldMap struct {
	Mimir string
	// From is where the value comes from, for the docs and the tests:
	// "data.<field>" is our payload's field of that name (copied as it is,
	// and left out when ours is absent), "executionId" and "time" the
	// envelope's, anything else a description of how it is made by value.
	From string
	Note string
	// value makes the field, nil for "data.<field>"; ok false leaves it
	// out.
	value func(st *streamState, ev *ourEvent) (v any, ok bool)
}

// ourEvent is one of our events as the stream reads it: the envelope
// decoded, and the payload's fields kept as JSON for the fields copied as
// they are.
type ourEvent struct {
	engine.Event
	raw map[string]json.RawMessage
}

func decodeEvent(envelope []byte, typed any) (*ourEvent, error) {
	var env struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, err
	}
	ev := &ourEvent{raw: env.Data}
	if e, ok := typed.(engine.Event); ok {
		ev.Event = e
	} else if err := json.Unmarshal(envelope, &ev.Event); err != nil {
		return nil, err
	}
	return ev, nil
}

// dataField is a payload field copied as it is.
func dataField(mimir, ours string) fieldMap {
	return fieldMap{Mimir: mimir, From: "data." + ours}
}

// constant is a field Mimir always sends with the same value here.
func constant(mimir string, v any, note string) fieldMap {
	b, _ := json.Marshal(v)
	return fieldMap{Mimir: mimir, From: "always " + string(b), Note: note, value: func(*streamState, *ourEvent) (any, bool) { return v, true }}
}

func computed(mimir, from, note string, f func(st *streamState, ev *ourEvent) (any, bool)) fieldMap {
	return fieldMap{Mimir: mimir, From: from, Note: note, value: f}
}

// eventTable is every event of ours, and the frame sent on connect, as
// Mimir's stream shows them (Mimir's src/api/orchestration-api.ts,
// workflow-executor.ts and task-executor.ts).
func eventTable() []eventMap {
	var (
		fieldExecutionID = computed("executionId", "executionId", "", func(_ *streamState, ev *ourEvent) (any, bool) { return ev.ExecutionID, true })
		fieldTaskID      = dataField("taskId", "taskId")
		fieldTaskTitle   = dataField("taskTitle", "taskTitle")
		fieldPhase       = dataField("phase", "phase")
		fieldMessage     = dataField("message", "message")
		fieldAttempt     = dataField("attemptNumber", "attempt")
		fieldTaskType    = constant("taskType", "agent", "Mimir's transformer (lambda) tasks are not supported")
		fieldTotal       = computed("total", "execution-start's data.tasks", "", func(st *streamState, _ *ourEvent) (any, bool) { return st.total, true })
		fieldResults     = computed("results", "each task-complete and task-fail so far: {taskId, status, duration}", "", func(st *streamState, _ *ourEvent) (any, bool) { return st.resultList(), true })
		fieldSuccessful  = computed("successful", "task-complete events so far", "", func(st *streamState, _ *ourEvent) (any, bool) { return st.successful, true })
		fieldFailed      = computed("failed", "task-fail events so far", "", func(st *streamState, _ *ourEvent) (any, bool) { return st.failed, true })
		fieldCompleted   = computed("completed", "successful + failed", "Mimir's count of tasks that ran", func(st *streamState, _ *ourEvent) (any, bool) { return st.successful + st.failed, true })
		fieldDuration    = dataField("totalDuration", "durationMs")
		fieldDelivs      = computed("deliverables", "data.deliverables as {filename: path, size, mimeType}", "filename is the path under the execution's staging folder (task id first); mimeType comes from the extension", func(_ *streamState, ev *ourEvent) (any, bool) {
			return mimirDeliverables(ev.Data.Deliverables), true
		})
		fieldTaskDuration = computed("duration", "ms since the task's task-start", "", func(st *streamState, ev *ourEvent) (any, bool) {
			return st.taskDuration(ev), true
		})
		fieldTaskProgress = computed("progress", "task-complete and task-fail events so far", "", func(st *streamState, _ *ourEvent) (any, bool) { return st.successful + st.failed, true })
	)
	return []eventMap{
		{Ours: connectEvent, Mimir: "init", Note: "sent first on every connection, without an id: the execution's state as it is now", Fields: []fieldMap{
			computed("status", "the execution's status", "running, completed, failed or cancelled (an interrupted execution is failed)", func(st *streamState, _ *ourEvent) (any, bool) { return mimirStatus(st.info.Status), true }),
			computed("taskStatuses", "each task's status by id", "pending, executing, completed or failed (skipped and cancelled tasks are pending: Mimir never ran them)", func(st *streamState, _ *ourEvent) (any, bool) { return taskStatuses(st.info.TaskList), true }),
			computed("currentTaskId", "the running task (the first, when several run)", "null when none runs", func(st *streamState, _ *ourEvent) (any, bool) { return currentTask(st.info.TaskList), true }),
		}},
		{Ours: engine.EventExecutionStart, Mimir: "execution-start", Fields: []fieldMap{
			fieldExecutionID,
			dataField("totalTasks", "tasks"),
			computed("startTime", "time (ms since the epoch)", "", func(_ *streamState, ev *ourEvent) (any, bool) { return ev.Time.UnixMilli(), true }),
		}},
		{Ours: engine.EventTaskStart, Mimir: "task-start", Note: "parallelGroup, which Mimir adds for a task of a group, is not sent", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle,
			computed("progress", "task-start events so far", "", func(st *streamState, _ *ourEvent) (any, bool) { return st.started, true }),
			fieldTotal, fieldTaskType,
		}},
		{Ours: engine.EventWorkerStart, Mimir: "worker-start", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle, fieldPhase, fieldAttempt,
			computed("isRetry", "data.attempt > 1", "", func(_ *streamState, ev *ourEvent) (any, bool) { return ev.Data.Attempt > 1, true }),
			fieldMessage,
		}},
		{Ours: engine.EventWorkerComplete, Mimir: "worker-complete", Note: "also sent for a worker that failed (Mimir sends nothing then)", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle, fieldPhase,
			dataField("duration", "durationMs"),
			dataField("toolCalls", "toolCalls"),
			fieldMessage,
		}},
		{Ours: engine.EventQCStart, Mimir: "qc-start", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle, fieldPhase, fieldAttempt, fieldMessage,
		}},
		{Ours: engine.EventQCComplete, Mimir: "qc-complete", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle, fieldPhase,
			dataField("passed", "passed"),
			dataField("score", "score"),
			fieldAttempt, fieldMessage,
			dataField("gap", "gap"),
		}},
		{Ours: engine.EventTaskComplete, Mimir: "task-complete", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle,
			constant("status", "success", ""),
			fieldTaskDuration, fieldTaskProgress, fieldTotal, fieldTaskType,
		}},
		{Ours: engine.EventTaskFail, Mimir: "task-fail", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle,
			constant("status", "failure", ""),
			fieldTaskDuration, fieldTaskProgress, fieldTotal, fieldTaskType,
			dataField("error", "error"),
		}},
		{Ours: engine.EventAgentMessage, Mimir: "agent-chatter", Note: "Mimir sends one preview per task; here each message of an ACP agent", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle,
			dataField("output", "summary"),
		}},
		{Ours: engine.EventWorkerToolCall, Mimir: "agent-chatter", Note: "each tool call as it is made", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle,
			dataField("output", "message"),
		}},
		{Ours: engine.EventAgentUsage, Mimir: "agent-chatter", Note: "the tokens an agent reports", Fields: []fieldMap{
			fieldTaskID, fieldTaskTitle,
			computed("tokens", "data.inputTokens, data.outputTokens as {input, output}", "", func(_ *streamState, ev *ourEvent) (any, bool) {
				return map[string]int{"input": deref(ev.Data.InTokens), "output": deref(ev.Data.OutTokens)}, true
			}),
		}},
		{Ours: engine.EventExecutionComplete, Mimir: "execution-complete", Terminal: true, Note: "the stream ends after it", Fields: []fieldMap{
			fieldExecutionID,
			dataField("status", "status"),
			fieldSuccessful, fieldFailed,
			constant("cancelled", false, ""),
			fieldCompleted, fieldTotal,
			withNote(fieldDuration, "the execution's wall time; Mimir adds up its tasks' durations"),
			fieldDelivs, fieldResults,
		}},
		{Ours: engine.EventExecutionCancelled, Mimir: "execution-cancelled", Terminal: true, Note: "sent once, at the end (Mimir sends it when asked to cancel and again at the end); the stream ends after it", Fields: []fieldMap{
			fieldExecutionID,
			constant("status", "cancelled", ""),
			fieldSuccessful, fieldFailed,
			constant("cancelled", true, ""),
			fieldCompleted, fieldTotal, fieldDuration, fieldDelivs, fieldResults,
			computed("cancelledAt", "time (ms since the epoch)", "", func(_ *streamState, ev *ourEvent) (any, bool) { return ev.Time.UnixMilli(), true }),
			fieldMessage,
		}},
		{Ours: engine.EventExecutionInterrupted, Mimir: "execution-complete", Terminal: true, Note: "the sidecar stopped while the execution ran; Mimir has no such event. The stream ends after it", Fields: []fieldMap{
			fieldExecutionID,
			constant("status", "failed", ""),
			fieldSuccessful, fieldFailed,
			constant("cancelled", false, ""),
			fieldCompleted, fieldTotal, fieldResults,
			constant("deliverables", []any{}, ""),
			fieldMessage,
		}},
		{Ours: engine.EventTaskSkipped, Note: "Mimir stops after a failed group and says nothing of the tasks it never ran"},
		{Ours: engine.EventExecutionWarning, Note: "Mimir has no such event; our stream (/events) has it"},
		{Ours: engine.EventAgentPermission, Note: "Mimir has no such event; our stream (/events) has it"},
		{Ours: engine.EventDeliverablesSaved, Note: "Mimir keeps deliverables in memory and never saves them into a workspace"},
		{Ours: engine.EventChangesApplied, Note: "Mimir has no isolated tasks"},
		{Ours: engine.EventChangesDiscarded, Note: "Mimir has no isolated tasks"},
	}
}

func withNote(f fieldMap, note string) fieldMap {
	f.Note = note
	return f
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// payload encodes the event as Mimir sends it: the table's fields, in its order;
// ev is nil for init.
func (m *eventMap) payload(st *streamState, ev *ourEvent) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for i := range m.Fields {
		f := &m.Fields[i]
		var val []byte
		if f.value == nil {
			if ev == nil {
				continue
			}
			raw, ok := ev.raw[strings.TrimPrefix(f.From, "data.")]
			if !ok {
				continue
			}
			val = raw
		} else {
			v, ok := f.value(st, ev)
			if !ok {
				continue
			}
			var err error
			if val, err = json.Marshal(v); err != nil {
				continue
			}
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		key, _ := json.Marshal(f.Mimir)
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// streamState is what Mimir's payloads count, folded from one execution's
// events in order.
type streamState struct {
	info       engine.Info // for init
	total      int
	started    int
	successful int
	failed     int
	taskStart  map[string]time.Time
	results    []taskResult
}

type taskResult struct {
	TaskID   string `json:"taskId"`
	Status   string `json:"status"`
	Duration int64  `json:"duration"`
}

func newStreamState(info engine.Info) *streamState {
	return &streamState{info: info, total: info.Tasks, taskStart: map[string]time.Time{}}
}

// observe folds ev into the counts; called for every event of the
// execution before it is told, the ones a resumed stream skips included.
func (st *streamState) observe(ev *ourEvent) {
	switch ev.Event.Event {
	case engine.EventExecutionStart:
		if ev.Data.Tasks != nil {
			st.total = *ev.Data.Tasks
		}
	case engine.EventTaskStart:
		st.started++
		st.taskStart[ev.Data.TaskID] = ev.Time
	case engine.EventTaskComplete:
		st.successful++
		st.results = append(st.results, taskResult{ev.Data.TaskID, "success", st.taskDuration(ev)})
	case engine.EventTaskFail:
		st.failed++
		st.results = append(st.results, taskResult{ev.Data.TaskID, "failure", st.taskDuration(ev)})
	}
}

func (st *streamState) taskDuration(ev *ourEvent) int64 {
	began, ok := st.taskStart[ev.Data.TaskID]
	if !ok {
		return 0
	}
	return ev.Time.Sub(began).Milliseconds()
}

func (st *streamState) resultList() []taskResult {
	if st.results == nil {
		return []taskResult{}
	}
	return st.results
}

// mimirStatus is an execution status as Mimir names it.
func mimirStatus(s string) string {
	switch s {
	case engine.StatusCompleted, engine.StatusCancelled, engine.StatusRunning:
		return s
	}
	return engine.StatusFailed
}

func taskStatuses(tasks []engine.TaskInfo) map[string]string {
	out := make(map[string]string, len(tasks))
	for _, t := range tasks {
		switch t.Status {
		case engine.TaskRunning:
			out[t.ID] = "executing"
		case engine.TaskCompleted, engine.TaskFailed:
			out[t.ID] = t.Status
		default:
			out[t.ID] = "pending"
		}
	}
	return out
}

func currentTask(tasks []engine.TaskInfo) any {
	for _, t := range tasks {
		if t.Status == engine.TaskRunning {
			return t.ID
		}
	}
	return nil
}

// deliverable is a file as Mimir lists it.
type deliverable struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
}

func mimirDeliverables(ds []engine.Deliverable) []deliverable {
	out := make([]deliverable, len(ds))
	for i, d := range ds {
		out[i] = deliverable{Filename: d.Path, Size: d.Size, MimeType: mimeType(d.Path)}
	}
	return out
}

func mimeType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	// The types of the files agents write most are fixed here, so that
	// the answer does not depend on the machine's mime.types.
	switch ext {
	case ".md", ".markdown":
		return "text/markdown"
	case ".txt", ".log", ".ts", ".go", ".py", ".sh", ".diff", ".patch":
		return "text/plain"
	case ".json":
		return "application/json"
	case ".yaml", ".yml":
		return "application/yaml"
	case ".csv":
		return "text/csv"
	case ".html", ".htm":
		return "text/html"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
