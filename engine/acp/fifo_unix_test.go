//go:build unix

package acp

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	sdk "github.com/coder/acp-go-sdk"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// A named pipe the agent put in its folder (with a command of its own) is
// refused by fs/read_text_file and fs/write_text_file at once: opening it
// would wait for a writer or a reader that never comes.
func TestFSRefusesAPipe(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "out.md"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	c := newClient(&engine.Job{Task: &engine.Task{ID: "t"}, Dir: dir}, engine.PhaseWorker, root, "")
	c.session = "s"
	done := make(chan [2]error, 1)
	go func() {
		_, rerr := c.ReadTextFile(context.Background(), sdk.ReadTextFileRequest{SessionId: "s", Path: filepath.Join(dir, "out.md")})
		_, werr := c.WriteTextFile(context.Background(), sdk.WriteTextFileRequest{SessionId: "s", Path: filepath.Join(dir, "out.md"), Content: "x"})
		done <- [2]error{rerr, werr}
	}()
	select {
	case errs := <-done:
		for i, err := range errs {
			if err == nil {
				t.Errorf("%s of a pipe succeeded", [2]string{"read", "write"}[i])
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fs/* waited on a named pipe")
	}
	if st, err := os.Lstat(filepath.Join(dir, "out.md")); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the pipe was replaced: %v %v", st, err)
	}
}
