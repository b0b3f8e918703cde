package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/internal/age"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// pruneCmd removes old executions from the workspace's history, with their
// staging folders.
func pruneCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wsDir := fs.String("workspace", ".", "the workspace whose history to prune")
	olderThan := fs.String("older-than", "", "remove executions finished longer ago than this (7d, 12h, 30m)")
	keep := fs.Int("keep", 0, "keep only this many of the newest finished executions")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mimir-sidecar prune [--older-than 7d] [--keep N] [--workspace DIR]\n\nRemoves finished executions, their events and their files. Running ones are kept.\nWithout --older-than or --keep it applies the history retention the sidecar\napplies by itself (history: keep and maxAge in config.yaml; by default the last\n200 executions or 30 days, whichever keeps more), which keeps interrupted ones.\n\n")
		fs.PrintDefaults()
	}
	if pos, err := parseFlags(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			fs.Usage()
		}
		return exitError{2}
	}
	maxAge, err := age.Parse(*olderThan)
	if err != nil {
		return err
	}
	if *keep < 0 {
		fmt.Fprintln(stderr, "mimir-sidecar prune: --keep is how many of the newest to keep: 1 or more")
		return exitError{2}
	}
	ws, err := workspace.Open(*wsDir)
	if err != nil {
		return err
	}
	rule := engine.PruneRule{OlderThan: maxAge, Keep: *keep}
	if maxAge == 0 && *keep == 0 {
		retention, warnings, err := engine.LoadRetention(ws.Dir())
		if err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Fprintln(stderr, w)
		}
		rule = retention
	}
	// The journal's folder is made here if it is missing; it gets its
	// .gitignore like every other way in, so it is never committed.
	if err := ws.EnsureStateDir(); err != nil {
		return err
	}
	// Warnings (a damaged journal, an execution that cannot be read) are
	// worth seeing here too.
	log, err := newLogger(stderr, defaultLogLevel())
	if err != nil {
		return err
	}
	j, _, err := journal.Open(ws.StateDir(), log)
	if errors.Is(err, journal.ErrJournalBusy) {
		return fmt.Errorf("%w: prune from the editor (mimir/prune), or close it first", err)
	}
	if err != nil {
		return err
	}
	runner := engine.NewRunner(ctx, engine.Options{Workspace: ws.Dir(), StateDir: ws.StateDir(), Journal: j, Logger: log})
	defer runner.Close(context.Background())
	removed, err := runner.PruneBy(ctx, rule)
	fmt.Fprintf(stdout, "removed %d %s\n", len(removed), map[bool]string{true: "execution", false: "executions"}[len(removed) == 1])
	if rule.Both {
		fmt.Fprintf(stdout, "the history keeps %s, and interrupted ones\n", rule)
	}
	return err
}
