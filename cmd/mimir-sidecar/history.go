package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// errNoHistory is a workspace where nothing ever ran: there is nothing to
// read, and nothing is created to find that out.
var errNoHistory = errors.New("no history")

// openHistory opens the workspace's history for a command that reads or
// edits it. busy says how to do it while an editor's sidecar holds the
// history. The runner is closed by the caller.
func openHistory(ctx context.Context, ws *workspace.Workspace, busy string) (*engine.Runner, error) {
	if _, err := os.Lstat(ws.StateDir()); errors.Is(err, os.ErrNotExist) {
		return nil, errNoHistory
	}
	// Its folder gets its .gitignore like every other way in, so that it
	// is never committed.
	if err := ws.EnsureStateDir(); err != nil {
		return nil, err
	}
	// Warnings (a damaged journal, an execution that cannot be read) are
	// worth seeing here too.
	log, err := newLogger(os.Stderr, defaultLogLevel())
	if err != nil {
		return nil, err
	}
	j, _, err := journal.Open(ws.StateDir(), log)
	if errors.Is(err, journal.ErrJournalBusy) {
		return nil, fmt.Errorf("%w: %s, or close it first", err, busy)
	}
	if err != nil {
		return nil, err
	}
	return engine.NewRunner(ctx, engine.Options{Workspace: ws.Dir(), StateDir: ws.StateDir(), Journal: j, Logger: log}), nil
}

// executionsCmd lists the workspace's executions, newest first, a page of
// the history at a time.
func executionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("executions", `Usage: mimir-sidecar executions [--limit N] [--json] [--workspace DIR]

Lists the workspace's executions, newest first: the id that run --resume,
apply and events --execution take, the status, the workflow, when it
started, its tasks and its deliverables.`)
	wsDir := fs.String("workspace", ".", "the workspace whose executions to list")
	limit := fs.Int("limit", 20, "list at most this many (0: all of them)")
	jsonOut := fs.Bool("json", false, "print one execution summary (JSON) per line")
	pos, err := parseFlags(fs, args, stdout)
	if err == nil {
		err = noArgs("executions", pos)
	}
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("executions", "--limit %d: 1 or more, or 0 for all", *limit)
	}
	ws, err := workspace.Open(*wsDir)
	if err != nil {
		return err
	}
	runner, err := openHistory(ctx, ws, "list them in the editor")
	if errors.Is(err, errNoHistory) {
		if !*jsonOut {
			fmt.Fprintf(stderr, "No executions in %s yet: start one with mimir-sidecar run WORKFLOW\n", ws.Dir())
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer runner.Close(context.Background())

	var table *tabwriter.Writer
	if !*jsonOut {
		table = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(table, "ID\tSTATUS\tWORKFLOW\tSTARTED\tTASKS\tDELIVERABLES")
	}
	listed := 0
	for before := uint64(0); ; {
		want := engine.MaxPage
		if *limit > 0 {
			want = min(want, *limit-listed)
		}
		page, err := runner.ListPage(ctx, before, want)
		if err != nil {
			return err
		}
		for _, s := range page.Executions {
			if *jsonOut {
				data, err := json.Marshal(s)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s\n", data)
				continue
			}
			tasks := fmt.Sprintf("%d/%d", s.CompletedTasks, s.Tasks)
			if s.FailedTasks > 0 {
				tasks += fmt.Sprintf(" (%d failed)", s.FailedTasks)
			}
			fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\t%d\n", s.ExecutionID, s.Status, s.Workflow, when(s.StartedAt), tasks, s.Deliverables)
		}
		listed += len(page.Executions)
		if page.Next == 0 || (*limit > 0 && listed >= *limit) {
			break
		}
		before = page.Next
	}
	if table != nil {
		if listed == 0 {
			fmt.Fprintf(stderr, "No executions in %s: start one with mimir-sidecar run WORKFLOW\n", ws.Dir())
			return nil
		}
		return table.Flush()
	}
	return nil
}

// when is a time in the local zone, to the minute; the date only when it is
// not today.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	t = t.Local()
	if y, m, d := t.Date(); y == time.Now().Year() && m == time.Now().Month() && d == time.Now().Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// downloadsCmd lists past saves of deliverables, newest first, each with
// what became of its files.
func downloadsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("downloads", `Usage: mimir-sidecar downloads [--limit N] [--execution ID] [--json] [--workspace DIR]

Lists the saves of deliverables into the workspace, newest first: which
execution, when, into which folder, and what became of each file (saved,
unchanged, saved as a numbered copy, overwritten, skipped, failed).`)
	wsDir := fs.String("workspace", ".", "the workspace whose saves to list")
	limit := fs.Int("limit", 10, "list at most this many saves (0: all of them)")
	execID := fs.String("execution", "", "only the saves of this execution")
	jsonOut := fs.Bool("json", false, "print one save (JSON, with its files) per line")
	pos, err := parseFlags(fs, args, stdout)
	if err == nil {
		err = noArgs("downloads", pos)
	}
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("downloads", "--limit %d: 1 or more, or 0 for all", *limit)
	}
	ws, err := workspace.Open(*wsDir)
	if err != nil {
		return err
	}
	st := styleFor(stdout, os.Getenv)
	runner, err := openHistory(ctx, ws, "see them in the editor (mimir/downloads)")
	if errors.Is(err, errNoHistory) {
		if !*jsonOut {
			fmt.Fprintf(stderr, "No saves in %s yet: mimir-sidecar run WORKFLOW saves its deliverables at the end\n", ws.Dir())
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer runner.Close(context.Background())
	listed := 0
	for before := uint64(0); ; {
		page, err := runner.Downloads(ctx, before, engine.MaxPage)
		if err != nil {
			return err
		}
		for _, d := range page.Downloads {
			if *execID != "" && d.ExecutionID != *execID {
				continue
			}
			if *jsonOut {
				data, err := json.Marshal(d)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s\n", data)
			} else {
				fmt.Fprint(stdout, st.paint(describeDownload(d)))
			}
			if listed++; *limit > 0 && listed >= *limit {
				return nil
			}
		}
		if page.Next == 0 {
			break
		}
		before = page.Next
	}
	if listed == 0 && !*jsonOut {
		fmt.Fprintf(stderr, "No saves in %s yet: mimir-sidecar run WORKFLOW saves its deliverables at the end\n", ws.Dir())
	}
	return nil
}

// describeDownload is one save: when, which execution, its message, then
// its files.
func describeDownload(d engine.Download) string {
	var files []workspace.FileResult
	if raw, err := json.Marshal(d.Files); err == nil {
		_ = json.Unmarshal(raw, &files)
	}
	return fmt.Sprintf("%s  %s\n%s\n%s", when(d.Time), d.ExecutionID, d.Message, describeSave(files, d.Error))
}
