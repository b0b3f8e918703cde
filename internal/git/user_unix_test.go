//go:build unix

package git

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A .git that is a named pipe is refused at once, never waited on.
func TestDotGitPipeIsRefused(t *testing.T) {
	isolate(t)
	ws := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(ws, ".git"), 0o644); err != nil {
		t.Skip("no named pipes here")
	}
	done := make(chan error, 1)
	go func() { _, err := FindUserRepo(context.Background(), ws); done <- err }()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, ErrNotRepository) {
			t.Errorf("a .git pipe: %v, want a refusal", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("FindUserRepo waits on a .git pipe")
	}
}
