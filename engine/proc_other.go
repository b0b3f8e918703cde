//go:build !unix

package engine

import (
	"errors"
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

// Without process groups there is nothing to record for a later sidecar.
func groupID(*exec.Cmd) int { return 0 }

func groupAlive(int) bool { return false }

func killGroupID(int) error { return errors.ErrUnsupported }

func groupInside(int, string) (bool, error) { return false, errors.ErrUnsupported }
