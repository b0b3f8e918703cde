package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/mirror"

	"github.com/mimir-sidecar/mimir-sidecar/internal/proc"
)

// exampleWorkspace copies the repository's examples into a new workspace.
func exampleWorkspace(t *testing.T) string {
	t.Helper()
	ws := t.TempDir()
	if err := os.CopyFS(filepath.Join(ws, "examples"), os.DirFS("../examples")); err != nil {
		t.Fatal(err)
	}
	return ws
}

const exampleWorkflow = "examples/translate-docs/workflow.yaml"

func TestLifecycle(t *testing.T) {
	ws := t.TempDir()
	c := startServer(t, Options{Version: "1.2.3"})

	resp, _ := c.call("mimir/executions", nil)
	if errorCode(resp) != -32002 {
		t.Fatalf("request before initialize: %v, want ServerNotInitialized (-32002)", resp)
	}

	r := c.initialize(ws, nil)
	info := r["serverInfo"].(map[string]any)
	if info["name"] != "mimir-sidecar" || info["version"] != "1.2.3" {
		t.Errorf("serverInfo = %v", info)
	}
	cmds := r["capabilities"].(map[string]any)["executeCommandProvider"].(map[string]any)["commands"].([]any)
	if !slices.Contains(cmds, any("mimir.execute")) || len(cmds) != len(commandNames()) {
		t.Errorf("executeCommandProvider.commands = %v", cmds)
	}
	m := r["mimir"].(map[string]any)
	if m["protocolVersion"] != ProtocolVersion || m["workspace"] != ws {
		t.Errorf("mimir = %v, want protocol %s and workspace %s", m, ProtocolVersion, ws)
	}
	if _, ok := m["sse"]; ok {
		t.Errorf("sse advertised with no mirror running: %v", m)
	}

	resp, _ = c.call("initialize", map[string]any{"capabilities": map[string]any{}})
	if errorCode(resp) != -32600 {
		t.Errorf("second initialize: %v, want InvalidRequest", resp)
	}
	if r := c.result("mimir/executions", nil); len(r["executions"].([]any)) != 0 {
		t.Errorf("executions of a new sidecar = %v", r)
	}

	resp, _ = c.call("shutdown", nil)
	if resp["error"] != nil || resp["result"] != nil {
		t.Errorf("shutdown = %v, want a null result", resp)
	}
	resp, _ = c.call("mimir/executions", nil)
	if errorCode(resp) != -32600 || !strings.Contains(errorMessage(resp), "after shutdown") {
		t.Errorf("request after shutdown: %v, want InvalidRequest", resp)
	}
	c.notify("exit", nil)
	if code := <-c.served; code != 0 {
		t.Errorf("exit after shutdown: status %d, want 0", code)
	}
	c.served <- 0 // for the cleanup
}

func TestExitWithoutShutdown(t *testing.T) {
	c := startServer(t, Options{})
	c.initialize(t.TempDir(), nil)
	c.notify("exit", nil)
	if code := <-c.served; code != 1 {
		t.Errorf("exit without shutdown: status %d, want 1", code)
	}
	c.served <- 1
}

// The whole flow a plugin-less editor sees: the answer to execute before
// any of its events, events in seq order, progress begin → report → end,
// toasts with the seed's texts, and the deliverables saved.
func TestExecuteExample(t *testing.T) {
	ws := exampleWorkspace(t)
	c := startServer(t, Options{})
	c.initialize(ws, nil)

	id := c.request("mimir/execute", map[string]any{"workflow": exampleWorkflow})
	frames := c.until(isEvent("execution-complete"))
	// The progress end and the last toast follow the event.
	frames = append(frames, c.until(func(m map[string]any) bool {
		return m["method"] == "window/showMessage"
	})...)

	var execID string
	var lastSeq float64
	var progress []string
	var toasts []string
	for i, m := range frames {
		switch {
		case m["id"] == id && m["method"] == nil:
			if m["error"] != nil {
				t.Fatalf("execute: %v", m["error"])
			}
			execID = m["result"].(map[string]any)["executionId"].(string)
			if r := m["result"].(map[string]any); r["workflow"] != "translate-docs" || r["tasks"] != float64(4) {
				t.Errorf("execute result = %v", r)
			}
		case m["method"] == "mimir/event":
			ev := m["params"].(map[string]any)
			if execID == "" {
				t.Fatalf("frame %d: event %v arrived before the answer to execute", i, ev["event"])
			}
			if ev["executionId"] != execID {
				t.Errorf("event for %v, want %s", ev["executionId"], execID)
			}
			if seq := ev["seq"].(float64); seq <= lastSeq {
				t.Errorf("seq %v after %v", seq, lastSeq)
			} else {
				lastSeq = seq
			}
		case m["method"] == "$/progress":
			v := m["params"].(map[string]any)["value"].(map[string]any)
			progress = append(progress, v["kind"].(string))
			if tok := m["params"].(map[string]any)["token"]; tok != "mimir/"+execID {
				t.Errorf("progress token %v", tok)
			}
		case m["method"] == "window/showMessage":
			toasts = append(toasts, m["params"].(map[string]any)["message"].(string))
		}
	}
	if len(progress) < 3 || progress[0] != "begin" || progress[len(progress)-1] != "end" || slices.Index(progress, "report") < 0 {
		t.Errorf("progress kinds = %v, want begin, report…, end", progress)
	}
	for _, want := range []string{
		"🤖 Worker executing: Translate README to French",
		"🔍 QC verifying: Translate README to French",
		"⚠️ QC failed (Score: 43/100) - Retrying (1/2)\n\n📋 Issues:\nSection 4. Workers is not translated",
		"✅ QC passed (Score: 100/100)",
		"✅ Execution completed: 4/4 tasks, 6 deliverables",
	} {
		if !slices.ContainsFunc(toasts, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("no toast starting %q among %d toasts", want, len(toasts))
		}
	}
	if !slices.ContainsFunc(toasts, func(s string) bool { return strings.HasPrefix(s, "✅ Worker completed (") }) {
		t.Error("no worker-complete toast")
	}

	list := c.result("mimir/deliverables", map[string]any{"executionId": execID})["deliverables"].([]any)
	if len(list) != 6 {
		t.Fatalf("deliverables = %v, want 6", list)
	}
	resp, before := c.call("mimir/saveDeliverables", map[string]any{"executionId": execID, "paths": []string{"site/index.html", "translate-fr/docs/fr/README.md"}})
	saved, _ := resp["result"].(map[string]any)
	if saved["saved"] != float64(2) || saved["failed"] != float64(0) || saved["target"] != filepath.Join(ws, "deliverables") {
		t.Errorf("save = %v", saved)
	}
	if want := "✅ Saved 2 deliverables to " + filepath.Join(ws, "deliverables"); saved["message"] != want {
		t.Errorf("save message %q, want %q", saved["message"], want)
	}
	for _, f := range []string{"deliverables/site/index.html", "deliverables/translate-fr/docs/fr/README.md"} {
		if _, err := os.Stat(filepath.Join(ws, f)); err != nil {
			t.Errorf("saved file: %v", err)
		}
	}
	// The event may come before or after the answer.
	if !slices.ContainsFunc(before, isEvent("deliverables-saved")) {
		c.until(isEvent("deliverables-saved"))
	}

	got := c.result("mimir/execution", map[string]any{"executionId": execID})
	if got["status"] != "completed" || len(got["taskList"].([]any)) != 4 {
		t.Errorf("execution = %v", got)
	}
	fr := got["taskList"].([]any)[1].(map[string]any)
	if fr["attempt"] != float64(2) || fr["gap"] == nil {
		t.Errorf("translate-fr state = %v, want attempt 2 with the last gap", fr)
	}

	read := c.result("mimir/readDeliverable", map[string]any{"executionId": execID, "path": "site/index.html", "limit": 15})
	if read["encoding"] != "utf-8" || read["content"] != "<!doctype html>" || read["truncated"] != true {
		t.Errorf("readDeliverable = %v", read)
	}

	evs := c.result("mimir/events", map[string]any{"since": 0, "executionId": execID})["events"].([]any)
	if len(evs) == 0 || evs[len(evs)-1].(map[string]any)["event"] != "deliverables-saved" {
		t.Errorf("events since 0: %d, last %v", len(evs), evs[len(evs)-1])
	}
}

func TestToastsSettingAndAutoSave(t *testing.T) {
	ws := exampleWorkspace(t)
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "failures", "autoSave": true, "deliverablesFolder": "out/docs"})
	c.result("mimir/execute", map[string]any{"workflow": exampleWorkflow})
	frames := c.until(isEvent("deliverables-saved"))
	for _, m := range frames {
		if m["method"] != "window/showMessage" {
			continue
		}
		p := m["params"].(map[string]any)
		if p["type"].(float64) > levelWarning {
			t.Errorf("toasts=failures sent an info toast: %v", p["message"])
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "out/docs/site/index.html")); err != nil {
		t.Errorf("auto-save did not write into out/docs: %v", err)
	}
	saved := frames[len(frames)-1]["params"].(map[string]any)["data"].(map[string]any)
	results, _ := saved["results"].([]any)
	if saved["saved"] != float64(6) || saved["failed"] != float64(0) || len(results) != 6 {
		t.Fatalf("deliverables-saved = %v", saved)
	}
	for _, r := range results {
		r := r.(map[string]any)
		if r["status"] != "saved" || !strings.HasPrefix(r["savedAs"].(string), "out/docs/") {
			t.Errorf("result %v, want saved under out/docs/", r)
		}
	}
}

// History requests: prune removes finished executions with their files;
// a sidecar without the mirror says so.
func TestPruneAndSSEDisabled(t *testing.T) {
	ws := workspaceWith(t, "ok.yaml", "name: ok\ntasks:\n  - {id: a, worker: {command: 'echo hi > a.txt'}}\n")
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	var ids []string
	for range 3 {
		ids = append(ids, c.result("mimir/execute", map[string]any{"workflow": "ok.yaml"})["executionId"].(string))
		c.until(isEvent("execution-complete"))
	}
	r := c.result("workspace/executeCommand", map[string]any{"command": "mimir.prune", "arguments": []any{map[string]any{"keep": 1}}})
	removed, _ := r["removed"].([]any)
	if len(removed) != 2 {
		t.Fatalf("prune keep 1 removed %v, want the 2 oldest", r)
	}
	for _, id := range ids[:2] {
		if resp, _ := c.call("mimir/execution", map[string]any{"executionId": id}); errorCode(resp) != -31001 {
			t.Errorf("pruned %s still answers: %v", id, resp)
		}
		if _, err := os.Stat(filepath.Join(ws, ".mimir", "executions", id)); !os.IsNotExist(err) {
			t.Errorf("pruned %s keeps its folder: %v", id, err)
		}
	}
	list := c.result("mimir/executions", nil)["executions"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["executionId"] != ids[2] {
		t.Errorf("after prune: %v", list)
	}
	if resp, _ := c.call("mimir/prune", map[string]any{"olderThan": "soon"}); errorCode(resp) != -32602 {
		t.Errorf("prune with a bad age: %v", resp)
	}
	if resp, _ := c.call("mimir/sse", nil); errorCode(resp) != -31006 || !strings.Contains(errorMessage(resp), "--no-sse") {
		t.Errorf("mimir/sse without a mirror: %v", resp)
	}
}

func TestExecuteCommand(t *testing.T) {
	ws := exampleWorkspace(t)
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	r := c.result("workspace/executeCommand", map[string]any{"command": "mimir.execute", "arguments": []any{exampleWorkflow}})
	id, _ := r["executionId"].(string)
	if !strings.HasPrefix(id, "ex_") {
		t.Fatalf("mimir.execute = %v", r)
	}
	c.until(isEvent("execution-complete"))
	r = c.result("workspace/executeCommand", map[string]any{"command": "mimir.execution", "arguments": []any{id}})
	if r["status"] != "completed" {
		t.Errorf("mimir.execution = %v", r)
	}
	resp, _ := c.call("workspace/executeCommand", map[string]any{"command": "mimir.nope"})
	if errorCode(resp) != -32602 || !strings.Contains(errorMessage(resp), "mimir.execute") {
		t.Errorf("unknown command: %v", resp)
	}
}

const sleeper = `name: sleeper
tasks:
  - id: nap
    worker:
      command: 'sleep 300 & echo $! > child.pid; echo $$ > shell.pid; wait'
`

func TestCancelExecution(t *testing.T) {
	ws := workspaceWith(t, "sleeper.yaml", sleeper)
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	id := c.result("mimir/execute", map[string]any{"workflow": "sleeper.yaml"})["executionId"]
	c.until(isEvent("worker-start"))
	pids := waitPids(t, ws)
	r := c.result("mimir/cancel", map[string]any{"executionId": id})
	if r["status"] != "cancelling" {
		t.Errorf("cancel = %v", r)
	}
	frames := c.until(isEvent("execution-cancelled"))
	ev := frames[len(frames)-1]["params"].(map[string]any)
	if msg := ev["data"].(map[string]any)["message"]; msg != "⏹️ Execution cancelled: cancelled by the user" {
		t.Errorf("cancelled message %q", msg)
	}
	assertGone(t, pids)
	if r := c.result("mimir/cancel", map[string]any{"executionId": id}); r["status"] != "cancelled" {
		t.Errorf("cancel of a finished execution = %v", r)
	}
}

// When the editor goes away mid-execution the sidecar cancels, kills the
// agents' processes and returns well within 2 seconds.
func TestInputClosedMidExecution(t *testing.T) {
	ws := workspaceWith(t, "sleeper.yaml", sleeper)
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	c.result("mimir/execute", map[string]any{"workflow": "sleeper.yaml"})
	c.until(isEvent("worker-start"))
	pids := waitPids(t, ws)
	start := time.Now()
	c.w.Close()
	select {
	case code := <-c.served:
		if code != 1 {
			t.Errorf("status %d after the input closed without shutdown, want 1", code)
		}
		c.served <- code
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not return after its input closed")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stopping took %v, want under 2s", took)
	}
	assertGone(t, pids)
}

func waitPids(t *testing.T, ws string) []int {
	t.Helper()
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for _, f := range []string{"shell.pid", "child.pid"} {
		for {
			// In the task's folder: the sandbox lets it write nowhere else.
			var b []byte
			m, err := filepath.Glob(filepath.Join(ws, ".mimir", "executions", "*", "staging", "nap", f))
			if err == nil && len(m) == 1 {
				b, err = os.ReadFile(m[0])
			} else {
				err = os.ErrNotExist
			}
			var pid int
			if err == nil {
				if _, err := fmt.Sscan(string(b), &pid); err == nil {
					pids = append(pids, pid)
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the worker did not write %s", f)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return pids
}

// assertGone checks that every pid is dead (or a zombie awaiting its reaper,
// which holds nothing).
func assertGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for _, pid := range pids {
		for {
			if !proc.Running(pid) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("process %d is still running", pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestBadInput(t *testing.T) {
	ws := workspaceWith(t, "bad.yaml", "name: bad\ntasks:\n  - id: a\n    wrker: {command: x}\n")
	c := startServer(t, Options{MaxMessage: 1 << 10})
	c.initialize(ws, nil)

	c.raw("Content-Length: 9\r\n\r\n{not json")
	if m := c.next(); errorCode(m) != -32700 || m["id"] != nil {
		t.Errorf("a body that is not JSON: %v, want ParseError with id null", m)
	}
	big := `{"jsonrpc":"2.0","id":99,"method":"mimir/executions","params":{"pad":"` + strings.Repeat("x", 2000) + `"}}`
	c.raw(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(big), big))
	if m := c.next(); errorCode(m) != -32600 || !strings.Contains(errorMessage(m), "larger than") {
		t.Errorf("an oversized frame: %v", m)
	}
	c.raw("Content-Length: nope\r\n\r\n")
	if m := c.next(); errorCode(m) != -32700 || !strings.Contains(errorMessage(m), "Content-Length") {
		t.Errorf("a malformed header: %v", m)
	}

	cases := []struct {
		method string
		params any
		code   int
		says   string
	}{
		{"mimir/nope", nil, -32601, "unknown method"},
		{"mimir/execution", map[string]any{"executionID": "x"}, -32602, `unknown field "executionID" (known fields: executionId`},
		{"mimir/execution", map[string]any{"executionId": 5}, -32602, `executionId must be a string, not a number`},
		{"mimir/execution", map[string]any{"executionId": "ex_missing"}, -31001, "mimir/executions"},
		{"mimir/execution", []int{1}, -32602, "params must be an object, not an array"},
		{"mimir/execute", map[string]any{}, -32602, "give workflow"},
		{"mimir/execute", map[string]any{"workflow": "missing.yaml"}, -31003, "does not exist"},
		{"mimir/execute", map[string]any{"workflow": "../outside.yaml"}, -31004, "not allowed"},
		{"mimir/execute", map[string]any{"workflow": "bad.yaml"}, -31002, `did you mean "worker"`},
		{"mimir/execute", map[string]any{"inline": "name: x\ntasks: []\n"}, -31002, "no tasks"},
		{"mimir/saveDeliverables", map[string]any{"executionId": "ex_missing"}, -31001, "no execution"},
	}
	for _, tc := range cases {
		resp, _ := c.call(tc.method, tc.params)
		// Go's type names mean nothing to a client's author.
		if errorCode(resp) != tc.code || !strings.Contains(errorMessage(resp), tc.says) || strings.Contains(errorMessage(resp), "Go ") {
			t.Errorf("%s %v: %v, want code %d saying %q", tc.method, tc.params, resp["error"], tc.code, tc.says)
		}
	}
	resp, _ := c.call("mimir/execute", map[string]any{"workflow": "bad.yaml"})
	data := resp["error"].(map[string]any)["data"].(map[string]any)
	p := data["problems"].([]any)[0].(map[string]any)
	if p["line"] != float64(4) || p["column"] != float64(5) {
		t.Errorf("problem position = %v, want line 4 column 5", p)
	}
	// Neovim sends an empty Lua table as [].
	if r := c.result("mimir/executions", []any{}); r["executions"] == nil {
		t.Errorf("executions with [] params = %v", r)
	}
	// After all that, the connection still works.
	if r := c.result("mimir/executions", nil); r["executions"] == nil {
		t.Errorf("executions after bad input = %v", r)
	}
}

// A workflow whose agent cannot be set up is refused with a code of its own
// that names the task, not as a bug of the sidecar's.
func TestAgentUnavailable(t *testing.T) {
	c := startServer(t, Options{}) // exec agents only
	c.initialize(t.TempDir(), map[string]any{"toasts": "none"})
	wf := "name: needs-llm\ntasks:\n  - id: a\n    worker: {command: 'true'}\n  - id: review\n    worker: {type: llm, prompt: Review it.}\n"
	resp, _ := c.call("mimir/execute", map[string]any{"inline": wf})
	if errorCode(resp) != -31007 || !strings.Contains(errorMessage(resp), `agent type "llm" is not available`) {
		t.Fatalf("execute = %v", resp)
	}
	if data := resp["error"].(map[string]any)["data"].(map[string]any); data["taskId"] != "review" {
		t.Errorf("error data = %v, want taskId review", data)
	}
}

func TestSaveRefusesTargetOutsideWorkspace(t *testing.T) {
	ws := exampleWorkspace(t)
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	id := c.result("mimir/execute", map[string]any{"workflow": exampleWorkflow})["executionId"]
	c.until(isEvent("execution-complete"))
	for _, target := range []string{"../escape", "/tmp", "a/../../b"} {
		resp, _ := c.call("mimir/saveDeliverables", map[string]any{"executionId": id, "target": target})
		if errorCode(resp) != -31004 {
			t.Errorf("target %q: %v, want PathNotAllowed", target, resp)
		}
	}
	resp, _ := c.call("mimir/saveDeliverables", map[string]any{"executionId": id, "paths": []string{"nope.md"}})
	if errorCode(resp) != -31005 {
		t.Errorf("unknown deliverable: %v, want DeliverableNotFound", resp)
	}
	resp, _ = c.call("mimir/readDeliverable", map[string]any{"executionId": id, "path": "../../../etc/passwd"})
	if errorCode(resp) != -31005 {
		t.Errorf("read outside: %v, want DeliverableNotFound", resp)
	}
}

// blockUntilCancelled is a test-only method that waits for its context.
func blockUntilCancelled(s *server) {
	s.methods["test/block"] = method{async: true, handle: raw(func(_ *server, ctx context.Context, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})}
	s.methods["test/panic"] = method{async: true, handle: raw(func(*server, context.Context, json.RawMessage) (any, error) {
		panic("boom")
	})}
}

// A request that takes its time holds up no other: later requests are
// answered while it runs, and $/cancelRequest ends it.
func TestCancelRequest(t *testing.T) {
	c := startServer(t, Options{}, blockUntilCancelled)
	c.initialize(t.TempDir(), nil)
	id := c.request("test/block", nil)
	for _, method := range []string{"mimir/executions", "mimir/workflows"} {
		resp, before := c.call(method, nil)
		if resp["error"] != nil || len(before) != 0 {
			t.Errorf("%s while a request blocks: %v (after %v)", method, resp, before)
		}
	}
	c.notify("$/cancelRequest", map[string]any{"id": id})
	m := c.next()
	if m["id"] != id || errorCode(m) != -32800 {
		t.Errorf("cancelled request answered %v, want RequestCancelled", m)
	}
}

func TestPanicAnsweredAndSurvived(t *testing.T) {
	c := startServer(t, Options{}, blockUntilCancelled)
	c.initialize(t.TempDir(), nil)
	resp, _ := c.call("test/panic", nil)
	if errorCode(resp) != -32603 || !strings.Contains(errorMessage(resp), "boom") {
		t.Errorf("panicking method answered %v, want InternalError", resp)
	}
	if r := c.result("mimir/executions", nil); r["executions"] == nil {
		t.Error("the connection did not survive the panic")
	}
}

// The toast mapping matches the fixture every client is tested against.
func TestToastsFixture(t *testing.T) {
	b, err := os.ReadFile("../testdata/toasts.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Event engine.Event `json:"event"`
		Toast *struct {
			Level string `json:"level"`
			Text  string `json:"text"`
		} `json:"toast"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	names := map[int]string{levelError: "error", levelWarning: "warning", levelInfo: "info"}
	for _, tc := range cases {
		level, text, ok := toast(&tc.Event)
		if tc.Toast == nil {
			if ok {
				t.Errorf("seq %d %s: toast %q, want none", tc.Event.Seq, tc.Event.Event, text)
			}
			continue
		}
		if !ok || names[level] != tc.Toast.Level || text != tc.Toast.Text {
			t.Errorf("seq %d %s: toast %s %q, want %s %q", tc.Event.Seq, tc.Event.Event, names[level], text, tc.Toast.Level, tc.Toast.Text)
		}
	}
}

func TestWorkflowDiagnostics(t *testing.T) {
	ws := workspaceWith(t, "broken.mimir.yaml", "name: broken\ntasks:\n  - id: a\n    worker: {command: x}\n    dependsOn: [nope]\n")
	os.WriteFile(filepath.Join(ws, "notes.yaml"), []byte("not: a workflow\n"), 0o644)
	c := startServer(t, Options{})
	c.initialize(ws, nil)

	isDiag := func(m map[string]any) bool { return m["method"] == "textDocument/publishDiagnostics" }
	first := c.until(isDiag)
	p := first[len(first)-1]["params"].(map[string]any)
	uri := "file://" + filepath.Join(ws, "broken.mimir.yaml")
	diags := p["diagnostics"].([]any)
	if p["uri"] != uri || len(diags) != 1 {
		t.Fatalf("diagnostics on start: %v", p)
	}
	d := diags[0].(map[string]any)
	start := d["range"].(map[string]any)["start"].(map[string]any)
	if start["line"] != float64(4) || start["character"] != float64(16) || !strings.Contains(d["message"].(string), `"nope"`) {
		t.Errorf("diagnostic %v", d)
	}

	// Typing in the editor re-validates the buffer, not the file.
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": uri, "languageId": "yaml", "version": 1,
		"text": "name: fixed\ntasks:\n  - id: a\n    worker: {command: x}\n"}})
	got := c.until(isDiag)
	if diags := got[len(got)-1]["params"].(map[string]any)["diagnostics"].([]any); len(diags) != 0 {
		t.Errorf("a valid buffer still has diagnostics: %v", diags)
	}
	c.notify("textDocument/didChange", map[string]any{"textDocument": map[string]any{"uri": uri, "version": 2},
		"contentChanges": []any{map[string]any{"text": "name: x\ntasks:\n  - id: a\n    wroker: {}\n"}}})
	got = c.until(isDiag)
	if diags := got[len(got)-1]["params"].(map[string]any)["diagnostics"].([]any); len(diags) != 1 ||
		!strings.Contains(diags[0].(map[string]any)["message"].(string), `did you mean "worker"`) {
		t.Errorf("want the misspelt field, got %v", diags)
	}

	// A workflow that appears on disk is found and checked.
	os.WriteFile(filepath.Join(ws, "workflow.json"), []byte(`{"name": "j", "tasks": []}`), 0o644)
	got = c.until(func(m map[string]any) bool {
		return isDiag(m) && strings.HasSuffix(m["params"].(map[string]any)["uri"].(string), "/workflow.json")
	})
	if diags := got[len(got)-1]["params"].(map[string]any)["diagnostics"].([]any); len(diags) != 1 {
		t.Errorf("new workflow.json: %v", diags)
	}

	list := c.result("mimir/workflows", nil)["workflows"].([]any)
	if len(list) != 2 {
		t.Fatalf("workflows = %v, want broken.mimir.yaml and workflow.json", list)
	}
	for _, w := range list {
		if w.(map[string]any)["valid"] != false {
			t.Errorf("workflow %v", w)
		}
	}
}

func TestMirrorAdvertisedAndCleanedUp(t *testing.T) {
	ws := exampleWorkspace(t)
	c := startServer(t, Options{StartMirror: MirrorFunc(mirror.Options{}.Start)})
	r := c.initialize(ws, map[string]any{"toasts": "none"})
	sse, _ := r["mimir"].(map[string]any)["sse"].(map[string]any)
	url, _ := sse["url"].(string)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || len(sse["token"].(string)) != 64 {
		t.Fatalf("initialize's sse = %v", sse)
	}
	path := filepath.Join(ws, ".mimir", "sidecar.json")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sidecar.json: %v %v", st, err)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, ".mimir", ".gitignore")); !strings.Contains(string(b), "*") {
		t.Errorf(".mimir/.gitignore = %q", b)
	}
	got := c.result("mimir/sse", nil)
	if got["url"] != url {
		t.Errorf("mimir/sse = %v", got)
	}
	// An execution's events and deliverables reach the mirror.
	id := c.result("mimir/execute", map[string]any{"workflow": exampleWorkflow})["executionId"].(string)
	c.until(isEvent("execution-complete"))
	req, _ := http.NewRequest("GET", url+"/executions/"+id+"/deliverables/site/index.html", nil)
	req.Header.Set("Authorization", "Bearer "+sse["token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "<!doctype html>") {
		t.Errorf("download through the mirror: %d %q", resp.StatusCode, body)
	}
	c.call("shutdown", nil)
	c.notify("exit", nil)
	c.served <- <-c.served
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sidecar.json left after exit: %v", err)
	}
}

// A dashboard that followed one sidecar resumes on the next one, after a
// restart, from the journal.
func TestSSEResumesAcrossRestart(t *testing.T) {
	ws := exampleWorkspace(t)
	c := startServer(t, Options{StartMirror: MirrorFunc(mirror.Options{}.Start)}, func(*server) {})
	c.initialize(ws, map[string]any{"toasts": "none"})
	c.result("mimir/execute", map[string]any{"workflow": exampleWorkflow})
	frames := c.until(isEvent("execution-complete"))
	var seqs []float64
	for _, m := range frames {
		if m["method"] == "mimir/event" {
			seqs = append(seqs, m["params"].(map[string]any)["seq"].(float64))
		}
	}
	c.call("shutdown", nil)
	c.notify("exit", nil)
	c.served <- <-c.served

	c2 := startServer(t, Options{StartMirror: MirrorFunc(mirror.Options{}.Start)})
	sse := c2.initialize(ws, map[string]any{"toasts": "none"})["mimir"].(map[string]any)["sse"].(map[string]any)
	from := seqs[len(seqs)/2]
	req, _ := http.NewRequest("GET", sse["url"].(string)+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+sse["token"].(string))
	req.Header.Set("Last-Event-ID", fmt.Sprint(from))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var got []float64
	for len(got) < len(seqs)-len(seqs)/2-1 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
			var n float64
			fmt.Sscan(id, &n)
			got = append(got, n)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(seqs[len(seqs)/2+1:]) {
		t.Errorf("resumed after %v across the restart: %v, want %v", from, got, seqs[len(seqs)/2+1:])
	}
}

// The editor's Cancel button on the execution's progress cancels it: its
// processes end, the progress ends, and a token not of this sidecar is
// refused without harm.
func TestProgressCancelButton(t *testing.T) {
	ws := workspaceWith(t, "sleeper.yaml", sleeper)
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	id := c.result("mimir/execute", map[string]any{"workflow": "sleeper.yaml"})["executionId"].(string)
	isProgress := func(kind string) func(map[string]any) bool {
		return func(m map[string]any) bool {
			v, _ := m["params"].(map[string]any)
			return m["method"] == "$/progress" && v["value"].(map[string]any)["kind"] == kind
		}
	}
	c.until(isProgress("begin"))
	pids := waitPids(t, ws)
	c.notify("window/workDoneProgress/cancel", map[string]any{"token": "someone-else/" + id})
	c.notify("window/workDoneProgress/cancel", map[string]any{"token": "mimir/" + id})
	frames := c.until(isEvent("execution-cancelled"))
	if ev := frames[len(frames)-1]["params"].(map[string]any); ev["executionId"] != id {
		t.Errorf("cancelled %v", ev["executionId"])
	}
	assertGone(t, pids)
	end := c.until(isProgress("end"))
	v := end[len(end)-1]["params"].(map[string]any)["value"].(map[string]any)
	if !strings.Contains(v["message"].(string), "cancelled") {
		t.Errorf("progress end = %v", v)
	}
	if r := c.result("mimir/executions", nil); len(r["executions"].([]any)) != 1 {
		t.Errorf("the connection after a foreign token: %v", r)
	}
}

// The editor is told when the history was damaged, and when another
// sidecar keeps it.
func TestJournalWarnings(t *testing.T) {
	ws := t.TempDir()
	os.MkdirAll(filepath.Join(ws, ".mimir"), 0o755)
	os.WriteFile(filepath.Join(ws, ".mimir", "journal.db"), []byte(strings.Repeat("garbage ", 500)), 0o644)
	c := startServer(t, Options{})
	c.initialize(ws, nil)
	isWarning := func(m map[string]any) bool {
		p, _ := m["params"].(map[string]any)
		return m["method"] == "window/showMessage" && p["type"] == float64(2)
	}
	got := c.until(isWarning)
	msg := got[len(got)-1]["params"].(map[string]any)["message"].(string)
	if !strings.Contains(msg, "damaged") || !strings.Contains(msg, ".mimir/journal.db.damaged-") {
		t.Errorf("damaged journal warning: %q", msg)
	}

	second := startServer(t, Options{})
	second.initialize(ws, nil)
	got = second.until(isWarning)
	msg = got[len(got)-1]["params"].(map[string]any)["message"].(string)
	if !strings.Contains(msg, "another mimir-sidecar keeps this workspace's journal") || !strings.Contains(msg, "not kept after it closes") {
		t.Errorf("second sidecar warning: %q", msg)
	}
	// It still runs workflows.
	os.WriteFile(filepath.Join(ws, "ok.yaml"), []byte("name: ok\ntasks:\n  - {id: a, worker: {command: 'true'}}\n"), 0o644)
	second.result("mimir/execute", map[string]any{"workflow": "ok.yaml"})
	second.until(isEvent("execution-complete"))
}
