package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
	"github.com/mimir-sidecar/mimir-sidecar/internal/fakemodel"
)

// fakeLLM is a chat-completions server on loopback that answers from a
// script and records every request, so tests can assert on what the
// sidecar sent as well as on what it made of the answers.
type fakeLLM struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	script   []step
	reqs     []*seenRequest
	inFlight int
	maxIn    int
}

// seenRequest is one request as the server received it.
type seenRequest struct {
	At     time.Time
	Auth   string
	Path   string
	Raw    []byte
	Body   chatBody
	Closed chan struct{} // closed when the client went away mid-request
}

// chatBody is the part of a chat-completions request the tests look at.
type chatBody struct {
	Model          string           `json:"model"`
	Stream         bool             `json:"stream"`
	Temperature    *float64         `json:"temperature"`
	Messages       []chatMessage    `json:"messages"`
	Tools          []map[string]any `json:"tools"`
	ResponseFormat map[string]any   `json:"response_format"`
}

// chatMessage is a message as a chat-completions request carries it: the
// scripted model of the end-to-end tests reads it the same way.
type chatMessage = fakemodel.Message

func (b chatBody) toolNames() []string {
	var names []string
	for _, t := range b.Tools {
		if f, ok := t["function"].(map[string]any); ok {
			names = append(names, fmt.Sprint(f["name"]))
		}
	}
	return names
}

// step answers one request.
type step func(w http.ResponseWriter, r *http.Request, req *seenRequest)

func newFakeLLM(t *testing.T, script ...step) *fakeLLM {
	f := &fakeLLM{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the base URL a provider points at.
func (f *fakeLLM) URL() string { return f.srv.URL + "/v1" }

func (f *fakeLLM) requests() []*seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*seenRequest(nil), f.reqs...)
}

// maxInFlight is the most requests the server was answering at once.
func (f *fakeLLM) maxInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxIn
}

func (f *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	req := &seenRequest{At: time.Now(), Auth: r.Header.Get("Authorization"), Path: r.URL.Path, Raw: raw, Closed: make(chan struct{})}
	if err := json.Unmarshal(raw, &req.Body); err != nil {
		f.t.Errorf("the sidecar sent a body that is not JSON: %v\n%s", err, raw)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	var s step
	if len(f.script) > 0 {
		s, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	go func() {
		<-r.Context().Done()
		close(req.Closed)
	}()
	if r.URL.Path != "/v1/chat/completions" {
		f.t.Errorf("request to %s, want /v1/chat/completions", r.URL.Path)
	}
	if s == nil {
		f.t.Errorf("request %d is past the end of the script", len(f.reqs))
		http.Error(w, `{"error":{"message":"script exhausted"}}`, http.StatusInternalServerError)
		return
	}
	s(w, r, req)
}

// call is a tool call the scripted model makes.
type call = fakemodel.Call

// answer replies with text and tool calls, streamed when the request asks
// for a stream: the same script serves both modes.
func answer(content string, calls ...call) step {
	return answerFinish("", content, calls...)
}

// answerFinish is answer with the given finish_reason ("": "stop", or
// "tool_calls" when there are calls).
func answerFinish(finishReason, content string, calls ...call) step {
	return func(w http.ResponseWriter, r *http.Request, req *seenRequest) {
		finish := "stop"
		if len(calls) > 0 {
			finish = "tool_calls"
		}
		if finishReason != "" {
			finish = finishReason
		}
		if req.Body.Stream {
			streamAnswer(w, content, calls, finish)
			return
		}
		msg := map[string]any{"role": "assistant", "content": content}
		if len(calls) > 0 {
			var tcs []map[string]any
			for i, c := range calls {
				tcs = append(tcs, map[string]any{"id": fmt.Sprintf("call_%d", i+1), "type": "function",
					"function": map[string]any{"name": c.Name, "arguments": c.Arguments()}})
			}
			msg["tool_calls"] = tcs
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": req.Body.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		})
	}
}

// streamAnswer sends the answer in pieces the way servers do: content in
// several deltas, each tool call's arguments split across chunks.
func streamAnswer(w http.ResponseWriter, content string, calls []call, finish string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	send := func(delta map[string]any, finish any) {
		chunk := map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		b, _ := json.Marshal(chunk)
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	send(map[string]any{"role": "assistant", "content": ""}, nil)
	for _, piece := range split(content, 3) {
		send(map[string]any{"content": piece}, nil)
	}
	for i, c := range calls {
		send(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": fmt.Sprintf("call_%d", i+1), "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": ""}}}}, nil)
		for _, piece := range split(c.Arguments(), 2) {
			send(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": piece}}}}, nil)
		}
	}
	send(map[string]any{}, finish)
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func split(s string, n int) []string {
	if s == "" {
		return nil
	}
	var out []string
	size := (len(s) + n - 1) / n
	for len(s) > 0 {
		k := min(size, len(s))
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}

// status replies with an HTTP error status and body.
func status(code int, body string, header ...string) step {
	return func(w http.ResponseWriter, r *http.Request, req *seenRequest) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// hang never answers; it returns when the client gives up (or after a
// minute, so a broken test cannot hang the run).
func hang() step {
	return func(w http.ResponseWriter, r *http.Request, req *seenRequest) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}
}

// slowly answers after d, for concurrency tests.
func slowly(d time.Duration, s step) step {
	return func(w http.ResponseWriter, r *http.Request, req *seenRequest) {
		time.Sleep(d)
		s(w, r, req)
	}
}

// verdictAnswer is a QC answer.
func verdictAnswer(passed bool, score int, feedback string, issues, fixes []string) step {
	b, _ := json.Marshal(map[string]any{"passed": passed, "score": score, "feedback": feedback, "issues": nonNil(issues), "requiredFixes": nonNil(fixes)})
	return answer(string(b))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// testConfig is one provider, "test", at baseURL.
func testConfig(baseURL string, mods ...func(*Provider)) *Config {
	p := newProvider("test")
	p.BaseURL = baseURL
	p.Model = "test-model"
	p.Timeout = 10 * time.Second
	p.MaxRetries = 2
	for _, m := range mods {
		m(p)
	}
	return &Config{Default: "test", Providers: map[string]*Provider{"test": p}}
}

func nonStreaming(p *Provider) { p.Stream = false }

// testJob is attempt 1 of 3 of a task whose staging folder is empty.
func testJob(t *testing.T, task *engine.Task) *engine.Job {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, task.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &engine.Job{ExecutionID: "ex_test", Task: task, Attempt: 1, MaxAttempts: 3, Dir: dir, StagingRoot: root}
}

func llmTask(prompt string, criteria ...string) *engine.Task {
	return &engine.Task{
		ID: "t", Title: "Write the notes", AcceptanceCriteria: criteria,
		Worker: &engine.AgentSpec{Type: "llm", Prompt: prompt},
		QC:     &engine.AgentSpec{Type: "llm"},
	}
}

func buildWorker(t *testing.T, k engine.AgentKind, task *engine.Task) engine.Worker {
	t.Helper()
	w, err := k.Worker(task, task.Worker)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func buildQC(t *testing.T, k engine.AgentKind, task *engine.Task) engine.QC {
	t.Helper()
	q, err := k.QC(task, task.QC)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// logBuffer captures the agents' logs at every level.
func logBuffer() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runWorkflow runs a workflow file through the engine with the llm agents
// and returns its events once it is over. files are written beside the
// workflow first.
func runWorkflow(t *testing.T, workflowYAML string, files map[string]string, cfg *Config, opts ...Option) ([]engine.Event, *engine.Execution) {
	t.Helper()
	ws := t.TempDir()
	for name, content := range files {
		mustWrite(t, filepath.Join(ws, name), content)
	}
	path := filepath.Join(ws, "workflow.yaml")
	if err := os.WriteFile(path, []byte(workflowYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, err := engine.ParseWorkflowFile(path, []byte(workflowYAML))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []engine.Event
	runner := engine.NewRunner(t.Context(), engine.Options{
		Workspace: ws,
		Agents:    engine.Agents{"exec": exec.Agent(), "llm": Kind(cfg, opts...)},
		Sink: engine.SinkFunc(func(ev engine.Event) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}),
	})
	ex, err := runner.Execute(wf, engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ex.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the execution did not finish")
	}
	if err := runner.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return events, ex
}

func eventsNamed(events []engine.Event, name string) []engine.Event {
	var out []engine.Event
	for _, ev := range events {
		if ev.Event == name {
			out = append(out, ev)
		}
	}
	return out
}
