package llm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// A worker's attempt, answered both as a stream and as one JSON body: a
// write_file call lands in the staging folder, its result goes back as a
// tool message naming the call, and the final text ends the attempt.
func TestWorkerToolRoundTrip(t *testing.T) {
	for _, mode := range []struct {
		name   string
		stream bool
	}{{"streamed", true}, {"not streamed", false}} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFakeLLM(t,
				answer("I will write the notes.", call{Name: toolWrite, Args: map[string]any{"path": "notes/a.md", "content": "# Notes\nhello"}}),
				answer("Done: wrote notes/a.md."),
			)
			cfg := testConfig(f.URL(), func(p *Provider) { p.Stream = mode.stream })
			task := llmTask("Write notes/a.md with a greeting.", "notes/a.md exists", "it greets")
			task.Worker.Preamble = "You are a note taker."
			temp := 0.3
			task.Worker.Temperature = &temp
			job := testJob(t, task)

			res, err := buildWorker(t, Kind(cfg), task).Work(t.Context(), job)
			if err != nil {
				t.Fatal(err)
			}
			if res.ToolCalls != 1 || res.Output != "Done: wrote notes/a.md." {
				t.Errorf("result = %+v", res)
			}
			data, err := os.ReadFile(filepath.Join(job.Dir, "notes", "a.md"))
			if err != nil || string(data) != "# Notes\nhello" {
				t.Errorf("notes/a.md = %q, %v", data, err)
			}

			reqs := f.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			first := reqs[0].Body
			if first.Model != "test-model" || first.Stream != mode.stream || first.Temperature == nil || *first.Temperature != 0.3 {
				t.Errorf("first request: model %q stream %v temperature %v", first.Model, first.Stream, first.Temperature)
			}
			if got := first.toolNames(); !slices.Equal(got, []string{toolList, toolRead, toolWrite}) {
				t.Errorf("tools offered = %v (run_command must be off unless the workflow allows it)", got)
			}
			if len(first.Messages) != 2 || first.Messages[0].Role != "system" || first.Messages[0].Text() != "You are a note taker." {
				t.Fatalf("first messages = %+v", first.Messages)
			}
			brief := first.Messages[1].Text()
			for _, want := range []string{"Write the notes", "Write notes/a.md with a greeting.", "- notes/a.md exists", "- it greets", "at most 25 tool calls"} {
				if !strings.Contains(brief, want) {
					t.Errorf("the user message lacks %q:\n%s", want, brief)
				}
			}
			if strings.Contains(brief, "previous attempt") {
				t.Errorf("a first attempt's brief speaks of a previous one:\n%s", brief)
			}

			second := reqs[1].Body.Messages
			if len(second) != 4 {
				t.Fatalf("second request has %d messages, want system, user, assistant, tool", len(second))
			}
			asst, tool := second[2], second[3]
			if asst.Role != "assistant" || len(asst.ToolCalls) != 1 || asst.ToolCalls[0].Function.Name != toolWrite || asst.ToolCalls[0].ID != "call_1" {
				t.Errorf("assistant message sent back = %+v", asst)
			}
			if tool.Role != "tool" || tool.ToolCallID != "call_1" || tool.Text() != "wrote 13 B to notes/a.md" {
				t.Errorf("tool result sent back = %+v (%q)", tool, tool.Text())
			}
		})
	}
}

// Tool calls are worker-tool-call events as they happen and the count in
// worker-complete.
func TestWorkerToolCallsAreEvents(t *testing.T) {
	f := newFakeLLM(t,
		answer("", call{Name: toolWrite, Args: map[string]any{"path": "a.txt", "content": "x"}}, call{Name: toolList, Args: map[string]any{}}),
		answer("", call{Name: toolRead, Args: map[string]any{"path": "a.txt"}}),
		answer("finished"),
	)
	events, _ := runWorkflow(t, `
name: tools
tasks:
  - id: t
    worker: {type: llm, prompt: Write a.txt.}
`, nil, testConfig(f.URL()))
	calls := eventsNamed(events, engine.EventWorkerToolCall)
	var got []string
	for _, ev := range calls {
		got = append(got, ev.Data.Tool+" "+ev.Data.Summary)
		if ev.Data.TaskID != "t" || ev.Data.Attempt != 1 || ev.Data.Phase != engine.PhaseWorker {
			t.Errorf("tool call event data = %+v", ev.Data)
		}
	}
	want := []string{"write_file a.txt (1 B)", "list_files .", "read_file a.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("tool call events = %q, want %q", got, want)
	}
	done := eventsNamed(events, engine.EventWorkerComplete)
	if len(done) != 1 || done[0].Data.ToolCalls == nil || *done[0].Data.ToolCalls != 3 || !*done[0].Data.OK {
		t.Errorf("worker-complete = %+v", done)
	}
	// Each tool call event comes before the request that carries its result.
	if calls[0].Seq > done[0].Seq {
		t.Error("tool call events after worker-complete")
	}
}

// On a retry the conversation carries the last gap, so the model knows
// what to fix.
func TestWorkerRetryCarriesGap(t *testing.T) {
	f := newFakeLLM(t, answer("fixed"))
	task := llmTask("Write a.txt.")
	job := testJob(t, task)
	if err := os.WriteFile(filepath.Join(job.Dir, "a.txt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	job.Attempt = 2
	job.Gap = &engine.Gap{
		Feedback:      "The greeting is missing.",
		Issues:        []string{"a.txt does not greet", "a.txt is too short"},
		RequiredFixes: []string{"Start a.txt with Hello"},
	}
	if _, err := buildWorker(t, Kind(testConfig(f.URL())), task).Work(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	brief := f.requests()[0].Body.Messages[1].Text()
	for _, want := range []string{
		"attempt 2 of 3", "Feedback: The greeting is missing.",
		"Issues:\n- a.txt does not greet\n- a.txt is too short",
		"Required fixes:\n- Start a.txt with Hello",
		"a.txt", "fix them",
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the retry's user message lacks %q:\n%s", want, brief)
		}
	}
}

// Past maxToolCalls the attempt fails with a message that says so, and
// the calls over the limit are not run.
func TestWorkerToolCallLimit(t *testing.T) {
	loop := answer("", call{Name: toolWrite, Args: map[string]any{"path": "a.txt", "content": "x"}}, call{Name: toolWrite, Args: map[string]any{"path": "b.txt", "content": "y"}})
	f := newFakeLLM(t, loop, loop)
	task := llmTask("Write.")
	task.Worker.MaxToolCalls = 3
	job := testJob(t, task)
	res, err := buildWorker(t, Kind(testConfig(f.URL())), task).Work(t.Context(), job)
	if err == nil || !strings.Contains(err.Error(), "more than 3 tool calls in one attempt") || !strings.Contains(err.Error(), "maxToolCalls") {
		t.Fatalf("err = %v", err)
	}
	if res.ToolCalls != 3 {
		t.Errorf("ToolCalls = %d, want 3", res.ToolCalls)
	}
	if len(f.requests()) != 2 {
		t.Errorf("%d requests, want 2", len(f.requests()))
	}
}

// Calls the model gets wrong come back to it as errors, not as a failed
// attempt: it can correct itself.
func TestWorkerToolMistakes(t *testing.T) {
	f := newFakeLLM(t,
		answer("", call{Name: "delete_everything", Args: map[string]any{}}, call{Name: toolWrite, Args: "{not json"}, call{Name: toolRead, Args: map[string]any{"path": "missing.txt"}}, call{Name: toolRun, Args: map[string]any{"command": "ls"}}),
		answer("ok"),
	)
	task := llmTask("Write.")
	res, err := buildWorker(t, Kind(testConfig(f.URL())), task).Work(t.Context(), testJob(t, task))
	if err != nil {
		t.Fatal(err)
	}
	if res.ToolCalls != 4 {
		t.Errorf("ToolCalls = %d", res.ToolCalls)
	}
	msgs := f.requests()[1].Body.Messages
	for i, want := range []string{"error: there is no tool \"delete_everything\"", "error: the arguments are not a JSON object", "error: cannot read \"missing.txt\"", "error: run_command is not enabled"} {
		if got := msgs[3+i].Text(); !strings.HasPrefix(got, want) {
			t.Errorf("tool result %d = %q, want it to start with %q", i, got, want)
		}
	}
}

// run_command, where the workflow allows it, runs in the staging folder
// with the exec agent's limits and sends back the exit status and output.
func TestWorkerRunCommand(t *testing.T) {
	f := newFakeLLM(t,
		answer("", call{Name: toolRun, Args: map[string]any{"command": "echo hi > out.txt; cat out.txt; pwd; exit 3"}}),
		answer("ran it"),
	)
	task := llmTask("Run.")
	task.Worker.AllowCommands = true
	job := testJob(t, task)
	if _, err := buildWorker(t, Kind(testConfig(f.URL())), task).Work(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	if names := f.requests()[0].Body.toolNames(); !slices.Contains(names, toolRun) {
		t.Errorf("run_command not offered: %v", names)
	}
	out := f.requests()[1].Body.Messages[3].Text()
	if !strings.Contains(out, "exit status 3") || !strings.Contains(out, "hi\n") || !strings.Contains(out, job.Dir) {
		t.Errorf("command result = %q", out)
	}
	if _, err := os.Stat(filepath.Join(job.Dir, "out.txt")); err != nil {
		t.Errorf("the command did not run in the staging folder: %v", err)
	}
}

// Cancelling stops a request that is in flight at once: the call returns
// and the server sees the connection go.
func TestWorkerCancelStopsInFlightRequest(t *testing.T) {
	f := newFakeLLM(t, hang())
	task := llmTask("Write.")
	w := buildWorker(t, Kind(testConfig(f.URL())), task)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := w.Work(ctx, testJob(t, task))
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no request arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancelled := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Work did not return after cancel")
	}
	select {
	case <-f.requests()[0].Closed:
	case <-time.After(2 * time.Second):
		t.Fatal("the request was not aborted")
	}
	if took := time.Since(cancelled); took > time.Second {
		t.Errorf("cancelling took %s", took)
	}
}

// A provider's concurrency limit holds across agents: two workers of a
// provider limited to one request at a time never overlap.
func TestProviderConcurrencyLimit(t *testing.T) {
	f := newFakeLLM(t, slowly(100*time.Millisecond, answer("a")), slowly(100*time.Millisecond, answer("b")))
	k := Kind(testConfig(f.URL(), func(p *Provider) { p.Concurrency = 1 }))
	errc := make(chan error, 2)
	for range 2 {
		task := llmTask("Write.")
		w := buildWorker(t, k, task)
		job := testJob(t, task)
		go func() {
			_, err := w.Work(t.Context(), job)
			errc <- err
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n := f.maxInFlight(); n != 1 {
		t.Errorf("%d requests were in flight at once, want 1", n)
	}
}

// A Config built by hand with settings left zero still works: defaults
// stand in rather than, say, zero request slots that block forever.
func TestHandBuiltConfig(t *testing.T) {
	f := newFakeLLM(t, answer("done"))
	cfg := &Config{Default: "p", Providers: map[string]*Provider{"p": {Name: "p", BaseURL: f.URL(), Model: "m"}}}
	task := llmTask("Write.")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := buildWorker(t, Kind(cfg), task).Work(ctx, testJob(t, task))
	if err != nil || res.Output != "done" {
		t.Errorf("res = %+v, err = %v", res, err)
	}
	if strings.Contains(f.requests()[0].Body.Messages[1].Text(), "at most 0 tool calls") {
		t.Error("a zero maxToolCalls was used as the limit")
	}
}

// The staging folder may not exist yet when an attempt starts: the worker
// makes it, and a QC agent finds no files rather than failing.
func TestStagingFolderMadeOnDemand(t *testing.T) {
	f := newFakeLLM(t,
		verdictAnswer(false, 0, "Nothing there.", nil, nil),
		answer("", call{Name: toolWrite, Args: map[string]any{"path": "a.txt", "content": "x"}}),
		answer("done"),
	)
	task := llmTask("Write.", "a.txt exists")
	job := testJob(t, task)
	job.Dir = filepath.Join(job.StagingRoot, "not-yet")
	k := Kind(testConfig(f.URL()))
	if v, err := buildQC(t, k, task).Check(t.Context(), job); err != nil || v.Passed {
		t.Fatalf("verdict = %+v, %v", v, err)
	}
	if !strings.Contains(f.requests()[0].Body.Messages[1].Text(), "The worker wrote no files.") {
		t.Error("a missing folder is not reported as no files")
	}
	if _, err := buildWorker(t, k, task).Work(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(job.Dir, "a.txt")); err != nil {
		t.Error(err)
	}
}

// An answer cut off at the model's length limit is not a final answer: the
// attempt fails saying so, streamed or not. A QC verdict cut off says so
// in why it is unusable.
func TestAnswerCutOffAtLengthLimit(t *testing.T) {
	for _, stream := range []bool{true, false} {
		f := newFakeLLM(t,
			answer("", call{Name: toolWrite, Args: map[string]any{"path": "a.md", "content": "x"}}),
			answerFinish("length", "I have written a.md and next I will"),
		)
		task := llmTask("Write.")
		cfg := testConfig(f.URL(), func(p *Provider) { p.Stream = stream })
		res, err := buildWorker(t, Kind(cfg), task).Work(t.Context(), testJob(t, task))
		if err == nil {
			t.Fatalf("stream %v: a cut-off answer was taken as final: %+v", stream, res)
		}
		for _, want := range []string{"at step 2 was cut off", `finish_reason "length"`, "raise the maximum number of tokens", "shorten the task"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("stream %v: error %q does not say %q", stream, err, want)
			}
		}
		if res.ToolCalls != 1 {
			t.Errorf("ToolCalls = %d, want 1", res.ToolCalls)
		}
	}

	cut := answerFinish("length", `{"passed": true, "score": 9`)
	f := newFakeLLM(t, cut, cut)
	task := llmTask("Write.", "it exists")
	v, err := buildQC(t, Kind(testConfig(f.URL())), task).Check(t.Context(), testJob(t, task))
	if err != nil || v.Passed || !strings.Contains(v.Gap.Feedback, "cut off at the model's output length limit") {
		t.Errorf("verdict %+v, err %v", v, err)
	}
}
