package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/rpc"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

func serveCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("stdio", true, "speak JSON-RPC on stdin/stdout (the only transport)")
	maxMessage := fs.Int("max-message", rpc.DefaultMaxMessage, "the largest message accepted, in bytes")
	wsDir := fs.String("workspace", "", "the workspace when the editor names none (default: the working directory)")
	logLevel := fs.String("log-level", defaultLogLevel(), "debug, info, warn or error (logs go to stderr)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mimir-sidecar [serve] [flags]\n\nSpeaks JSON-RPC with LSP framing on stdin/stdout; editors start it this way.\n\n")
		fs.PrintDefaults()
	}
	if pos, err := parseFlags(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			fs.Usage()
		}
		return exitError{2}
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	code := rpc.Serve(ctx, pollable(stdin), stdout, rpc.Options{
		Version:          version,
		Logger:           log.With("component", "rpc"),
		MaxMessage:       *maxMessage,
		DefaultWorkspace: *wsDir,
		Agents:           func(ws *workspace.Workspace) (engine.Agents, error) { return agentsFor(ws, log) },
	})
	if code != 0 {
		return exitError{code}
	}
	return nil
}
