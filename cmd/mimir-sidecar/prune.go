package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/age"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// pruneCmd removes old executions from the workspace's history, with their
// staging folders.
func pruneCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("prune", `Usage: mimir-sidecar prune [--older-than 7d] [--keep N] [--workspace DIR]

Removes finished executions, their events and their files. Running ones are kept.
Without --older-than or --keep it applies the history retention the sidecar
applies by itself (history: keep and maxAge in config.yaml; by default the last
200 executions or 30 days, whichever keeps more), which keeps interrupted ones.`)
	wsDir := fs.String("workspace", ".", "the workspace whose history to prune")
	olderThan := fs.String("older-than", "", "remove executions finished longer ago than this (7d, 12h, 30m)")
	keep := fs.Int("keep", 0, "keep only this many of the newest finished executions")
	pos, err := parseFlags(fs, args, stdout)
	if err == nil {
		err = noArgs("prune", pos)
	}
	if err != nil {
		return err
	}
	maxAge, err := age.Parse(*olderThan)
	if err != nil {
		return usagef("prune", "--older-than: %v", err)
	}
	if *keep < 0 {
		return usagef("prune", "--keep is how many of the newest to keep: 1 or more")
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
	runner, err := openHistory(ctx, ws, "prune from the editor (mimir/prune)")
	if errors.Is(err, errNoHistory) {
		// A workspace never used stays as it is.
		fmt.Fprintln(stdout, "removed 0 executions")
		return nil
	}
	if err != nil {
		return err
	}
	defer runner.Close(context.Background())
	removed, err := runner.PruneBy(ctx, rule)
	fmt.Fprintf(stdout, "removed %d %s\n", len(removed), map[bool]string{true: "execution", false: "executions"}[len(removed) == 1])
	if rule.Both {
		fmt.Fprintf(stdout, "the history keeps %s, and interrupted ones\n", rule)
	}
	return err
}
