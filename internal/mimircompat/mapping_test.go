package mimircompat

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

func ptr[T any](v T) *T { return &v }

// sampleRun is an execution of two tasks, a and b: a's first QC fails, its
// second passes; b fails. Every event of ours the table knows is in it,
// with every field it maps set.
func sampleRun() []engine.Event {
	t0 := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	gap := &engine.Gap{Feedback: "too short", Issues: []string{"one line"}, RequiredFixes: []string{"write two"}}
	dl := []engine.Deliverable{{Path: "a/report.md", Size: 12, SHA256: "x"}, {Path: "a/data.bin", Size: 3, SHA256: "y"}}
	evs := []engine.Event{
		{Event: engine.EventExecutionStart, Time: at(0), Data: engine.EventData{Workflow: "w", Tasks: ptr(2), Message: "🚀 start"}},
		{Event: engine.EventExecutionWarning, Time: at(1), Data: engine.EventData{Warning: "no-sandbox", Message: "⚠️"}},
		{Event: engine.EventTaskStart, Time: at(10), Data: engine.EventData{TaskID: "a", TaskTitle: "A", MaxAttempts: 2, Message: "start a"}},
		{Event: engine.EventWorkerStart, Time: at(11), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "worker", Attempt: 1, MaxAttempts: 2, Message: "🤖 Worker executing: A"}},
		{Event: engine.EventWorkerToolCall, Time: at(12), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "worker", Attempt: 1, Tool: "write_file", Summary: "report.md", Message: "🔧 write_file: report.md"}},
		{Event: engine.EventAgentMessage, Time: at(13), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "worker", Attempt: 1, Kind: "message", Summary: "writing the report", Message: "💬 writing the report"}},
		{Event: engine.EventAgentUsage, Time: at(14), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "worker", Attempt: 1, Tokens: ptr(30), InTokens: ptr(20), OutTokens: ptr(10), Message: "🪙"}},
		{Event: engine.EventAgentPermission, Time: at(15), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "worker", Tool: "edit", OK: ptr(true), Message: "🔓"}},
		{Event: engine.EventWorkerComplete, Time: at(20), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "worker", Attempt: 1, MaxAttempts: 2, DurationMs: ptr(int64(9)), ToolCalls: ptr(1), OK: ptr(true), Message: "✅ Worker completed (0.0s, 1 tool calls)"}},
		{Event: engine.EventQCStart, Time: at(21), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "qc", Attempt: 1, MaxAttempts: 2, Message: "🔍 QC verifying: A"}},
		{Event: engine.EventQCComplete, Time: at(22), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "qc", Attempt: 1, MaxAttempts: 2, Passed: ptr(false), Score: ptr(35), Gap: gap, Message: "❌ QC failed (Score: 35/100) - Retrying (1/1)"}},
		{Event: engine.EventWorkerStart, Time: at(23), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Phase: "worker", Attempt: 2, MaxAttempts: 2, Gap: gap, Message: "🤖 Worker executing: A"}},
		{Event: engine.EventTaskComplete, Time: at(110), Data: engine.EventData{TaskID: "a", TaskTitle: "A", Attempt: 2, MaxAttempts: 2, Score: ptr(90), Deliverables: dl, Message: "✅ a"}},
		{Event: engine.EventTaskStart, Time: at(120), Data: engine.EventData{TaskID: "b", TaskTitle: "B", MaxAttempts: 1, Message: "start b"}},
		{Event: engine.EventTaskFail, Time: at(150), Data: engine.EventData{TaskID: "b", TaskTitle: "B", Attempt: 1, MaxAttempts: 1, Error: "the worker failed on the last attempt", Message: "⚠️ b"}},
		{Event: engine.EventTaskSkipped, Time: at(151), Data: engine.EventData{TaskID: "c", TaskTitle: "C", Reason: "dependency b did not complete", FailedDependency: "b", Message: "⏭️"}},
		{Event: engine.EventExecutionComplete, Time: at(160), Data: engine.EventData{Status: "failed", DurationMs: ptr(int64(160)), Tasks: ptr(2), CompletedTasks: ptr(1), FailedTasks: ptr(1), SkippedTasks: ptr(0), Deliverables: dl, Message: "done"}},
		{Event: engine.EventDeliverablesSaved, Time: at(170), Data: engine.EventData{Target: "deliverables", Saved: ptr(2), Failed: ptr(0), Message: "💾"}},
		{Event: engine.EventChangesApplied, Time: at(171), Data: engine.EventData{Applied: ptr(0), Conflicts: ptr(0), Message: "applied"}},
		{Event: engine.EventChangesDiscarded, Time: at(172), Data: engine.EventData{Message: "discarded"}},
		{Event: engine.EventExecutionCancelled, Time: at(180), Data: engine.EventData{Reason: "cancelled by the user", DurationMs: ptr(int64(180)), Deliverables: dl, Message: "⛔ cancelled"}},
		{Event: engine.EventExecutionInterrupted, Time: at(190), Data: engine.EventData{Reason: "the sidecar stopped while it ran", Message: "interrupted"}},
	}
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		evs[i].ExecutionID = "ex_1"
	}
	return evs
}

// want is what each made field says on the last event of its name in the
// sample, by our event name and Mimir's field: a field the table gains
// without an entry here fails the test.
var want = map[string]map[string]any{
	connectEvent:               {"status": "running", "taskStatuses": map[string]any{"a": "completed", "b": "executing", "c": "pending"}, "currentTaskId": "b"},
	engine.EventExecutionStart: {"executionId": "ex_1", "startTime": float64(time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC).UnixMilli())},
	engine.EventTaskStart:      {"progress": float64(2), "total": float64(2), "taskType": "agent"},
	engine.EventWorkerStart:    {"isRetry": true},
	engine.EventAgentUsage:     {"tokens": map[string]any{"input": float64(20), "output": float64(10)}},
	engine.EventTaskComplete:   {"status": "success", "duration": float64(100), "progress": float64(1), "total": float64(2), "taskType": "agent"},
	engine.EventTaskFail:       {"status": "failure", "duration": float64(30), "progress": float64(2), "total": float64(2), "taskType": "agent"},
	engine.EventExecutionComplete: {"executionId": "ex_1", "successful": float64(1), "failed": float64(1), "cancelled": false, "completed": float64(2), "total": float64(2),
		"deliverables": []any{map[string]any{"filename": "a/report.md", "size": float64(12), "mimeType": "text/markdown"}, map[string]any{"filename": "a/data.bin", "size": float64(3), "mimeType": "application/octet-stream"}},
		"results":      []any{map[string]any{"taskId": "a", "status": "success", "duration": float64(100)}, map[string]any{"taskId": "b", "status": "failure", "duration": float64(30)}}},
	engine.EventExecutionCancelled: {"executionId": "ex_1", "status": "cancelled", "successful": float64(1), "failed": float64(1), "cancelled": true, "completed": float64(2), "total": float64(2),
		"deliverables": []any{map[string]any{"filename": "a/report.md", "size": float64(12), "mimeType": "text/markdown"}, map[string]any{"filename": "a/data.bin", "size": float64(3), "mimeType": "application/octet-stream"}},
		"results":      []any{map[string]any{"taskId": "a", "status": "success", "duration": float64(100)}, map[string]any{"taskId": "b", "status": "failure", "duration": float64(30)}},
		"cancelledAt":  float64(time.Date(2026, 12, 3, 14, 0, 0, 180e6, time.UTC).UnixMilli())},
	engine.EventExecutionInterrupted: {"executionId": "ex_1", "status": "failed", "successful": float64(1), "failed": float64(1), "cancelled": false, "completed": float64(2), "total": float64(2),
		"results":      []any{map[string]any{"taskId": "a", "status": "success", "duration": float64(100)}, map[string]any{"taskId": "b", "status": "failure", "duration": float64(30)}},
		"deliverables": []any{}},
}

// TestEveryEventAndField runs the sample through the table and checks
// every field of every Mimir payload: one copied from ours has our value,
// one made has the value want gives, and nothing else is sent.
func TestEveryEventAndField(t *testing.T) {
	a := New(Options{})
	info := engine.Info{Summary: engine.Summary{Status: engine.StatusRunning, Tasks: 3}, TaskList: []engine.TaskInfo{
		{ID: "a", Status: engine.TaskCompleted}, {ID: "b", Status: engine.TaskRunning}, {ID: "c", Status: engine.TaskSkipped},
	}}
	st := newStreamState(info)
	seen := map[string]bool{}
	last := map[string]uint64{}
	for _, e := range sampleRun() {
		last[e.Event] = e.Seq
	}
	check := func(name string, final bool, m *eventMap, payload []byte, data map[string]json.RawMessage) {
		t.Helper()
		var got map[string]any
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatalf("%s: payload is not JSON: %v\n%s", name, err, payload)
		}
		var fields []string
		for _, f := range m.Fields {
			fields = append(fields, f.Mimir)
			v, ok := got[f.Mimir]
			if !ok {
				t.Errorf("%s → %s: field %s (from %s) is missing", name, m.Mimir, f.Mimir, f.From)
				continue
			}
			var exp any
			if ours, copied := strings.CutPrefix(f.From, "data."); copied && f.value == nil {
				if err := json.Unmarshal(data[ours], &exp); err != nil {
					t.Fatalf("%s: the sample has no %s: %v", name, f.From, err)
				}
			} else {
				if !final {
					continue
				}
				w, ok := want[name][f.Mimir]
				if !ok {
					t.Errorf("%s → %s: field %s (%s) has no expected value in this test", name, m.Mimir, f.Mimir, f.From)
					continue
				}
				exp = w
			}
			if fmt.Sprint(v) != fmt.Sprint(exp) {
				t.Errorf("%s → %s: %s = %v, want %v (from %s)", name, m.Mimir, f.Mimir, v, exp, f.From)
			}
		}
		for k := range got {
			if !slices.Contains(fields, k) {
				t.Errorf("%s → %s: field %s is not in the table", name, m.Mimir, k)
			}
		}
	}
	check(connectEvent, true, a.init, a.init.payload(st, nil), nil)
	for _, e := range sampleRun() {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := decodeEvent(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Event] = true
		st.observe(ev)
		m := a.events[e.Event]
		if m == nil {
			t.Errorf("event %s is not in the table", e.Event)
			continue
		}
		if m.Mimir == "" {
			if m.Note == "" {
				t.Errorf("event %s is not sent, and the table does not say why", e.Event)
			}
			continue
		}
		check(e.Event, last[e.Event] == e.Seq, m, m.payload(st, ev), ev.raw)
	}
	for name := range a.events {
		if !seen[name] {
			t.Errorf("the table maps %s but the sample has none: add one", name)
		}
	}
}
