//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
