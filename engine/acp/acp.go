// Package acp provides the acp agent: a coding agent that speaks the Agent
// Client Protocol (Claude Code, Codex, Gemini CLI, Qwen Code, OpenCode,
// GitHub Copilot CLI, …) as a workflow's worker or QC agent, with the
// sidecar as its client.
//
// The engine knows nothing of it; whoever wires the engine up adds it:
//
//	agents := engine.Agents{"acp": acp.Agent()}
//
// # One agent process per attempt
//
// Each attempt (and each QC check) starts the agent afresh, under the
// launcher and the task's sandbox like an exec command, in the task's
// staging folder: initialize, session/new with that folder as cwd, one
// session/prompt with the task, its acceptance criteria, its dependencies'
// files and, from the second attempt, the QC gap. Keeping one process per
// task and its session across retries would save the agent's start (a few
// milliseconds for the test agent, seconds for an npx-launched one) and let
// it keep its context; but a retry's prompt already carries all the agent
// needs (the gap, and the files are still in the folder), a fresh process
// cannot carry a previous attempt's confusion or half-finished tool calls
// into the next, cancelling or timing out an attempt is killing one process
// tree, and the QC agent must not share the worker's session anyway.
// Measured with the test agent on a 2-core machine, from spawning the
// agent (launcher and all) to its first session/update: about 6 ms per
// attempt (BenchmarkAttemptOverhead), against 0.06 ms for a further turn
// in a session kept open (BenchmarkReusedSessionTurn). Next to an agent's
// own start (seconds for Node-based ones) and a model's turn, 6 ms is
// nothing; the real agents' start is what reuse would save, and that is
// bounded by a task's attempts.
//
// # The client side
//
// fs/read_text_file and fs/write_text_file are confined to the staging
// folder through os.Root: a path outside it gets an error, never a read or
// a write (and a QC agent may not write at all).
// session/request_permission is answered by the workflow's policy
// (`permissions:`), each answer an agent-permission event. terminal/* run
// through engine.RunCommand, fenced and killed like exec commands. Any
// other method the agent calls (vendors add their own) is answered with
// -32601, method not found.
//
// # The SDK
//
// The protocol is spoken through github.com/coder/acp-go-sdk, which has no
// dependencies of its own, generates its types from the protocol's JSON
// schema, orders session/update notifications before the response that
// follows them (so a turn's last message is in before its stopReason) and
// answers unknown methods with -32601 itself. The tests drive it against
// an agent written by hand for them (internal/testagent), not with the SDK,
// so the two are checked against each other.
package acp

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// Options tune the agent; the zero value is the defaults.
type Options struct {
	// StartTimeout bounds the agent's answers to initialize and
	// session/new: an agent that never answers fails the attempt with the
	// tail of its stderr. An npx-launched agent may first download
	// itself, hence the default of two minutes.
	StartTimeout time.Duration
	// CancelGrace is how long a cancelled agent has to end its turn after
	// session/cancel before its process tree is killed.
	CancelGrace time.Duration
	// Logger takes the protocol's warnings and errors (nil: none).
	Logger *slog.Logger
}

const (
	defaultStartTimeout = 2 * time.Minute
	defaultCancelGrace  = 2 * time.Second
)

// withDefaults fills in what o leaves out.
func (o Options) withDefaults() Options {
	if o.StartTimeout <= 0 {
		o.StartTimeout = defaultStartTimeout
	}
	if o.CancelGrace <= 0 {
		o.CancelGrace = defaultCancelGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Agent runs ACP agents with the default options.
func Agent() engine.AgentKind { return AgentWith(Options{}) }

// AgentWith runs ACP agents with opts.
func AgentWith(opts Options) engine.AgentKind {
	opts = opts.withDefaults()
	return engine.AgentKind{
		Worker: func(_ *engine.Task, spec *engine.AgentSpec) (engine.Worker, error) {
			cmd, err := launchCommand(spec)
			if err != nil {
				return nil, err
			}
			return worker{agent{spec: spec, command: cmd, opts: opts}}, nil
		},
		QC: func(task *engine.Task, spec *engine.AgentSpec) (engine.QC, error) {
			cmd, err := launchCommand(spec)
			if err != nil {
				return nil, err
			}
			return qc{agent: agent{spec: spec, command: cmd, opts: opts}, threshold: task.Threshold()}, nil
		},
	}
}

// agent is what a worker and a QC agent share: how to start it.
type agent struct {
	spec    *engine.AgentSpec
	command engine.Command
	opts    Options
}

// launchCommand is the command that starts spec's agent: its preset's, or
// its own. A program that is not on PATH is an error now, when the
// workflow is prepared, saying what to install, rather than a failed
// attempt later.
func launchCommand(spec *engine.AgentSpec) (engine.Command, error) {
	if spec.Agent != "" {
		p, ok := engine.LookupACPPreset(spec.Agent)
		if !ok {
			return engine.Command{}, fmt.Errorf("unknown ACP agent %q", spec.Agent)
		}
		if _, err := exec.LookPath(p.Argv[0]); err != nil {
			return engine.Command{}, fmt.Errorf("agent %s needs %q, which is not on PATH: install %s", p.Name, p.Argv[0], p.Install)
		}
		return engine.Command{Argv: p.Argv}, nil
	}
	if spec.Command.IsZero() {
		return engine.Command{}, errors.New("an acp agent needs `agent:` or `command:`")
	}
	if len(spec.Command.Argv) > 0 {
		if _, err := exec.LookPath(spec.Command.Argv[0]); err != nil {
			return engine.Command{}, fmt.Errorf("the ACP agent's program %q is not on PATH: install it, or give its full path in `command:`", spec.Command.Argv[0])
		}
	}
	return spec.Command, nil
}
