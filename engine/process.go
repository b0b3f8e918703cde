package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Process is a long-lived command that an agent talks to over its
// standard input and output (an ACP agent), started by StartProcess.
type Process struct {
	// Stdin and Stdout are the command's; closing Stdin tells it to end.
	Stdin  io.WriteCloser
	Stdout io.ReadCloser

	stderr *tail
	done   chan struct{}
	err    error
}

// maxStderrTail is what is kept of a process's standard error: the reason
// it failed is at its end.
const maxStderrTail = 8 << 10

// StartProcess starts command for job as RunCommand runs one — the task's
// folder, environment, fence and process control — but returns at once
// with pipes to its standard input and output. ctx bounds it: when ctx is
// done the command is sent SIGTERM and, after the launcher's grace,
// killed with all it started. The caller reads Stdout to its end, or
// cancels ctx, and then calls Wait.
func StartProcess(ctx context.Context, job *Job, command Command, env map[string]string, phase string) (*Process, error) {
	if command.IsZero() {
		return nil, fmt.Errorf("%s command: nothing to run", phase)
	}
	p := &Process{stderr: newTail(maxStderrTail), done: make(chan struct{})}
	// Pipes of our own rather than cmd's: Wait closes those as soon as
	// the process exits, losing what it wrote last and is still unread.
	// The child's ends are closed here once it has them, so Stdout ends
	// when the process and all it started have let go of it.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s command %q: %w", phase, command.String(), err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("%s command %q: %w", phase, command.String(), err)
	}
	cmd, fence, err := startCommand(ctx, job, command, env, phase, func(cmd *exec.Cmd, fence *commandFence) error {
		cmd.Stdin, cmd.Stdout = inR, outW
		cmd.Stderr = fence.Watch(p.stderr)
		return nil
	})
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	p.Stdin, p.Stdout = inW, outR
	go func() {
		defer close(p.done)
		p.err = waitCommand(ctx, cmd, fence, command, phase)
	}()
	return p, nil
}

// Wait waits for the process to exit and returns how it ended.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Done is closed once the process has exited and Wait will not block.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stderr is the last 8 KiB the process wrote to its standard error.
func (p *Process) Stderr() string { return p.stderr.String() }
