package llm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
)

// Through the engine, the tool-call limit is a failed attempt: its
// worker-complete is ok:false with the limit in its error and its count
// of calls, and the next attempt is given a gap naming the limit, in its
// worker-start and in the model's brief.
func TestToolCallLimitFailsTheAttempt(t *testing.T) {
	f := newFakeLLM(t,
		answer("", call{Name: toolWrite, Args: map[string]any{"path": "a.md", "content": "a"}}, call{Name: toolWrite, Args: map[string]any{"path": "b.md", "content": "b"}}, call{Name: toolWrite, Args: map[string]any{"path": "c.md", "content": "c"}}),
		answer("Done in one call.", call{Name: toolWrite, Args: map[string]any{"path": "all.md", "content": "abc"}}),
		answer("Done."),
	)
	events, _ := runWorkflow(t, `
name: limit
tasks:
  - id: t
    maxRetries: 1
    worker: {type: llm, prompt: Write three files., maxToolCalls: 2}
`, nil, testConfig(f.URL()))

	done := eventsNamed(events, engine.EventWorkerComplete)
	if len(done) != 2 {
		t.Fatalf("worker-complete events = %+v", done)
	}
	first := done[0].Data
	if *first.OK || *first.ToolCalls != 2 || !strings.Contains(first.Error, "more than 2 tool calls in one attempt") || !strings.Contains(first.Error, "maxToolCalls") {
		t.Errorf("first worker-complete = ok %v, toolCalls %d, error %q", *first.OK, *first.ToolCalls, first.Error)
	}
	if !*done[1].Data.OK {
		t.Errorf("the retry failed: %q", done[1].Data.Error)
	}
	starts := eventsNamed(events, engine.EventWorkerStart)
	if g := starts[1].Data.Gap; g == nil || !strings.Contains(g.Feedback, "more than 2 tool calls") {
		t.Errorf("the retry's gap = %+v", g)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if brief := reqs[1].Body.Messages[1].Text(); !strings.Contains(brief, "more than 2 tool calls") || !strings.Contains(brief, "attempt 2 of 2") {
		t.Errorf("the retry's brief does not carry the gap:\n%s", brief)
	}
	if len(eventsNamed(events, engine.EventTaskComplete)) != 1 {
		t.Error("the task did not complete on its retry")
	}
}

// Without passThreshold a task needs 80: "passed" with 79 fails (and the
// retry is told why), 80 passes.
func TestDefaultPassThreshold(t *testing.T) {
	f := newFakeLLM(t,
		answer("Done."),
		verdictAnswer(true, 79, "Good enough.", nil, nil),
		answer("Done again."),
		verdictAnswer(true, 80, "Good.", nil, nil),
	)
	events, _ := runWorkflow(t, `
name: threshold
tasks:
  - id: t
    acceptanceCriteria: [it is done]
    worker: {type: llm, prompt: Do it.}
    qc: {type: llm}
`, nil, testConfig(f.URL()))
	qcs := eventsNamed(events, engine.EventQCComplete)
	if len(qcs) != 2 {
		t.Fatalf("qc-complete events = %+v", qcs)
	}
	if *qcs[0].Data.Passed || *qcs[0].Data.Score != 79 || !strings.Contains(qcs[0].Data.Gap.Feedback, "below the task's pass threshold of 80") {
		t.Errorf("score 79: %+v", qcs[0].Data)
	}
	if !*qcs[1].Data.Passed || *qcs[1].Data.Score != 80 {
		t.Errorf("score 80: %+v", qcs[1].Data)
	}
	if !strings.Contains(f.requests()[1].Body.Messages[1].Text(), "score of at least 80") {
		t.Error("the QC brief does not give the default threshold")
	}
}

// The API key is in no request body, no event and nowhere in the journal's
// files, even when the server echoes it back in an error.
func TestAPIKeyNotInJournal(t *testing.T) {
	const key = "sk-journal-SECRET-9876543210"
	t.Setenv("MIMIR_TEST_KEY", key)
	f := newFakeLLM(t,
		answer("", call{Name: toolWrite, Args: map[string]any{"path": "a.md", "content": "a"}}),
		answer("Done."),
		status(401, `{"error": {"message": "Incorrect API key provided: `+key+`"}}`),
	)
	cfg := testConfig(f.URL(), func(p *Provider) { p.APIKeyEnv = "MIMIR_TEST_KEY" })

	ws := t.TempDir()
	stateDir := filepath.Join(ws, ".mimir")
	jr, _, err := journal.Open(stateDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []engine.Event
	runner := engine.NewRunner(t.Context(), engine.Options{
		Workspace: ws,
		StateDir:  stateDir,
		Journal:   jr,
		Agents:    engine.Agents{"llm": Kind(cfg)},
		Sink: engine.SinkFunc(func(ev engine.Event) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}),
	})
	wf, err := engine.ParseWorkflow("secret.yaml", []byte(`
name: secret
tasks:
  - id: t
    maxRetries: 0
    acceptanceCriteria: [it is done]
    worker: {type: llm, prompt: Do it.}
    qc: {type: llm}
`))
	if err != nil {
		t.Fatal(err)
	}
	wf.Dir = ws
	ex, err := runner.Execute(wf, engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ex.Done():
	case <-time.After(time.Minute):
		t.Fatal("the execution did not finish")
	}
	// Closing the runner flushes the journal and closes it.
	if err := runner.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Auth != "Bearer "+key {
			t.Errorf("request %d: Authorization %q", i, r.Auth)
		}
		if bytes.Contains(r.Raw, []byte(key)) {
			t.Errorf("request %d's body holds the key", i)
		}
	}
	mu.Lock()
	all, _ := json.Marshal(events)
	mu.Unlock()
	if bytes.Contains(all, []byte(key)) {
		t.Error("the key is in the events")
	}
	if !bytes.Contains(all, []byte("[redacted]")) {
		t.Fatal("the server's echo did not reach the events, so the journal check below proves nothing")
	}
	files, _ := filepath.Glob(filepath.Join(stateDir, "journal.db*"))
	var db []byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	if !bytes.Contains(db, []byte("[redacted]")) || !bytes.Contains(db, []byte("qc-complete")) {
		t.Fatalf("the journal's files (%v) do not hold the events", files)
	}
	if bytes.Contains(db, []byte(key)) {
		t.Error("the key is in the journal")
	}
}
