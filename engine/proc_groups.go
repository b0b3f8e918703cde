package engine

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// A sidecar killed outright cannot stop the commands it started. Each
// running command's process group is therefore recorded in its execution's
// folder (<execution>/pgids/<pgid>) while it runs, so the next sidecar,
// finding the execution interrupted, can stop what is left of it. The id
// is known only once the command has started: a sidecar killed in the
// moment between leaves no record, and only the kernel's death signal (on
// Linux) stops the command itself.

// pgidsDir is where an execution's running process groups are recorded.
func pgidsDir(executionDir string) string { return filepath.Join(executionDir, "pgids") }

// recordGroup notes that cmd's process group runs for job and returns what
// forgets it, to call once the group is dead. A failure to record is
// logged by no one: it only costs the clean-up after a crash.
func recordGroup(job *Job, cmd *exec.Cmd, command string) (forget func()) {
	pgid := groupID(cmd)
	if pgid <= 0 || job.StagingRoot == "" {
		return func() {}
	}
	// StagingRoot is <execution>/staging.
	dir := pgidsDir(filepath.Dir(job.StagingRoot))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return func() {}
	}
	path := filepath.Join(dir, strconv.Itoa(pgid))
	if err := os.WriteFile(path, []byte(job.Task.ID+": "+command+"\n"), 0o644); err != nil {
		return func() {}
	}
	return func() { _ = os.Remove(path) }
}

// reapGroups kills the process groups ex's commands left running when the
// previous sidecar died: only those that still exist and still work inside
// ex's staging folder, so a process that was given a recorded id since is
// never touched.
func (r *Runner) reapGroups(ex *Execution) {
	dir := pgidsDir(ex.dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("cannot read the process groups of an interrupted execution", "execution", ex.id, "err", err)
		}
		return
	}
	for _, e := range entries {
		pgid, err := strconv.Atoi(e.Name())
		if err != nil || pgid <= 1 {
			continue
		}
		if groupAlive(pgid) {
			ours, err := groupInside(pgid, ex.StagingDir())
			switch {
			case err != nil:
				r.log.Warn("cannot tell whether a process group left by an interrupted execution is still its own; it is left running", "execution", ex.id, "pgid", pgid, "err", err)
			case ours:
				if err := killGroupID(pgid); err != nil {
					r.log.Warn("cannot stop a process group left by an interrupted execution", "execution", ex.id, "pgid", pgid, "err", err)
				} else {
					r.log.Info("stopped a process group left by an interrupted execution", "execution", ex.id, "pgid", pgid)
				}
			}
		}
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
	_ = os.Remove(dir)
}
