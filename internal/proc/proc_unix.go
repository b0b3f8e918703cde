//go:build unix

package proc

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Running says whether pid is a live process; one this process may not
// signal counts as live. A zombie, dead and awaiting its reaper, holds
// nothing and does not count.
func Running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return !zombie(pid)
}

// zombie reads the process's state where /proc says it (Linux); elsewhere
// a process that answers signals is taken as running.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		_, noProc := os.Stat("/proc/self/stat")
		return noProc == nil // /proc exists, so the process is gone
	}
	if err != nil {
		return false
	}
	// The command name, in parentheses, may hold anything: the state
	// follows its last closing one.
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z")
}

// CPUTime is the user and system CPU time this process has used so far.
func CPUTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
