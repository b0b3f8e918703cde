//go:build unix && !linux

package launcher

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// wire is what the sidecar tells its launcher besides the command's argv
// (its arguments) and environment (its own).
type wire struct {
	// Path is the program, resolved by the sidecar.
	Path string `json:"path"`
	// Sidecar is the sidecar's pid: while the launcher's parent is that
	// process, the sidecar lives.
	Sidecar int `json:"sidecar"`
}

// sidecarPoll is how often a launcher checks that the sidecar still
// lives: what Linux's Pdeathsig tells at once, macOS lets a process see
// only as its parent changing (to launchd) when the parent dies.
const sidecarPoll = 100 * time.Millisecond

// command makes cmd run the launcher, this very binary, with the command
// as its arguments, in a process group of its own that the command shares:
// cancelling signals the group (SIGTERM, then SIGKILL KillGrace later) and
// Finish kills what is left of it; the launcher kills it when the sidecar
// dies, however it dies.
func command(ctx context.Context, path string, s Spec) (*exec.Cmd, error) {
	if err := checkUnfenced(s); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the sidecar's own binary to launch with: %w", err)
	}
	enc, err := json.Marshal(wire{Path: path, Sidecar: os.Getpid()})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Args = append([]string{"mimir-launch"}, s.Argv...)
	cmd.Env = append(slices.Clip(s.Env), envKey+"="+string(enc))
	// Out of the sidecar's process group, so a terminal's ^C reaches the
	// sidecar, which then cancels, and not the commands directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	// After the grace the launcher is killed and its pipes closed, so a
	// child that holds stdout open cannot keep Wait from returning.
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

// launch runs argv as the launcher, in the launcher's process group, and
// returns its exit code, or dies of the signal that killed the command.
func launch(enc string, argv []string) int {
	w, ok := readWire(enc, argv)
	if !ok {
		return 127
	}
	// Cancelling signals the whole group: the command ends as it chooses,
	// and the launcher waits for that rather than die first. (Caught, not
	// ignored: an ignored signal would stay ignored in the command.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	cmd, code := startCommand(w, argv)
	if cmd == nil {
		return code
	}
	// Ends with this process, which ends with the command or kills it.
	go func() {
		for os.Getppid() == w.Sidecar {
			time.Sleep(sidecarPoll)
		}
		_ = syscall.Kill(0, syscall.SIGKILL) // the group: the command, all it started, and this launcher
	}()
	_ = cmd.Wait()
	status, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if status.Signaled() {
		dieOf(status.Signal())
		return 128 + int(status.Signal())
	}
	return status.ExitStatus()
}

// dieOf ends this process by sig, as the command ended, so that whoever
// waits for the launcher reads the same status ("signal: segmentation
// fault"). The Go runtime keeps handlers for some signals (a SIGSEGV sent
// by kill would be taken for a fault of its own), so this process becomes
// a shell, with no handler, that sends itself sig; no core is dumped.
func dieOf(sig syscall.Signal) {
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	_ = syscall.Exec("/bin/sh", []string{"sh", "-c", "kill -" + strconv.Itoa(int(sig)) + " $$"}, nil)
}

// Subreaper does nothing where there are no child subreapers.
type Subreaper struct{}

// StartSubreaper does nothing where there are no child subreapers.
func StartSubreaper() (*Subreaper, error) { return &Subreaper{}, nil }

// Stop does nothing.
func (*Subreaper) Stop() {}
