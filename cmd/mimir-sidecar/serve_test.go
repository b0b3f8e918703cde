//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/proc"
)

const sleepWorkflow = `name: sleeper
tasks:
  - id: nap
    worker: {command: 'echo $$ > pid; exec sleep 300'}
`

// However the editor goes away, the sidecar ends its executions' processes
// and exits promptly, with status 1 when there was no shutdown.
func TestEditorGoesAway(t *testing.T) {
	cases := []struct {
		name  string
		leave func(p *sidecarProc)
	}{
		{"stdin closes", func(p *sidecarProc) { p.in.Close() }},
		{"exit without shutdown", func(p *sidecarProc) { p.send(map[string]any{"jsonrpc": "2.0", "method": "exit"}) }},
		{"SIGTERM", func(p *sidecarProc) { p.cmd.Process.Signal(syscall.SIGTERM) }},
		{"SIGHUP", func(p *sidecarProc) { p.cmd.Process.Signal(syscall.SIGHUP) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := t.TempDir()
			os.WriteFile(filepath.Join(ws, "sleeper.yaml"), []byte(sleepWorkflow), 0o644)
			p := startSidecar(t, ws)
			p.call("mimir/execute", map[string]any{"workflow": "sleeper.yaml"})
			// In the task's folder: the sandbox lets it write nowhere else.
			pid := waitForPid(t, filepath.Join(ws, ".mimir", "executions", "*", "staging", "nap", "pid"))

			tc.leave(p)
			exited := make(chan error, 1)
			go func() { exited <- p.cmd.Wait() }()
			select {
			case err := <-exited:
				if code := p.cmd.ProcessState.ExitCode(); code != 1 {
					t.Errorf("exit status %d (%v), want 1: the editor left without shutdown", code, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the sidecar was still running 10s after the editor left")
			}
			if proc.Running(pid) {
				t.Errorf("the worker (pid %d) outlived the sidecar", pid)
			}
		})
	}
}

// Garbage from the editor is answered and forgotten: the execution it
// interrupts carries on to its end.
func TestBadInputMidExecution(t *testing.T) {
	ws := exampleWorkspace(t)
	p := startSidecar(t, ws)
	p.call("mimir/execute", map[string]any{"workflow": "examples/translate-docs/workflow.yaml"})
	for _, garbage := range []string{
		"Content-Length: 9\r\n\r\n{not json",
		"Content-Length: 17\r\n\r\n{\"hello\":\"world\"}",
		"Content-Length: nope\r\n\r\n{\"jsonrpc\":\"2.0\"}",
	} {
		p.in.Write([]byte(garbage))
	}
	errorsSeen := 0
	for {
		m := p.next()
		if m["error"] != nil && m["id"] == nil {
			errorsSeen++
		}
		if ev, ok := eventOf(m); ok && ev.Event == "execution-complete" {
			if ev.Data.Status != "completed" {
				t.Errorf("execution %s after bad input", ev.Data.Status)
			}
			break
		}
	}
	if errorsSeen != 3 {
		t.Errorf("%d errors answered, want one per bad frame (3)", errorsSeen)
	}
	if r, _ := p.call("mimir/executions", nil); len(r["executions"].([]any)) != 1 {
		t.Errorf("executions after bad input: %v", r)
	}
}

// waitForPid reads the pid in the one file that matches the glob path.
func waitForPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(path); len(m) == 1 {
			if b, err := os.ReadFile(m[0]); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					return pid
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the worker did not write %s within 20s", path)
	return 0
}
