package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher"
)

// maxOutputTail is what is kept of a command's combined output: a chatty
// command must not grow the sidecar's memory.
const maxOutputTail = 64 << 10

// RunCommand runs command for job in its staging folder, the one way every
// agent runs one (the exec agent's commands, an llm worker's tool): the
// environment (MIMIR_* plus env, whose entries win over the sidecar's own,
// so an empty value hides a variable), the task's sandbox fence, a
// launcher that kills all it started when the call ends, and ctx for the
// timeout. It returns the last 64 KiB of the combined output; stdout,
// when not nil, is also given the command's standard output as it comes
// (a QC command's verdict).
func RunCommand(ctx context.Context, job *Job, command Command, env map[string]string, phase string, stdout io.Writer) (string, error) {
	if command.IsZero() {
		return "", fmt.Errorf("%s command: nothing to run", phase)
	}
	out := newTail(maxOutputTail)
	var outw io.Writer = out
	if stdout != nil {
		outw = io.MultiWriter(stdout, out)
	}
	err := runCommand(ctx, job, command, env, phase, outw, out)
	return out.String(), err
}

// runCommand runs command for job in its staging folder, through the
// launcher, so that cancelling it, or its end, stops everything it started.
func runCommand(ctx context.Context, job *Job, command Command, env map[string]string, phase string, stdout, stderr interface{ Write([]byte) (int, error) }) error {
	cmd, fence, err := startCommand(ctx, job, command, env, phase, func(cmd *exec.Cmd, fence *commandFence) error {
		cmd.Stdout, cmd.Stderr = stdout, fence.Watch(stderr)
		cmd.Stdin = nil
		return nil
	})
	if err != nil {
		return err
	}
	return waitCommand(ctx, cmd, fence, command, phase)
}

// startCommand starts command for job in its staging folder, through the
// launcher, under the task's fence; wire sets the command's standard
// streams. On success the caller owns fence and calls waitCommand.
func startCommand(ctx context.Context, job *Job, command Command, env map[string]string, phase string, wire func(*exec.Cmd, *commandFence) error) (*exec.Cmd, *commandFence, error) {
	if err := job.EnsureDir(); err != nil {
		return nil, nil, err
	}
	fence, err := fenceFor(job, phase)
	if err != nil {
		return nil, nil, err
	}
	argv := command.Argv
	if command.Shell != "" {
		argv = []string{"/bin/sh", "-c", command.Shell}
	}
	cmd, err := launcher.Command(ctx, launcher.Spec{Argv: argv, Dir: job.Dir, Env: append(commandEnv(job, env, phase), fence.Env...), Sandbox: fence.Policy})
	if err == nil {
		err = wire(cmd, fence)
	}
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fence.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("%s command %q: %w", phase, command.String(), err)
	}
	return cmd, fence, nil
}

// waitCommand waits for a command startCommand started and releases its
// fence.
func waitCommand(ctx context.Context, cmd *exec.Cmd, fence *commandFence, command Command, phase string) error {
	defer fence.Close()
	err := cmd.Wait()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command exited, but something it started held its output
		// open; that straggler is killed by Finish and the command's own
		// result stands.
		err = nil
	}
	// Whatever the command left running in the background dies with it:
	// a task's processes never outlive its attempt.
	launcher.Finish(cmd)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fence.Explain(fmt.Errorf("%s command %q: %w", phase, command.String(), err))
	}
	return nil
}

func commandEnv(job *Job, extra map[string]string, phase string) []string {
	env := os.Environ()
	env = append(env,
		"MIMIR_EXECUTION_ID="+job.ExecutionID,
		"MIMIR_TASK_ID="+job.Task.ID,
		"MIMIR_TASK_TITLE="+job.Task.DisplayTitle(),
		"MIMIR_PHASE="+phase,
		"MIMIR_ATTEMPT="+strconv.Itoa(job.Attempt),
		"MIMIR_MAX_ATTEMPTS="+strconv.Itoa(job.MaxAttempts),
		"MIMIR_STAGING_DIR="+job.Dir,
		"MIMIR_STAGING_ROOT="+job.StagingRoot,
		"MIMIR_WORKFLOW_DIR="+job.WorkflowDir,
		"MIMIR_WORKSPACE="+job.Workspace,
		"MIMIR_GAP_FILE="+job.GapFile,
		"MIMIR_PATCH_FILE="+patchFile(job),
	)
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// tail keeps the last n bytes written: the end of a failing command's output
// is where the reason is.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
	cut bool
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.n; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}

// OutputIssues is what a gap lists as the issues of a command that
// failed: the last ten lines of its output, where the reason is.
func OutputIssues(output string) []string {
	const n = 10
	lines := strings.Split(strings.TrimSpace(output), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return []string{}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// patchFile is where a QC command finds the worker's change as a diff
// ("" for a task that is not isolated).
func patchFile(job *Job) string {
	if job.Change == nil {
		return ""
	}
	return job.Change.PatchFile
}
