package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// No process a workflow started outlives its execution, however it ends
// and however it tried to get away: a worker starts a setsid'ed sleep and
// a double-forked one, then (but in "completion") waits.
func TestNoProcessOutlivesItsExecution(t *testing.T) {
	cases := []struct {
		name   string
		finish bool // the worker exits once its processes are started
		end    func(t *testing.T, p *sidecarProc, id, mark string)
	}{
		{"cancel", false, func(t *testing.T, p *sidecarProc, id, mark string) {
			p.call("mimir/cancel", map[string]any{"executionId": id})
			awaitEvent(p, engine.EventExecutionCancelled)
		}},
		{"completion", true, func(t *testing.T, p *sidecarProc, id, mark string) {
			awaitEvent(p, engine.EventExecutionComplete)
		}},
		{"exit", false, func(t *testing.T, p *sidecarProc, id, mark string) {
			p.send(map[string]any{"jsonrpc": "2.0", "method": "exit"})
			p.cmd.Wait()
		}},
		// What Emacs' jsonrpc does: shutdown, exit, and a kill at once.
		{"shutdown exit kill", false, func(t *testing.T, p *sidecarProc, id, mark string) {
			p.call("shutdown", nil)
			// The answer comes once the executions have stopped, so nothing
			// is left even before the kill.
			if left := marked(mark); len(left) > 0 {
				t.Errorf("processes still run when shutdown answers: %v", describe(left))
			}
			p.send(map[string]any{"jsonrpc": "2.0", "method": "exit"})
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.cmd.Wait()
		}},
		{"kill", false, func(t *testing.T, p *sidecarProc, id, mark string) {
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.cmd.Wait()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mark := fmt.Sprintf("mimir-procs-test-%d-%d", os.Getpid(), time.Now().UnixNano())
			t.Cleanup(func() {
				for _, pid := range marked(mark) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			// The worker waits for its processes to be seen by the test,
			// then exits or sleeps on.
			then := `while [ ! -e "$MIMIR_WORKSPACE/go" ]; do sleep 0.01; done; ` + map[bool]string{true: "exit 0", false: "sleep 300"}[c.finish]
			ws := t.TempDir()
			wf := fmt.Sprintf(`name: procs
tasks:
  - id: a
    maxRetries: 0
    worker:
      command: 'export MIMIR_PROCS_MARK=%s; setsid sleep 300 & ( sleep 300 & ) ; %s'
`, mark, then)
			os.WriteFile(filepath.Join(ws, "procs.yaml"), []byte(wf), 0o644)
			p := startSidecar(t, ws)
			res, _ := p.call("mimir/execute", map[string]any{"workflow": "procs.yaml"})
			id := res["executionId"].(string)
			deadline := time.Now().Add(20 * time.Second)
			for sleepers(mark) < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("the worker's processes did not start: %v", describe(marked(mark)))
				}
				time.Sleep(10 * time.Millisecond)
			}
			os.WriteFile(filepath.Join(ws, "go"), nil, 0o644)
			if !c.finish {
				for sleepers(mark) < 3 {
					if time.Now().After(deadline) {
						t.Fatalf("the worker did not go on: %v", describe(marked(mark)))
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			c.end(t, p, id, mark)
			deadline = time.Now().Add(10 * time.Second)
			for left := marked(mark); len(left) > 0; left = marked(mark) {
				if time.Now().After(deadline) {
					t.Fatalf("processes the workflow started outlived it: %v", describe(left))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func awaitEvent(p *sidecarProc, name string) {
	p.t.Helper()
	for {
		if ev, ok := eventOf(p.next()); ok && ev.Event == name {
			return
		}
	}
}

// marked lists the live processes (not zombies) whose environment holds
// mark.
func marked(mark string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("MIMIR_PROCS_MARK="+mark)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && bytes.HasPrefix(stat[i+1:], []byte(" Z")) {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// sleepers counts the marked "sleep 300" processes.
func sleepers(mark string) int {
	n := 0
	for _, pid := range marked(mark) {
		if cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); string(cmdline) == "sleep\x00300\x00" {
			n++
		}
	}
	return n
}

func describe(pids []int) []string {
	var out []string
	for _, pid := range pids {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		out = append(out, strconv.Itoa(pid)+" "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return out
}
