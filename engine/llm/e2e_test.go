package llm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// A workflow with llm worker and QC, through the engine: QC fails the
// first attempt, the worker's retry is given the gap and fixes the file,
// QC passes, and the file is the task's deliverable.
func TestEndToEndRetryThenPass(t *testing.T) {
	f := newFakeLLM(t,
		// attempt 1: worker
		answer("", call{Name: toolWrite, Args: map[string]any{"path": "docs/hello.md", "content": "hi"}}),
		answer("Wrote docs/hello.md."),
		// attempt 1: QC
		verdictAnswer(false, 30, "The greeting is too short.", []string{"hello.md says only hi"}, []string{"Greet the reader by name: Hello, reader!"}),
		// attempt 2: worker
		answer("", call{Name: toolRead, Args: map[string]any{"path": "docs/hello.md"}}),
		answer("", call{Name: toolWrite, Args: map[string]any{"path": "docs/hello.md", "content": "Hello, reader!\n"}}),
		answer("Fixed the greeting."),
		// attempt 2: QC
		verdictAnswer(true, 95, "Greets the reader.", nil, nil),
	)
	events, ex := runWorkflow(t, `
name: greet
tasks:
  - id: hello
    title: Greet the reader
    acceptanceCriteria:
      - docs/hello.md greets the reader by name
    deliverables: ["docs/*.md"]
    worker:
      type: llm
      prompt: Write docs/hello.md, a greeting for the reader.
      preambleFile: writer.md
    qc:
      type: llm
      prompt: The greeting must be friendly.
`, map[string]string{"writer.md": "You are a careful writer."}, testConfig(f.URL()))

	var names []string
	for _, ev := range events {
		names = append(names, ev.Event)
	}
	want := []string{
		"execution-start", "task-start",
		"worker-start", "worker-tool-call", "worker-complete", "qc-start", "qc-complete",
		"worker-start", "worker-tool-call", "worker-tool-call", "worker-complete", "qc-start", "qc-complete",
		"task-complete", "execution-complete",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("events = %v\nwant     %v\n%+v", names, want, events)
	}

	qcs := eventsNamed(events, engine.EventQCComplete)
	if *qcs[0].Data.Passed || *qcs[0].Data.Score != 30 || qcs[0].Data.Gap.Feedback != "The greeting is too short." {
		t.Errorf("first qc-complete = %+v", qcs[0].Data)
	}
	if !*qcs[1].Data.Passed || *qcs[1].Data.Score != 95 {
		t.Errorf("second qc-complete = %+v", qcs[1].Data)
	}
	workers := eventsNamed(events, engine.EventWorkerComplete)
	if *workers[0].Data.ToolCalls != 1 || *workers[1].Data.ToolCalls != 2 {
		t.Errorf("toolCalls = %d, %d", *workers[0].Data.ToolCalls, *workers[1].Data.ToolCalls)
	}
	done := eventsNamed(events, engine.EventExecutionComplete)[0]
	if done.Data.Status != engine.StatusCompleted || len(done.Data.Deliverables) != 1 || done.Data.Deliverables[0].Path != "hello/docs/hello.md" || done.Data.Deliverables[0].Size != 15 {
		t.Errorf("execution-complete = %+v", done.Data)
	}
	data, err := os.ReadFile(filepath.Join(ex.StagingDir(), "hello", "docs", "hello.md"))
	if err != nil || string(data) != "Hello, reader!\n" {
		t.Errorf("deliverable = %q, %v", data, err)
	}

	reqs := f.requests()
	if len(reqs) != 7 {
		t.Fatalf("%d requests, want 7", len(reqs))
	}
	if reqs[0].Body.Messages[0].Text() != "You are a careful writer." {
		t.Errorf("the worker's system message is not the preamble file: %q", reqs[0].Body.Messages[0].Text())
	}
	// The QC saw the first attempt's file.
	if qcBrief := reqs[2].Body.Messages[1].Text(); !strings.Contains(qcBrief, "docs/hello.md") || !strings.Contains(qcBrief, "\nhi\n") || !strings.Contains(qcBrief, "The greeting must be friendly.") {
		t.Errorf("first QC brief:\n%s", qcBrief)
	}
	// The retry's first request carries the gap.
	retry := reqs[3].Body.Messages[1].Text()
	for _, want := range []string{"attempt 2 of 3", "The greeting is too short.", "- hello.md says only hi", "- Greet the reader by name: Hello, reader!", "docs/hello.md"} {
		if !strings.Contains(retry, want) {
			t.Errorf("the retry's brief lacks %q:\n%s", want, retry)
		}
	}
	// The second QC saw the fixed file.
	if !strings.Contains(reqs[6].Body.Messages[1].Text(), "Hello, reader!") {
		t.Error("the second QC did not see the fixed file")
	}
	for i, r := range reqs {
		isQC := r.Body.ResponseFormat != nil
		if isQC != (i == 2 || i == 6) {
			t.Errorf("request %d: response_format %v", i, r.Body.ResponseFormat)
		}
	}
}
