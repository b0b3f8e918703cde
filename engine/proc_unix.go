//go:build unix

package engine

import (
	"os/exec"
	"syscall"
	"time"
)

// killGrace is how long a cancelled command gets to exit after SIGTERM
// before its whole process group is killed: short enough that cancelling an
// execution is over within a second.
const killGrace = 500 * time.Millisecond

func prepareGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	// After the grace the leader is killed and its pipes closed, so a child
	// that holds stdout open cannot keep Wait from returning.
	cmd.WaitDelay = killGrace
}

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
