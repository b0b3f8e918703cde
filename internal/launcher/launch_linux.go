package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// wire is what the sidecar tells its launcher besides the command's argv
// (its arguments) and environment (its own).
type wire struct {
	// Path is the program, resolved by the sidecar.
	Path    string          `json:"path"`
	Sandbox *sandbox.Policy `json:"sandbox,omitempty"`
}

// command makes cmd run the launcher, this very binary (/proc/self/exe
// stays right even when the file was replaced since the sidecar started),
// with the command as its arguments.
func command(ctx context.Context, path string, s Spec) (*exec.Cmd, error) {
	enc, err := json.Marshal(wire{Path: path, Sandbox: s.Sandbox})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = append([]string{"mimir-launch"}, s.Argv...)
	cmd.Env = append(slices.Clip(s.Env), envKey+"="+string(enc))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Out of the sidecar's process group, so a terminal's ^C reaches
		// the sidecar, which then cancels, and not the commands directly.
		Setpgid: true,
		// SIGTERM, not SIGKILL: a launcher killed outright could not kill
		// what its command started. (The signal follows the OS thread that
		// started the launcher; Go keeps its threads alive unless a
		// goroutine locked to one exits, which the engine never does.)
		Pdeathsig: syscall.SIGTERM,
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	// The launcher itself kills the command KillGrace after SIGTERM, and
	// everything the command started before it exits, so nothing holds
	// its output past its end. This is only the bound past which a stuck
	// launcher is killed and its output closed, so that Wait returns
	// whatever happens; generous, since a launcher killed outright cannot
	// clean up (on a loaded machine 2×KillGrace was seen to be too short).
	cmd.WaitDelay = 10 * KillGrace
	return cmd, nil
}

// Finish is called once Wait returned. The launcher killed what the
// command left behind; nothing is left to do.
func Finish(*exec.Cmd) {}

// launch runs argv as the launcher and returns its exit code, or dies of
// the signal that killed the command.
func launch(enc string, argv []string) int {
	w, ok := readWire(enc, argv)
	if !ok {
		return 127
	}
	if err := setSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "mimir-sidecar launcher: %v\n", err)
		return 126
	}
	if w.Sandbox != nil {
		// Before the command's first instruction, so that it and all it
		// starts are fenced. Apply fences this goroutine's thread, the one
		// ForkExec below forks from; the launcher's other threads stay
		// outside the fence, free to signal and reap what is in it.
		if err := w.Sandbox.Apply(); err != nil {
			fmt.Fprintf(os.Stderr, "mimir-sidecar launcher: %v\n", err)
			return 126
		}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	pid, err := syscall.ForkExec(w.Path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{
			// A session of its own: nothing below the command can ever
			// share the sidecar's session, which is how the sidecar tells
			// a command's orphan from a launcher (see Subreaper).
			Setsid:    true,
			Pdeathsig: syscall.SIGKILL,
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fork/exec %s: %v\n", w.Path, err)
		if errors.Is(err, syscall.ENOENT) {
			return 127
		}
		return 126
	}

	// One goroutine reaps every child, the command and the orphans that
	// reparent here, and reports each; two waiters could each sleep on a
	// child the other reaped. The channel closes once no child is left.
	reaped := make(chan reap)
	go func() {
		defer close(reaped)
		for {
			var ws syscall.WaitStatus
			p, err := syscall.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil { // ECHILD: no child, so no descendant, is left
				return
			}
			reaped <- reap{p, ws}
		}
	}()
	var (
		status syscall.WaitStatus
		have   bool
		grace  <-chan time.Time
		over   bool // the grace after SIGTERM
	)
	for !have && !over {
		select {
		case r := <-reaped:
			if r.pid == pid {
				status, have = r.status, true
			}
		case <-stop:
			if grace == nil {
				_ = syscall.Kill(-pid, syscall.SIGTERM)
				grace = time.After(KillGrace)
			}
		case <-grace:
			over = true
		}
	}
	// Then everything left is killed, round after round: those that
	// reparent here as their parents die are found on the next one.
	for {
		for _, p := range children() {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		r, ok := <-reaped
		if !ok {
			break
		}
		if r.pid == pid {
			status, have = r.status, true
		}
	}
	switch {
	case !have:
		return 1
	case status.Signaled():
		dieOf(status.Signal())
		return 128 + int(status.Signal())
	default:
		return status.ExitStatus()
	}
}

type reap struct {
	pid    int
	status syscall.WaitStatus
}

// children lists this process's children: those of each of its threads,
// reparented orphans included.
func children() []int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return childrenByScan()
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			return childrenByScan() // a kernel without the children files
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// childrenByScan finds the children through every process's parent.
func childrenByScan() []int {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(p); ok && st.ppid == self {
			out = append(out, p)
		}
	}
	return out
}

type procStat struct{ ppid, session int }

// readStat reads pid's parent and session from /proc.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name, in parentheses, may hold anything: fields are
	// counted after its last closing one. Then: state, ppid, pgrp, session.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	sid, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return procStat{}, false
	}
	return procStat{ppid: ppid, session: sid}, true
}

func setSubreaper() error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return fmt.Errorf("become a child subreaper: %w", e)
	}
	return nil
}

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER, linux/prctl.h

// dieOf ends this process by sig, as the command ended, so that whoever
// waits for the launcher reads the same status ("signal: killed"). The Go
// runtime handles some signals itself (a SIGSEGV sent by kill would be
// ignored), so the default action is put back directly; no core is
// dumped for it.
func dieOf(sig syscall.Signal) {
	signal.Reset()
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	var act [8]uint64 // a struct sigaction of zeros: SIG_DFL, no flags, empty mask
	_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	set := uint64(1) << (uint(sig) - 1)
	_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 1 /* SIG_UNBLOCK */, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	_ = syscall.Kill(os.Getpid(), sig)
	time.Sleep(100 * time.Millisecond) // the signal is on its way
}
