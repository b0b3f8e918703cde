// Package launcher starts the commands of a workflow so that none of them,
// nor anything they start, outlives its run.
//
// On Linux a command is not started directly: the sidecar re-executes its
// own binary as a small launcher (marked by an environment variable), which
// becomes a child subreaper, starts the command in a session of its own
// and, when the command exits or the launcher is told to stop, kills
// everything left below it, setsid'ed or double-forked. The kernel sends
// the launcher SIGTERM when the sidecar dies, even by SIGKILL, so it cleans
// up then too. Every binary that uses Command must call Main first thing in
// main (and in TestMain), where the launcher takes over.
//
// On Windows the launcher is re-executed the same way; it puts itself in
// a Job Object that kills its processes when its last handle closes, then
// starts the command, which is in the job with all it starts from its first
// instruction. When the command exits the launcher ends the job (and
// itself) with the command's exit code; cancelling kills the launcher,
// which closes the job; and the launcher ends the job when the sidecar
// dies, however it dies.
//
// On macOS (and the BSDs) the launcher is re-executed too, in a process
// group of its own that the command shares:
// cancelling sends the group SIGTERM, then SIGKILL KillGrace later, and
// Finish kills what is left of the group when the command exits. There is
// no Pdeathsig: the launcher watches for its parent to change (a process
// whose parent dies is given to launchd) and then kills the group. A process
// that leaves the group (setsid) escapes Finish, where Linux's subreaper
// still finds it.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// KillGrace is how long a cancelled command gets to exit after SIGTERM
// before everything it started is killed: short enough that cancelling an
// execution is over within a second.
const KillGrace = 500 * time.Millisecond

// envKey marks a process as a launcher; its value is the launch's encoded
// options. The launcher removes it before it starts the command.
const envKey = "MIMIR_LAUNCH"

// Spec is one command to run.
type Spec struct {
	// Argv is the command and its arguments; a name without a slash is
	// looked up in PATH, as exec.Command does.
	Argv []string
	// Dir is the folder the command runs in.
	Dir string
	// Env is the command's whole environment.
	Env []string
	// Sandbox, when set, fences the command and all it starts: the
	// launcher applies it to itself before it starts the command, which
	// inherits it and cannot undo it.
	Sandbox *sandbox.Policy
}

// errNoHook is what a binary that did not call Main gets, instead of
// running itself again as its own "command" without end.
var errNoHook = errors.New("this program starts commands through internal/launcher but does not call launcher.Main first thing in main (or TestMain)")

// Command builds the command for s, bound to ctx: when ctx is done the
// command is sent SIGTERM, and killed with all it started KillGrace later.
// The caller sets Stdout and Stderr, calls Start and Wait, then Finish.
func Command(ctx context.Context, s Spec) (*exec.Cmd, error) {
	if len(s.Argv) == 0 {
		return nil, errors.New("start a command: nothing to run")
	}
	if _, inside := os.LookupEnv(envKey); inside {
		return nil, errNoHook
	}
	// Resolve the program as exec.Command would, here, so that a missing
	// one is an error before anything starts.
	probe := exec.Command(s.Argv[0])
	if probe.Err != nil {
		return nil, probe.Err
	}
	cmd, err := command(ctx, probe.Path, s)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Argv[0], err)
	}
	cmd.Dir = s.Dir
	return cmd, nil
}
