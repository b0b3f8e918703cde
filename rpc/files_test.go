//go:build unix

package rpc

import (
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/mirror"
)

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

// shutdownAndExit ends the session the way an editor does; both must still
// be answered whatever came before.
func shutdownAndExit(t *testing.T, c *client) {
	t.Helper()
	if resp, _ := c.call("shutdown", nil); resp["error"] != nil {
		t.Fatalf("shutdown: %v", resp)
	}
	c.notify("exit", nil)
	if code := <-c.served; code != 0 {
		t.Errorf("exit after shutdown: status %d, want 0", code)
	}
	c.served <- 0 // for the cleanup
}

func isDiagnosticsFor(uri string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		if m["method"] != "textDocument/publishDiagnostics" {
			return false
		}
		return m["params"].(map[string]any)["uri"] == uri
	}
}

func diagnosticMessages(m map[string]any) string {
	var out []string
	for _, d := range m["params"].(map[string]any)["diagnostics"].([]any) {
		out = append(out, d.(map[string]any)["message"].(string))
	}
	return strings.Join(out, "\n")
}

// A workflow path that is a named pipe used to block the request that read
// it, and with it every request after it, shutdown included.
func TestWorkflowThatIsAPipeIsRefusedAtOnce(t *testing.T) {
	ws := t.TempDir()
	mkfifo(t, filepath.Join(ws, "pipe.mimir.yaml"))
	c := startServer(t, Options{})
	c.initialize(ws, nil)

	resp, _ := c.call("mimir/execute", map[string]any{"workflow": "pipe.mimir.yaml"})
	if msg := errorMessage(resp); !strings.Contains(msg, "named pipe") {
		t.Errorf("execute a pipe: %v, want it refused as a named pipe", resp)
	}

	// The editor closing the file makes the sidecar check it on disk.
	uri := fileURI(filepath.Join(ws, "pipe.mimir.yaml"))
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": uri, "languageId": "yaml", "version": 1, "text": validText}})
	c.notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": uri}})
	got := c.until(func(m map[string]any) bool {
		return isDiagnosticsFor(uri)(m) && len(m["params"].(map[string]any)["diagnostics"].([]any)) > 0
	})
	if msg := diagnosticMessages(got[len(got)-1]); !strings.Contains(msg, "named pipe") {
		t.Errorf("diagnostics of a pipe: %q", msg)
	}
	shutdownAndExit(t, c)
}

// A workflow file that links out of the workspace is refused before it is
// read: no error may quote the file it points to.
func TestWorkflowLinkedOutOfTheWorkspaceIsRefused(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret.yaml")
	os.WriteFile(secret, []byte("SECRET-TOKEN-123\n"), 0o644)
	os.Symlink(secret, filepath.Join(ws, "leak.mimir.yaml"))
	// A link that stays inside is followed.
	os.Mkdir(filepath.Join(ws, "real"), 0o755)
	os.WriteFile(filepath.Join(ws, "real", "wf.yaml"), []byte("name: inside\ntasks:\n  - id: a\n    worker: {command: x}\n    dependsOn: [nope]\n"), 0o644)
	os.Symlink(filepath.Join("real", "wf.yaml"), filepath.Join(ws, "inside.mimir.yaml"))

	c := startServer(t, Options{})
	c.initialize(ws, nil)

	resp, _ := c.call("mimir/execute", map[string]any{"workflow": "leak.mimir.yaml"})
	if errorCode(resp) != int(CodePathNotAllowed) || strings.Contains(errorMessage(resp), "SECRET") || !strings.Contains(errorMessage(resp), "outside the workspace") {
		t.Errorf("execute a link out of the workspace: %v, want PathNotAllowed without the file's text", resp)
	}
	resp, _ = c.call("mimir/execute", map[string]any{"workflow": "inside.mimir.yaml"})
	if errorCode(resp) != int(CodeInvalidWorkflow) || !strings.Contains(errorMessage(resp), `"nope"`) {
		t.Errorf("execute a link inside the workspace: %v, want the linked workflow read and judged", resp)
	}

	uri := fileURI(filepath.Join(ws, "leak.mimir.yaml"))
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": uri, "languageId": "yaml", "version": 1, "text": validText}})
	c.notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": uri}})
	got := c.until(func(m map[string]any) bool {
		return isDiagnosticsFor(uri)(m) && len(m["params"].(map[string]any)["diagnostics"].([]any)) > 0
	})
	if msg := diagnosticMessages(got[len(got)-1]); strings.Contains(msg, "SECRET") || !strings.Contains(msg, "outside the workspace") {
		t.Errorf("diagnostics of a link out of the workspace: %q", msg)
	}
	shutdownAndExit(t, c)
}

// validText is a buffer without problems: its diagnostics are empty.
const validText = "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n"

// stagedFile finds where the sidecar keeps a deliverable of an execution:
// the file name under its task's folder somewhere in the state folder.
func stagedFile(t *testing.T, ws, task, name string) string {
	t.Helper()
	var found string
	filepath.WalkDir(filepath.Join(ws, ".mimir"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == name && filepath.Base(filepath.Dir(p)) == task {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no staged %s/%s under %s/.mimir", task, name, ws)
	}
	return found
}

// A deliverable swapped for a named pipe after its task ended used to hang
// readDeliverable, the mirror's download and its ZIP, and after them the
// sidecar's exit. Each now answers at once with an error naming the file.
func TestDeliverableSwappedForAPipe(t *testing.T) {
	ws := t.TempDir()
	c := startServer(t, Options{StartMirror: MirrorFunc(mirror.Options{}.Start)})
	r := c.initialize(ws, map[string]any{"toasts": "none"})
	sse := r["mimir"].(map[string]any)["sse"].(map[string]any)
	id := c.result("mimir/execute", map[string]any{"inline": "name: pipes\ntasks:\n  - id: a\n    worker: {command: echo hi > out.txt}\n"})["executionId"].(string)
	c.until(isEvent("execution-complete"))

	staged := stagedFile(t, ws, "a", "out.txt")
	os.Remove(staged)
	mkfifo(t, staged)

	resp, _ := c.call("mimir/readDeliverable", map[string]any{"executionId": id, "path": "a/out.txt"})
	if msg := errorMessage(resp); !strings.Contains(msg, "a/out.txt") || !strings.Contains(msg, "named pipe") {
		t.Errorf("readDeliverable of a pipe: %v", resp)
	}
	httpc := &http.Client{Timeout: 20 * time.Second}
	for _, path := range []string{"/deliverables/a/out.txt", "/deliverables.zip"} {
		req, _ := http.NewRequest("GET", sse["url"].(string)+"/executions/"+id+path, nil)
		req.Header.Set("Authorization", "Bearer "+sse["token"].(string))
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "a/out.txt") || !strings.Contains(string(body), "named pipe") {
			t.Errorf("GET %s: %d %s, want 409 naming the pipe", path, resp.StatusCode, body)
		}
	}
	shutdownAndExit(t, c)
}

func eventData(m map[string]any) map[string]any {
	return m["params"].(map[string]any)["data"].(map[string]any)
}

// An auto-save that cannot be done (deliverables/ links out of the
// workspace) used to leave only a log line: it is a deliverables-saved
// event with every file failed and the reason, and an error toast.
func TestAutoSaveFailureIsReported(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	os.Symlink(outside, filepath.Join(ws, "deliverables"))
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"autoSave": true})
	c.result("mimir/execute", map[string]any{"inline": "name: out\ntasks:\n  - id: a\n    worker: {command: echo hi > out.txt}\n"})
	got := c.until(isEvent("deliverables-saved"))
	d := eventData(got[len(got)-1])
	results, _ := d["results"].([]any)
	if d["failed"] != float64(1) || d["saved"] != float64(0) || d["error"] == nil || len(results) != 1 {
		t.Fatalf("deliverables-saved of a failed auto-save: %v", d)
	}
	if r := results[0].(map[string]any); r["path"] != "a/out.txt" || r["status"] != "failed" || r["error"] == "" {
		t.Errorf("its result: %v", r)
	}
	toasts := c.until(func(m map[string]any) bool {
		return m["method"] == "window/showMessage" && strings.Contains(m["params"].(map[string]any)["message"].(string), "Could not save")
	})
	toast := toasts[len(toasts)-1]["params"].(map[string]any)
	if toast["type"] != float64(1) || !strings.Contains(toast["message"].(string), "outside") {
		t.Errorf("toast %v, want an error saying what failed and what to do", toast)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside the workspace: %v", entries)
	}
	shutdownAndExit(t, c)
}

// A resumed execution is auto-saved like a fresh one.
func TestResumedExecutionIsAutoSaved(t *testing.T) {
	ws := t.TempDir()
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"autoSave": true, "toasts": "none"})
	id := c.result("mimir/execute", map[string]any{"inline": `name: resumable
tasks:
  - id: a
    worker: {command: echo a > a.txt}
  - id: b
    dependsOn: [a]
    maxRetries: 0
    worker: {command: 'test -f "$MIMIR_WORKSPACE/go" && echo b > b.txt'}
`})["executionId"].(string)
	got := c.until(isEvent("execution-complete"))
	if d := eventData(got[len(got)-1]); d["status"] != "failed" {
		t.Fatalf("first run: %v", d)
	}
	os.WriteFile(filepath.Join(ws, "go"), nil, 0o644)
	c.result("mimir/resume", map[string]any{"executionId": id})
	got = c.until(isEvent("deliverables-saved"))
	if d := eventData(got[len(got)-1]); d["saved"] != float64(2) || d["failed"] != float64(0) {
		t.Errorf("deliverables-saved after the resume: %v", d)
	}
	for _, f := range []string{"a/a.txt", "b/b.txt"} {
		if _, err := os.Stat(filepath.Join(ws, "deliverables", f)); err != nil {
			t.Errorf("%s not saved: %v", f, err)
		}
	}
	shutdownAndExit(t, c)
}
