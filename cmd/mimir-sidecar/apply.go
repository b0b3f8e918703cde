package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// applyCmd applies the changes of an execution's isolated tasks to the
// working tree, commits them on a branch, or discards their worktrees.
func applyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("apply", `Usage: mimir-sidecar apply EXECUTION [--task ID]... [--branch NAME] [--workspace DIR]
       mimir-sidecar apply EXECUTION --discard

Applies what the execution's isolated tasks (isolation: worktree or copy) changed to the working tree:
a three-way merge against the workspace as the execution found it. Files you edited since are merged;
overlapping edits are conflicts, reported per file, and then nothing is written.
Exit status 0 when applied, 1 on conflicts or failure, 2 for a mistake on the command line.`)
	wsDir := fs.String("workspace", ".", "the workspace the execution ran in")
	var tasks listFlag
	fs.Var(&tasks, "task", "apply only this task's change (repeatable; default: every isolated task that completed)")
	branch := fs.String("branch", "", "commit the change on this new branch, based on HEAD, and leave the working tree alone")
	discard := fs.Bool("discard", false, "remove the execution's worktrees instead of applying (the change stays recorded)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseFlags(fs, args, stdout)
	switch {
	case err != nil:
		return err
	case len(pos) != 1:
		return usagef("apply", "which execution? mimir-sidecar apply EXECUTION (mimir-sidecar executions lists them)")
	case *discard && (*branch != "" || len(tasks) > 0):
		return usagef("apply", "--discard applies nothing: drop --branch and --task, or --discard")
	}
	if !*jsonOut {
		stdout = styleFor(stdout, os.Getenv).writer(stdout)
	}
	ws, err := workspace.Open(*wsDir)
	if err != nil {
		return err
	}
	runner, err := openHistory(ctx, ws, "apply from the editor (mimir/applyChanges)")
	if errors.Is(err, errNoHistory) {
		return fmt.Errorf("no execution %q in %s: nothing ran there yet", pos[0], ws.Dir())
	}
	if err != nil {
		return err
	}
	defer runner.Close(context.Background())
	ex, ok := runner.Get(pos[0])
	if !ok {
		return fmt.Errorf("no execution %q in %s: list them with mimir-sidecar executions, or in the editor", pos[0], ws.Dir())
	}
	if *discard {
		if err := ex.DiscardChanges(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "🗑️ Discarded the worktrees of", ex.ID())
		return nil
	}
	rep, err := applyChanges(ctx, ws, ex, tasks, *branch)
	if err != nil {
		return err
	}
	if *jsonOut {
		data, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(stdout, "%s\n", data)
	} else {
		fmt.Fprint(stdout, engine.AppliedMessage(rep.Status, rep.Branch, rep.Applied, rep.Conflicts)+"\n"+describeApply(rep))
	}
	if rep.Status == workspace.ApplyConflict {
		return exitError{1}
	}
	return nil
}

// applyChanges applies ex's changes (tasks: all when empty) and records
// it in the execution's history.
func applyChanges(ctx context.Context, ws *workspace.Workspace, ex *engine.Execution, tasks []string, branch string) (workspace.ApplyReport, error) {
	cs, err := ex.ChangeSet(tasks)
	if err != nil {
		return workspace.ApplyReport{}, err
	}
	rep, err := ws.ApplyChanges(ctx, workspace.Change(cs), workspace.ApplyOptions{Branch: branch})
	if err != nil {
		return rep, err
	}
	ex.RecordApplied(ctx, rep.Status, rep.Branch, rep.Applied, rep.Conflicts, rep.Files)
	return rep, nil
}

// describeApply lists each file's outcome, one per line.
func describeApply(rep workspace.ApplyReport) string {
	var b []byte
	for _, f := range rep.Files {
		mark := "✓"
		switch f.Outcome {
		case workspace.FileConflict, workspace.FileRefused:
			mark = "✗"
		case workspace.FileNotDone, workspace.FileUnchanged:
			mark = "·"
		}
		b = fmt.Appendf(b, "    %s %s (%s, %s)", mark, f.Path, f.Change, f.Outcome)
		if f.Error != "" {
			b = fmt.Appendf(b, ": %s", f.Error)
		}
		if f.Theirs != "" {
			b = fmt.Appendf(b, "; the task's version is in %s", f.Theirs)
		}
		b = append(b, '\n')
	}
	return string(b)
}
