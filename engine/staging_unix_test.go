//go:build unix

package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// A task's folder that is a link (a cloned .mimir/ can hold one, under an
// execution a resume runs again) is refused, never followed: the command
// would run there, and the fence would let it write there.
func TestTaskFolderThatIsALinkIsRefused(t *testing.T) {
	outside := t.TempDir()
	staging := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(staging, "t")); err != nil {
		t.Fatal(err)
	}
	job := &Job{ExecutionID: "ex_x", Task: &Task{ID: "t"}, Attempt: 1, MaxAttempts: 1, Dir: filepath.Join(staging, "t"), StagingRoot: staging}
	if err := job.EnsureDir(); err == nil {
		t.Fatal("EnsureDir followed a link planted at the task's folder")
	}
	if _, err := RunCommand(t.Context(), job, Command{Shell: "echo owned > x"}, nil, PhaseWorker, nil); err == nil {
		t.Error("the command ran in a task folder that is a link")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("the worker wrote %d files outside through the link", len(entries))
	}
}
