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
	setDeathSignal(cmd.SysProcAttr)
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

// groupID is the process group a started command leads (prepareGroup gave
// it one of its own), 0 when it has none.
func groupID(cmd *exec.Cmd) int {
	if cmd.Process == nil {
		return 0
	}
	return cmd.Process.Pid
}

// groupAlive says whether any process is left in group pgid (one we may
// signal).
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

func killGroupID(pgid int) error {
	return syscall.Kill(-pgid, syscall.SIGKILL)
}
