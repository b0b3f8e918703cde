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
