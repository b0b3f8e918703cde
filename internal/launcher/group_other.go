//go:build !unix

package launcher

import (
	"context"
	"os/exec"
)

// command runs the program directly; without process groups only the
// command itself can be stopped.
func command(ctx context.Context, path string, s Spec) (*exec.Cmd, error) {
	if err := checkUnfenced(s); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path)
	cmd.Args = s.Argv
	cmd.Env = s.Env
	cmd.WaitDelay = KillGrace
	return cmd, nil
}

// Finish kills the command if it still runs.
func Finish(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
