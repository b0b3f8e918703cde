package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine/remote"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// natsSetup bounds connecting and setting up the prefix: an unreachable
// server is reported then, not waited on for ever.
const natsSetup = 10 * time.Second

// workerCmd runs attempts that sidecars queued on NATS JetStream.
func workerCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", `Usage: mimir-sidecar worker --nats URL --prefix PREFIX [flags]

Runs the task attempts a sidecar started with --nats queues, with this machine's agents and sandbox.
Stops on Ctrl-C or SIGTERM; attempts it was running go to another worker.`)
	natsURL := fs.String("nats", "", "the NATS server (nats://host:4222, tls://…); required")
	prefix := fs.String("prefix", "", "the prefix the sidecar dispatches under (it prints it when it starts)")
	name := fs.String("name", "", "this worker's name in events (default: host-pid)")
	concurrency := fs.Int("concurrency", 1, "attempts run at once")
	dir := fs.String("dir", "", "where attempts get their folders, and where .mimir/config.yaml configures the agents (default: a temporary folder)")
	creds := fs.String("creds", "", "a NATS .creds file")
	tokenEnv := fs.String("token-env", "", "the environment variable holding a NATS token")
	ca := fs.String("ca", "", "a PEM file of the CAs to trust for tls:// servers")
	ackWait := fs.Duration("ack-wait", remote.DefaultAckWait, "how long a silent worker keeps an attempt before it goes to another, if this worker is the first to set up the prefix (else the setting already there stands)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr)")
	pos, err := parseFlags(fs, args, stdout)
	if err == nil {
		err = noArgs("worker", pos)
	}
	switch {
	case err != nil:
		return err
	case *natsURL == "" || *prefix == "":
		return usagef("worker", "--nats and --prefix are required")
	case *concurrency < 1:
		return usagef("worker", "--concurrency %d: how many attempts run at once is 1 or more", *concurrency)
	}
	stdout = styleFor(stdout, os.Getenv).writer(stdout)
	stderr = styleFor(stderr, os.Getenv).writer(stderr)
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return usagef("worker", "%v", err)
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "mimir-worker-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	}
	ws, err := workspace.Open(*dir)
	if err != nil {
		return err
	}
	agents, err := agentsFor(ws, log, "start the worker again")
	if err != nil {
		return err
	}
	fence, warnings, err := sandboxFor(ws)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	ctx, stop := notifyStop(ctx)
	defer stop()
	setup, cancel := context.WithTimeout(ctx, natsSetup)
	defer cancel()
	w, err := remote.NewWorker(setup, remote.WorkerOptions{
		Config:      remote.Config{URL: *natsURL, Prefix: *prefix, Credentials: *creds, TokenEnv: *tokenEnv, CA: *ca, AckWait: *ackWait},
		Name:        *name,
		Concurrency: *concurrency,
		Dir:         *dir,
		Agents:      agents,
		Sandbox:     fence,
		Log:         log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "👷 Worker ready: taking attempts under %s from %s\n", *prefix, *natsURL)
	return w.Run(ctx)
}

// dispatcherFor is the dispatcher of a workspace when a NATS server is
// named (by flag, or the cluster section of the user's or workspace's
// configuration), nil when none is: attempts then run here. The messages
// are for the user: what was ignored, and how to start workers.
func dispatcherFor(ctx context.Context, ws *workspace.Workspace, flags remote.Config, log *slog.Logger) (*remote.Dispatcher, []string, error) {
	cfg, msgs, err := remote.LoadConfig(ws.Dir(), flags)
	if err != nil || cfg.URL == "" {
		return nil, msgs, err
	}
	setup, cancel := context.WithTimeout(ctx, natsSetup)
	defer cancel()
	d, err := remote.NewDispatcher(setup, cfg, log.With("component", "remote"))
	if err != nil {
		return nil, msgs, err
	}
	msgs = append(msgs, fmt.Sprintf("🛰️ Attempts go to workers through %s (prefix %s): start them with mimir-sidecar worker --nats %s --prefix %s", cfg.URL, d.Prefix(), cfg.URL, d.Prefix()))
	return d, msgs, nil
}
