package journal

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// past is an execution a previous sidecar journaled.
type past struct {
	name   string
	ended  time.Duration // how long ago it ended
	status string        // its last event's: "" for one a crash cut off
}

// writeHistory journals execs, oldest first, each with a file in its
// staging folder, and returns their ids by name.
func writeHistory(t *testing.T, state string, execs []past) map[string]string {
	t.Helper()
	j := openJournal(t, state)
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	ids := map[string]string{}
	var seq uint64
	for i, p := range execs {
		id := fmt.Sprintf("ex_%026d", i+1)
		ids[p.name] = id
		end := time.Now().Add(-p.ended).UTC()
		start := end.Add(-time.Minute)
		sum := engine.Summary{ExecutionID: id, Workflow: "two", WorkflowPath: "wf.yaml", Status: engine.StatusRunning, StartedAt: start, Tasks: 2}
		seq++
		if err := j.Append(engine.Event{Seq: seq, ExecutionID: id, Event: engine.EventExecutionStart, Time: start, Data: engine.EventData{Message: "m"}},
			&engine.Record{ID: id, Workflow: "two", Path: "wf.yaml", Source: []byte(twoTasks)}, sum); err != nil {
			t.Fatal(err)
		}
		if p.status != "" {
			name := engine.EventExecutionComplete
			if p.status == engine.StatusInterrupted {
				name = engine.EventExecutionInterrupted
			}
			seq++
			sum.Status, sum.FinishedAt = p.status, &end
			if err := j.Append(engine.Event{Seq: seq, ExecutionID: id, Event: name, Time: end, Data: engine.EventData{Status: p.status, Message: "m"}}, nil, sum); err != nil {
				t.Fatal(err)
			}
		}
		staging := filepath.Join(state, "executions", id, "staging", "a")
		if err := os.MkdirAll(staging, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(staging, "out.txt"), []byte(p.name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// kept lists the names whose execution is still in the journal, and says
// which of those lost their files or kept files without a record.
func kept(t *testing.T, state string, ids map[string]string) []string {
	t.Helper()
	j := openJournal(t, state)
	defer j.Close()
	var names []string
	for name, id := range ids {
		_, inJournal, err := j.Execution(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		_, serr := os.Stat(filepath.Join(state, "executions", id))
		if inJournal != (serr == nil) {
			t.Errorf("%s: in the journal %v, its folder there %v", name, inJournal, serr == nil)
		}
		if inJournal {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

const day = 24 * time.Hour

// The retention keeps what either limit keeps (the newest Keep, those
// ended within OlderThan) and, whatever their age, interrupted executions
// and running ones; the rest goes, events, summary and staging folder.
func TestRetentionKeepsWhatEitherLimitKeeps(t *testing.T) {
	ws := t.TempDir()
	state := filepath.Join(ws, ".mimir")
	ids := writeHistory(t, state, []past{
		{"interrupted-long-ago", 90 * day, engine.StatusInterrupted},
		{"cut-off", 80 * day, ""}, // found interrupted at start
		{"old1", 70 * day, engine.StatusCompleted},
		{"old2", 60 * day, engine.StatusFailed},
		{"old3", 50 * day, engine.StatusCancelled},
		{"old4-within-keep", 40 * day, engine.StatusCompleted},
		{"recent1", 2 * day, engine.StatusCompleted},
		{"recent2", day, engine.StatusCompleted},
	})
	release := make(chan struct{})
	hold := funcAgent{work: func(ctx context.Context, j *engine.Job) (engine.WorkResult, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return engine.WorkResult{}, nil
	}}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(hold)})
	running, err := r.Execute(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The newest three finished (recent2, recent1, cut-off once
	// interrupted now) or anything of the last 30 days.
	removed, err := r.PruneBy(t.Context(), engine.PruneRule{Keep: 3, OlderThan: 30 * day, Both: true, KeepInterrupted: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range removed {
		for name, v := range ids {
			if v == id {
				names = append(names, name)
			}
		}
	}
	if want := []string{"old3", "old2", "old1"}; !slices.Equal(names, want) {
		t.Errorf("removed %v, want %v (newest first)", names, want)
	}
	if s := running.Summary().Status; s != engine.StatusRunning {
		t.Errorf("the running execution is %s after the retention", s)
	}
	close(release)
	<-running.Done()
	r.Close(context.Background())
	want := []string{"cut-off", "interrupted-long-ago", "old4-within-keep", "recent1", "recent2"}
	if got := kept(t, state, ids); !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
}

// logWatch is a log that says when a message has been written.
type logWatch struct {
	mu      sync.Mutex
	text    strings.Builder
	message string
	seen    chan struct{}
	once    sync.Once
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text.Write(p)
	if strings.Contains(w.text.String(), w.message) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// A runner given a retention applies it in the background once it has
// started, says so in its log, and gives the journal's space back.
func TestRetentionRunsInTheBackground(t *testing.T) {
	ws := t.TempDir()
	state := filepath.Join(ws, ".mimir")
	var execs []past
	for i := range 30 {
		execs = append(execs, past{fmt.Sprintf("e%02d", i), time.Duration(60-i) * day, engine.StatusCompleted})
	}
	ids := writeHistory(t, state, execs)
	before, err := os.Stat(filepath.Join(state, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	watch := &logWatch{message: "the history retention removed executions", seen: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(watch, nil))
	j, _, err := Open(state, log)
	if err != nil {
		t.Fatal(err)
	}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: j, Logger: log,
		Retention: &engine.PruneRule{Keep: 5, Both: true}})
	select {
	case <-watch.seen:
	case <-time.After(20 * time.Second):
		t.Fatal("the retention said nothing within 20s")
	}
	r.Close(context.Background())
	if got := kept(t, state, ids); !slices.Equal(got, []string{"e25", "e26", "e27", "e28", "e29"}) {
		t.Errorf("kept %v, want the newest five", got)
	}
	if !strings.Contains(watch.text.String(), "removed=25") {
		t.Errorf("the log does not say how many went:\n%s", watch.text.String())
	}
	after, err := os.Stat(filepath.Join(state, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() >= before.Size() {
		t.Errorf("the journal is %d bytes after pruning 25 of 30 executions, %d before", after.Size(), before.Size())
	}
}
