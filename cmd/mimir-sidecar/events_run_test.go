package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// events beside run --sse, started while the run's worker is busy, shows
// the execution from its start to its save, then says the sidecar has
// exited and exits 0.
func TestEventsBesideRunSSE(t *testing.T) {
	ws := t.TempDir()
	// The worker waits for the test to let it go, in its own folder.
	wf := "name: gated\ntasks:\n  - {id: a, worker: {command: 'while [ ! -e go ]; do sleep 0.05; done; echo done > out.txt'}}\n"
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(wf), 0o644)
	run := exec.Command(bin, "run", "wf.yaml", "--sse")
	run.Dir = ws
	runErr, _ := run.StderrPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	sc := bufio.NewScanner(runErr)
	sse := regexp.MustCompile(`📡 SSE: `)
	for sc.Scan() && !sse.MatchString(sc.Text()) {
	}
	go func() {
		for sc.Scan() {
		}
	}()

	// Bounded: a listener that misses the worker's start would otherwise
	// wait for it forever.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	events := exec.CommandContext(ctx, bin, "events", "--json")
	events.Dir = ws
	out, _ := events.StdoutPipe()
	var errb bytes.Buffer
	events.Stderr = &errb
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Process.Kill() })
	var names []string
	lines := bufio.NewScanner(out)
	released := false
	for lines.Scan() {
		var ev struct {
			Event string `json:"event"`
		}
		if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
			t.Fatalf("events --json printed %q", lines.Text())
		}
		names = append(names, ev.Event)
		if ev.Event == "worker-start" && !released {
			released = true
			staged, _ := filepath.Glob(filepath.Join(ws, ".mimir/executions/*/staging/a"))
			if len(staged) != 1 {
				t.Fatalf("the task's folder: %v", staged)
			}
			os.WriteFile(filepath.Join(staged[0], "go"), nil, 0o644)
		}
	}
	err := events.Wait()
	got := strings.Join(names, " ")
	if err != nil || !strings.HasPrefix(got, "execution-start task-start worker-start") || !strings.HasSuffix(got, "execution-complete deliverables-saved") {
		t.Errorf("events: %v, stderr %q, printed %s", err, errb.String(), got)
	}
	if !strings.Contains(errb.String(), "has exited") {
		t.Errorf("events did not say the sidecar exited: %q", errb.String())
	}
	if err := run.Wait(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// events --execution of an execution that ended, with no sidecar running,
// shows it from the history and exits, instead of waiting for a sidecar.
func TestEventsOfAFinishedExecutionWithoutSidecar(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: s\ntasks:\n  - id: a\n    worker: {command: 'echo hi > a.txt'}\n"), 0o644)
	out, _, _ := runBin(t, ws, "run", "wf.yaml", "--json")
	id := parseEvents(t, out)[0].ExecutionID
	got, errs, code := eventsBin(t, ws, "--execution", id, "--json")
	if code != 0 || got != out {
		t.Errorf("exit %d, stderr %q; printed:\n%s\nwant what the run printed:\n%s", code, errs, got, out)
	}
}
