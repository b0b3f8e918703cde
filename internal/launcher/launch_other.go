//go:build !unix && !windows

package launcher

import (
	"context"
	"os/exec"
)

// command runs the program directly: without process groups or jobs only
// the command itself can be stopped.
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

// Main returns at once: no launcher runs here.
func Main() {}

// Subreaper does nothing where there are no child subreapers.
type Subreaper struct{}

// StartSubreaper does nothing where there are no child subreapers.
func StartSubreaper() (*Subreaper, error) { return &Subreaper{}, nil }

// Stop does nothing.
func (*Subreaper) Stop() {}
