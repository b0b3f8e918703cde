package acp

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	sdk "github.com/coder/acp-go-sdk"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// Bounds on an agent's terminals.
const (
	maxTerminals      = 16
	defaultOutputSize = 64 << 10
	maxOutputSize     = 1 << 20
)

// terminals are a session's terminal/* commands. Each runs through
// engine.RunCommand (the task's folder, environment, sandbox and process
// control, as an exec command), in a goroutine the set owns: close kills
// and waits for them all.
type terminals struct {
	job   *engine.Job
	phase string

	mu     sync.Mutex
	next   int
	byID   map[string]*terminal
	closed bool
	wg     sync.WaitGroup
}

func newTerminals(job *engine.Job, phase string) *terminals {
	return &terminals{job: job, phase: phase, byID: map[string]*terminal{}}
}

type terminal struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	out   []byte
	limit int
	cut   bool
	err   error // how it ended, once done
}

func (t *terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.out = append(t.out, p...)
	if over := len(t.out) - t.limit; over > 0 {
		// Truncated from the start, as the protocol asks, on a character
		// boundary.
		for over < len(t.out) && t.out[over]&0xC0 == 0x80 {
			over++
		}
		t.out = append(t.out[:0], t.out[over:]...)
		t.cut = true
	}
	return len(p), nil
}

func (ts *terminals) create(p sdk.CreateTerminalRequest, sub string) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return "", errors.New("terminal/create: the session is over")
	}
	if len(ts.byID) >= maxTerminals {
		return "", fmt.Errorf("terminal/create: at most %d terminals at once; release one first", maxTerminals)
	}
	limit := defaultOutputSize
	if p.OutputByteLimit != nil && *p.OutputByteLimit > 0 {
		limit = min(*p.OutputByteLimit, maxOutputSize)
	}
	// The command is run from the asked sub-folder of the task's folder,
	// by a shell that changes to it first.
	argv := append([]string{"/bin/sh", "-c", `cd "$0" && exec "$@"`, sub, p.Command}, p.Args...)
	env := map[string]string{}
	for _, e := range p.Env {
		env[e.Name] = e.Value
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &terminal{cancel: cancel, done: make(chan struct{}), limit: limit}
	ts.next++
	id := "term-" + strconv.Itoa(ts.next)
	ts.byID[id] = t
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		defer close(t.done)
		_, err := engine.RunCommand(ctx, ts.job, engine.Command{Argv: argv}, env, ts.phase, t)
		t.mu.Lock()
		t.err = err
		t.mu.Unlock()
	}()
	return id, nil
}

func (ts *terminals) get(id string) (*terminal, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.byID[id]
	if !ok {
		return nil, &sdk.RequestError{Code: -32602, Message: fmt.Sprintf("unknown terminal %q", id)}
	}
	return t, nil
}

func (ts *terminals) release(id string) error {
	ts.mu.Lock()
	t, ok := ts.byID[id]
	delete(ts.byID, id)
	ts.mu.Unlock()
	if !ok {
		return &sdk.RequestError{Code: -32602, Message: fmt.Sprintf("unknown terminal %q", id)}
	}
	t.stop()
	return nil
}

// close kills every terminal and waits for them.
func (ts *terminals) close() {
	ts.mu.Lock()
	ts.closed = true
	for _, t := range ts.byID {
		t.cancel()
	}
	ts.mu.Unlock()
	ts.wg.Wait()
}

// stop kills the terminal's command and waits for it to end.
func (t *terminal) stop() {
	t.cancel()
	<-t.done
}

func (t *terminal) output() sdk.TerminalOutputResponse {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := sdk.TerminalOutputResponse{Output: string(t.out), Truncated: t.cut}
	select {
	case <-t.done:
		r.ExitStatus = exitStatus(t.err)
	default:
	}
	return r
}

// exitStatus is how a terminal's command ended: its exit code, or the
// signal that killed it.
func exitStatus(err error) *sdk.TerminalExitStatus {
	if err == nil {
		return &sdk.TerminalExitStatus{ExitCode: sdk.Ptr(0)}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &sdk.TerminalExitStatus{Signal: sdk.Ptr(ws.Signal().String())}
		}
		return &sdk.TerminalExitStatus{ExitCode: sdk.Ptr(ee.ExitCode())}
	}
	// Killed (released, or the session ended) or never started.
	return &sdk.TerminalExitStatus{Signal: sdk.Ptr("SIGKILL")}
}
