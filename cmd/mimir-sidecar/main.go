// Command mimir-sidecar runs AI-agent workflows for an editor.
//
// With no subcommand (or "serve") it speaks JSON-RPC on stdin/stdout for an
// editor; "run" runs one workflow headless.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher"
)

// exitError carries a process exit status up to main.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	// A re-executed copy of this binary may be the launcher of a
	// workflow's command rather than the sidecar.
	launcher.Main()
	// What a launcher killed outright leaves comes here, to be killed. It
	// is a backstop: without it the launchers still clean up after
	// themselves.
	orphans, err := launcher.StartSubreaper()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mimir-sidecar: warning:", err)
	}
	code := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if orphans != nil {
		orphans.Stop()
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := "serve", args
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "--version" || args[0] == "--help" || args[0] == "-h") {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, rest, stdin, stdout, stderr)
	case "run":
		err = runCmd(ctx, rest, stdout, stderr)
	case "events":
		err = eventsCmd(ctx, rest, stdout, stderr)
	case "prune":
		err = pruneCmd(ctx, rest, stdout, stderr)
	case "apply":
		err = applyCmd(ctx, rest, stdout, stderr)
	case "worker":
		err = workerCmd(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "mimir-sidecar", sidecarVersion())
	case "executions":
		err = executionsCmd(ctx, rest, stdout, stderr)
	case "downloads":
		err = downloadsCmd(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		err = helpCmd(ctx, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "mimir-sidecar: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	var exit exitError
	var bad usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &bad):
		printUsageError(stderr, bad)
		return 2
	default:
		fmt.Fprintln(stderr, "mimir-sidecar:", err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  mimir-sidecar [serve] [flags]       speak JSON-RPC on stdin/stdout (what editors start)
  mimir-sidecar run WORKFLOW [flags]  run one workflow and save its deliverables
  mimir-sidecar events [flags]        follow a running sidecar's events (SSE)
  mimir-sidecar apply EXECUTION       apply the changes of its isolated tasks to the working tree
  mimir-sidecar executions [flags]    list the workspace's executions, newest first
  mimir-sidecar downloads [flags]     list past saves of deliverables, file by file
  mimir-sidecar prune [flags]         remove old executions from the history
  mimir-sidecar worker --nats URL     run task attempts sidecars queue on NATS JetStream
  mimir-sidecar version               print the version

Run "mimir-sidecar help COMMAND" (or "mimir-sidecar COMMAND -h") for a command's flags.
`)
}

// newLogger logs to stderr (stdout may be the RPC channel), quiet unless
// asked: warnings and errors only by default.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func defaultLogLevel() string {
	if l := os.Getenv("MIMIR_LOG"); l != "" {
		return l
	}
	return "warn"
}
