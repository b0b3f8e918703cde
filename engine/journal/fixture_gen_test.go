package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// TestWriteV2Fixture writes testdata/journal-v2.db with this (schema 2)
// code, for the migration test: MIMIR_WRITE_FIXTURE=1 go test -run TestWriteV2Fixture.
func TestWriteV2Fixture(t *testing.T) {
	if os.Getenv("MIMIR_WRITE_FIXTURE") == "" {
		t.Skip("writes the fixture only when asked")
	}
	state, ws := t.TempDir(), t.TempDir()
	agent := funcAgent{work: func(_ context.Context, j *engine.Job) (engine.WorkResult, error) {
		if j.Task.ID == "fb" {
			return engine.WorkResult{}, errors.New("b cannot")
		}
		j.EnsureDir()
		return engine.WorkResult{}, os.WriteFile(filepath.Join(j.Dir, "out.txt"), []byte(j.Task.ID), 0o644)
	}}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(agent)})
	for _, src := range []string{twoTasks, `name: fails
tasks:
  - {id: a, worker: {type: exec, command: "true"}}
  - {id: fb, dependsOn: [a], maxRetries: 0, worker: {type: exec, command: "true"}}
  - {id: c, dependsOn: [fb], worker: {type: exec, command: "true"}}
`, twoTasks} {
		ex, err := r.Execute(parsedWorkflow(t, src), engine.ExecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		<-ex.Done()
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// One cut off by a crash: its start and a task's, and no end.
	j := openJournal(t, state)
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	last, _ := j.LastSeq()
	id := "ex_01KBHZ0000000000000000CRSH"
	wf := parsedWorkflow(t, twoTasks)
	now := time.Now().UTC()
	j.Append(engine.Event{Seq: last + 1, ExecutionID: id, Event: engine.EventExecutionStart, Time: now, Data: engine.EventData{Workflow: "two", WorkflowPath: "wf.yaml", Message: "started"}},
		&engine.Record{ID: id, Workflow: wf.Name, Path: "wf.yaml", Dir: ws, Source: wf.Source})
	j.Append(engine.Event{Seq: last + 2, ExecutionID: id, Event: engine.EventTaskStart, Time: now, Data: engine.EventData{TaskID: "a", Message: "a"}}, nil)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(state, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/journal-v2.db", b, 0o644); err != nil {
		t.Fatal(err)
	}
}
