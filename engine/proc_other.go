//go:build !unix

package engine

import (
	"os/exec"
	"time"
)

const killGrace = 500 * time.Millisecond

// Without process groups only the command itself can be stopped.
func prepareGroup(cmd *exec.Cmd) { cmd.WaitDelay = killGrace }

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
