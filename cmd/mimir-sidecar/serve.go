package main

import (
	"context"
	"io"
	"strings"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/remote"
	"github.com/mimir-sidecar/mimir-sidecar/internal/mirror"
	"github.com/mimir-sidecar/mimir-sidecar/rpc"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

func serveCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", `Usage: mimir-sidecar [serve] [flags]

Speaks JSON-RPC with LSP framing on stdin/stdout; editors start it this way.`)
	fs.Bool("stdio", true, "speak JSON-RPC on stdin/stdout (the only transport)")
	maxMessage := fs.Int("max-message", rpc.DefaultMaxMessage, "the largest message accepted, in bytes")
	wsDir := fs.String("workspace", "", "the workspace when the editor names none (default: the working directory)")
	logLevel := fs.String("log-level", defaultLogLevel(), "debug, info, warn or error (logs go to stderr)")
	sseAddr := fs.String("sse-addr", "127.0.0.1:0", "where the SSE mirror listens (a loopback address; port 0: any free one)")
	noSSE := fs.Bool("no-sse", false, "do not start the SSE mirror")
	natsURL := fs.String("nats", "", "run the attempts on workers through this NATS server (see mimir-sidecar worker)")
	natsPrefix := fs.String("nats-prefix", "", "with --nats: the prefix of subjects and streams (default: one per workspace)")
	httpExec := fs.Bool("http-execute", false, "let Mimir's POST /api/execute-workflow on the SSE port run workflows (it runs agents; also httpExecute: true in the user configuration)")
	var origins listFlag
	fs.Var(&origins, "sse-allow-origin", "a browser origin allowed to use the SSE mirror (repeatable, or comma-separated)")
	pos, err := parseFlags(fs, args, stdout)
	if err == nil {
		err = noArgs("serve", pos)
	}
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return usagef("serve", "%v", err)
	}
	opts := rpc.Options{
		Version:          sidecarVersion(),
		Logger:           log.With("component", "rpc"),
		MaxMessage:       *maxMessage,
		DefaultWorkspace: *wsDir,
		Agents:           func(ws *workspace.Workspace) (engine.Agents, error) { return agentsFor(ws, log, "") },
		Sandbox:          sandboxFor,
		Dispatcher: func(ctx context.Context, ws *workspace.Workspace) (rpc.Dispatcher, []string, error) {
			d, msgs, err := dispatcherFor(ctx, ws, remote.Config{URL: *natsURL, Prefix: *natsPrefix}, log)
			if d == nil {
				return nil, msgs, err // not a typed nil in the interface
			}
			return d, msgs, err
		},
	}
	if !*noSSE {
		execute, err := httpExecute(*httpExec)
		if err != nil {
			return err
		}
		opts.StartMirror = rpc.MirrorFunc(mirror.Options{Addr: *sseAddr, AllowOrigins: origins, HTTPExecute: execute, Logger: log.With("component", "sse")}.Start)
	}
	// An editor that gives up on a clean exit sends a signal; the running
	// agents must not outlive the sidecar, so it stops as on exit.
	ctx, stop := notifyStop(ctx)
	defer stop()
	code := rpc.Serve(ctx, pollable(stdin), stdout, opts)
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
