package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// setDeathSignal has the kernel kill a command when the sidecar dies, even
// by SIGKILL, so it does not go on writing into a staging folder no one
// watches. It reaches the command itself, not what the command started:
// those are found through the recorded process groups (see reapGroups).
// (The signal follows the OS thread that started the command; Go keeps its
// threads alive unless a goroutine locked to one exits, which the engine
// never does.)
func setDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}

// groupInside says whether process group pgid still has a member working
// inside dir: the check that a recorded group is still ours and not a
// stranger that was handed the same id since.
func groupInside(pgid int, dir string) (bool, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", dir, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, fmt.Errorf("list processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || processGroup(pid) != pgid {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil {
			continue // gone meanwhile, or not ours to look at
		}
		if rel, err := filepath.Rel(real, cwd); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true, nil
		}
	}
	return false, nil
}

// processGroup reads pid's process group from /proc (-1 when it cannot).
func processGroup(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name, in parentheses, may hold spaces: fields are counted
	// after its closing one. Then: state, ppid, pgrp.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return -1
	}
	pgid, err := strconv.Atoi(f[2])
	if err != nil {
		return -1
	}
	return pgid
}
