//go:build unix

package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// run refuses a workflow that is a named pipe at once (it used to wait for
// a writer forever) and one that links out of the workspace without quoting
// the file it points to.
func TestRunRefusesPipeAndLinkedWorkflows(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(ws, "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte("SECRET-TOKEN-123\n"), 0o644)
	os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(ws, "leak.yaml"))
	for name, want := range map[string]string{"pipe.yaml": "named pipe", "leak.yaml": "outside the workspace"} {
		stderr, code := runBinWithin(t, ws, 20*time.Second, "run", name)
		if code == 0 || !strings.Contains(stderr, want) || strings.Contains(stderr, "SECRET") {
			t.Errorf("run %s: exit %d, stderr %q; want a failure saying %q", name, code, stderr, want)
		}
	}
}

// runBinWithin runs the sidecar and kills it past the deadline: a run that
// hangs fails the test instead of the whole package's timeout.
func runBinWithin(t *testing.T, dir string, d time.Duration, args ...string) (stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v did not end within %v", args, d)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return errb.String(), 0
}

// A save that cannot be done at the end of a run is an event like any
// save, not only an exit status.
func TestRunReportsAFailedSave(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: out\ntasks:\n  - id: a\n    worker: {command: echo hi > out.txt}\n"), 0o644)
	os.Symlink(outside, filepath.Join(ws, "deliverables"))
	out, stderr, code := runBin(t, ws, "run", "wf.yaml", "--json")
	if code == 0 {
		t.Fatalf("run: exit 0 though nothing could be saved; stderr %s", stderr)
	}
	evs := parseEvents(t, out)
	last := evs[len(evs)-1]
	if last.Event != "deliverables-saved" || last.Data.Error == "" || last.Data.Failed == nil || *last.Data.Failed != 1 || !strings.Contains(last.Data.Message, "Could not save") {
		t.Errorf("last event %+v, want a failed deliverables-saved", last)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside the workspace: %v", entries)
	}
}

// A deliverable swapped for a named pipe after its task ended used to hang
// readDeliverable and then leave the sidecar deaf to SIGTERM: the read is
// refused at once and SIGTERM still ends the process.
func TestSwappedDeliverableLeavesSIGTERMWorking(t *testing.T) {
	ws := t.TempDir()
	p := startSidecar(t, ws)
	r, _ := p.call("mimir/execute", map[string]any{"inline": "name: pipes\ntasks:\n  - id: a\n    worker: {command: echo hi > out.txt}\n"})
	id := r["executionId"].(string)
	for {
		if ev, ok := eventOf(p.next()); ok && ev.Event == engine.EventExecutionComplete {
			break
		}
	}
	var staged string
	filepath.WalkDir(filepath.Join(ws, ".mimir"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "out.txt" {
			staged = path
		}
		return nil
	})
	if staged == "" {
		t.Fatal("the deliverable is not staged under .mimir")
	}
	os.Remove(staged)
	if err := syscall.Mkfifo(staged, 0o644); err != nil {
		t.Fatal(err)
	}
	p.nextID++
	p.send(map[string]any{"jsonrpc": "2.0", "id": p.nextID, "method": "mimir/readDeliverable", "params": map[string]any{"executionId": id, "path": "a/out.txt"}})
	for {
		m := p.next()
		if m["id"] == float64(p.nextID) {
			if e, _ := m["error"].(map[string]any); e == nil || !strings.Contains(e["message"].(string), "named pipe") {
				t.Errorf("readDeliverable of a pipe: %v", m)
			}
			break
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sidecar ignored SIGTERM")
	}
}
