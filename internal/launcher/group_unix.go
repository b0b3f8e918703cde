//go:build unix && !linux

package launcher

import (
	"context"
	"os/exec"
	"syscall"
)

// command runs the program directly, in a process group of its own that
// cancelling signals as a whole.
func command(ctx context.Context, path string, s Spec) (*exec.Cmd, error) {
	if err := checkUnfenced(s); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path)
	cmd.Args = s.Argv
	cmd.Env = s.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	// After the grace the leader is killed and its pipes closed, so a child
	// that holds stdout open cannot keep Wait from returning.
	cmd.WaitDelay = KillGrace
	return cmd, nil
}

// Finish kills whatever the command left running in its process group: a
// task's processes never outlive its attempt (those that left the group
// excepted; only Linux's launcher finds them).
func Finish(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
