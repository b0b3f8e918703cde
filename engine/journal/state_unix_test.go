//go:build unix

package journal

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// outsideFile is a file outside the workspace, in a folder of its own,
// that a planted link points at; unchanged says whether it still holds
// what it held.
func outsideFile(t *testing.T) (path string, unchanged func() bool) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "precious")
	if err := os.WriteFile(path, []byte("the user's file"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, func() bool {
		b, err := os.ReadFile(path)
		ents, _ := os.ReadDir(dir)
		return err == nil && string(b) == "the user's file" && len(ents) == 1
	}
}

// A link planted at any of the journal's files is refused before anything
// is opened through it: the file it points to stays as it was, and the
// error names the file, what it is and what to do.
func TestJournalRefusesLinkedFiles(t *testing.T) {
	for _, name := range []string{"journal.lock", "journal.db", "journal.db-wal", "journal.db-shm", "journal.db-journal"} {
		t.Run(name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), ".mimir")
			os.Mkdir(state, 0o755)
			target, unchanged := outsideFile(t)
			if err := os.Symlink(target, filepath.Join(state, name)); err != nil {
				t.Fatal(err)
			}
			j, _, err := Open(state, nil)
			if err == nil {
				j.Close()
			}
			want := filepath.Join(state, name) + " is a symbolic link"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "remove "+filepath.Join(state, name)) {
				t.Errorf("open with a linked %s: %v, want an error saying %q and what to do", name, err, want)
			}
			if !unchanged() {
				t.Errorf("the file %s pointed to changed", name)
			}
		})
	}
}

// A FIFO at journal.lock is refused at once rather than waited on.
func TestJournalRefusesAFIFOLock(t *testing.T) {
	state := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(state, "journal.lock"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, _, err := Open(state, nil)
	if err == nil {
		j.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "is a named pipe") {
		t.Errorf("open with a FIFO lock: %v", err)
	}
}

// A linked executions folder is refused: no staging folder is made in
// the folder it points to.
func TestLinkedExecutionsFolderIsRefused(t *testing.T) {
	ws := t.TempDir()
	state := filepath.Join(ws, ".mimir")
	os.Mkdir(state, 0o755)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(state, "executions")); err != nil {
		t.Fatal(err)
	}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Agents: execAs(funcAgent{})})
	defer r.Close(context.Background())
	_, err := r.Prepare(parsedWorkflow(t, twoTasks), engine.ExecOptions{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(state, "executions")+" is a symbolic link") {
		t.Errorf("prepare with a linked executions folder: %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("made outside the workspace: %v", ents)
	}
}

// A journal whose execution id climbs out of the state folder: the row is
// skipped on load, so prune removes nothing outside the workspace.
func TestPruneOfAJournalledTraversalRemovesNothingOutside(t *testing.T) {
	ws := t.TempDir()
	state := filepath.Join(ws, ".mimir")
	victim, unchanged := outsideFile(t)
	id, err := filepath.Rel(filepath.Join(state, "executions"), filepath.Dir(victim))
	if err != nil || !strings.HasPrefix(id, "..") {
		t.Fatalf("rel: %q %v", id, err)
	}
	j := openJournal(t, state)
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	at := time.Now().Add(-time.Hour)
	appendEvent(j, engine.Event{Seq: 1, ExecutionID: id, Event: engine.EventExecutionStart, Time: at, Data: engine.EventData{Message: "m"}},
		&engine.Record{ID: id, Workflow: "two", Path: "wf.yaml", Source: []byte(twoTasks)})
	appendEvent(j, engine.Event{Seq: 2, ExecutionID: id, Event: engine.EventExecutionComplete, Time: at, Data: engine.EventData{Status: engine.StatusFailed, Message: "m"}}, nil)
	j.Close()

	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: openJournal(t, state), Agents: execAs(funcAgent{})})
	defer r.Close(context.Background())
	if l := r.List(); len(l) != 0 {
		t.Errorf("an execution with id %q was loaded: %+v", id, l)
	}
	if _, err := r.Prune(time.Nanosecond, 0); err != nil {
		t.Errorf("prune: %v", err)
	}
	if !unchanged() {
		t.Errorf("prune removed %s, outside the workspace", filepath.Dir(victim))
	}
}

// Events are checked on load as request parameters are: one whose
// deliverable path, task id or status the sidecar would not have written is
// skipped with a warning naming it, and the rest of the execution stays.
func TestJournalEventsAreCheckedOnLoad(t *testing.T) {
	ws := t.TempDir()
	state := filepath.Join(ws, ".mimir")
	const id = "ex_0000000000000000000000000C"
	j := openJournal(t, state)
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	at := time.Now()
	evs := []engine.Event{
		{ExecutionID: id, Event: engine.EventExecutionStart},
		{ExecutionID: id, Event: engine.EventTaskComplete, Data: engine.EventData{TaskID: "a", Deliverables: []engine.Deliverable{{Path: "a/ok.txt", Size: 2}}}},
		{ExecutionID: id, Event: engine.EventTaskComplete, Data: engine.EventData{TaskID: "b", Deliverables: []engine.Deliverable{{Path: "../../../etc/passwd", Size: 2}}}},
		{ExecutionID: id, Event: engine.EventTaskComplete, Data: engine.EventData{TaskID: "../b"}},
		{ExecutionID: id, Event: engine.EventExecutionComplete, Data: engine.EventData{Status: "owned", Deliverables: []engine.Deliverable{}}},
		{ExecutionID: id, Event: engine.EventExecutionComplete, Data: engine.EventData{Status: engine.StatusFailed, Deliverables: []engine.Deliverable{}}},
	}
	for i, ev := range evs {
		ev.Seq, ev.Time, ev.Data.Message = uint64(i+1), at, "m"
		var rec *engine.Record
		if i == 0 {
			rec = &engine.Record{ID: id, Workflow: "two", Path: "wf.yaml", Source: []byte(twoTasks)}
		}
		appendEvent(j, ev, rec)
	}
	j.Close()

	var log strings.Builder
	logger := slog.New(slog.NewTextHandler(&log, nil))
	jr, _, err := Open(state, logger)
	if err != nil {
		t.Fatal(err)
	}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, StateDir: state, Journal: jr, Agents: execAs(funcAgent{}), Logger: logger})
	defer r.Close(context.Background())
	ex, ok := r.Get(id)
	if !ok {
		t.Fatal("the execution was not loaded")
	}
	var paths []string
	for _, d := range ex.Deliverables() {
		paths = append(paths, d.Path)
	}
	if !slices.Equal(paths, []string{"a/ok.txt"}) || ex.Summary().Status != engine.StatusFailed {
		t.Errorf("loaded deliverables %v, status %s; want [a/ok.txt], failed", paths, ex.Summary().Status)
	}
	for _, n := range []string{"seq=3", "seq=4", "seq=5"} {
		if !strings.Contains(log.String(), n) {
			t.Errorf("no warning naming %s in:\n%s", n, log.String())
		}
	}
}

// A journal whose seq is out of range is not the sidecar's: it is moved
// aside as a damaged one, and numbering starts afresh.
func TestJournalWithSeqOutOfRangeIsSetAside(t *testing.T) {
	for _, seq := range []int64{-5, 1 << 60} {
		state := t.TempDir()
		j := openJournal(t, state)
		if _, err := j.db.Exec("INSERT INTO events VALUES (?, 'ex_0000000000000000000000000D', 'task-start', '{}')", seq); err != nil {
			t.Fatal(err)
		}
		j.Close()
		j, status, err := Open(state, nil)
		if err != nil {
			t.Fatal(err)
		}
		last, _ := j.LastSeq()
		j.Close()
		if status.Damaged == "" || !strings.Contains(status.Err.Error(), "out of the range") || last != 0 {
			t.Errorf("seq %d: status %+v, last seq %d", seq, status, last)
		}
	}
}

// What a journal replays to listeners (mimir/events, an SSE resume, a
// lapped listener's catch-up) is checked as what it loads is: a row the
// sidecar would not have written is skipped, and an envelope is sent as
// the sidecar encodes it, so a line break planted in it cannot split an
// SSE frame into fields of the planter's choosing.
func TestJournalReplaysOnlyWhatTheSidecarWrites(t *testing.T) {
	state := filepath.Join(t.TempDir(), ".mimir")
	const id = "ex_0000000000000000000000000D"
	j := openJournal(t, state)
	defer j.Close()
	rows := []struct {
		seq            uint64
		execution, env string
	}{
		{1, id, `{"seq": 1,` + "\n" + `"executionId": "` + id + `", "event": "task-start", "data": {"taskId": "a"}}`},
		{2, id, `{"seq": 9, "executionId": "` + id + `", "event": "task-start", "data": {}}`},
		{3, "../x", `{"seq": 3, "executionId": "../x", "event": "task-start", "data": {}}`},
		{4, id, "event: reset\ndata: {}"},
		{5, id, `{"seq": 5, "executionId": "` + id + `", "event": "task-start", "data": {"taskId": "../a"}}`},
		{6, id, `{"seq": 6, "executionId": "` + id + `", "event": "task-start", "data": {"taskId": "b"}}`},
	}
	for _, r := range rows {
		if _, err := j.db.Exec("INSERT INTO events (seq, execution_id, name, envelope) VALUES (?, ?, 'task-start', ?)", r.seq, r.execution, []byte(r.env)); err != nil {
			t.Fatal(err)
		}
	}
	since, err := j.Since(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range since {
		seqs = append(seqs, e.Seq)
		if strings.ContainsAny(string(e.JSON), "\r\n") {
			t.Errorf("event %d is replayed with a line break: %q", e.Seq, e.JSON)
		}
	}
	if !slices.Equal(seqs, []uint64{1, 6}) {
		t.Errorf("Since replays events %v, want [1 6]", seqs)
	}
	evs, err := j.Events(context.Background(), 0, id, 100)
	if err != nil || len(evs) != 2 {
		t.Fatalf("Events: %d envelopes, err %v; want 2", len(evs), err)
	}
	for _, b := range evs {
		if !json.Valid(b) || strings.ContainsAny(string(b), "\r\n") {
			t.Errorf("Events replays %q", b)
		}
	}
}
