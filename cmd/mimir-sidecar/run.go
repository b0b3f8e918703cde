package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/engine/remote"
	"github.com/mimir-sidecar/mimir-sidecar/internal/events"
	"github.com/mimir-sidecar/mimir-sidecar/internal/mirror"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", `Usage: mimir-sidecar run WORKFLOW [flags]
       mimir-sidecar run --resume ID [flags]

Runs one workflow, shows its progress and saves its deliverables.
Exit status 0 when the execution completed, 1 when it failed or could not
run, 2 for a mistake on the command line, 130 when interrupted.`)
	wsDir := fs.String("workspace", ".", "the workspace folder: state goes to its .mimir/, deliverables to its deliverables/")
	jsonOut := fs.Bool("json", false, "print one event envelope per line instead of readable progress")
	parallelism := fs.Int("parallelism", 0, "tasks run at once (default: the workflow's, else one per CPU)")
	noSave := fs.Bool("no-save", false, "do not save the deliverables into the workspace at the end")
	target := fs.String("deliverables", "deliverables", "the folder inside the workspace to save deliverables into")
	conflict := fs.String("conflict", "keep-both", "when a deliverable's file already exists: keep-both, overwrite or skip")
	logLevel := fs.String("log-level", defaultLogLevel(), "debug, info, warn or error (logs go to stderr)")
	resume := fs.String("resume", "", "resume this interrupted, failed or cancelled execution instead of running a workflow")
	apply := fs.Bool("apply", false, "apply the changes of the isolated tasks (isolation: worktree or copy) to the working tree at the end")
	branch := fs.String("branch", "", "with --apply: commit the changes on this new branch instead, leaving the working tree alone")
	natsURL := fs.String("nats", "", "run the attempts on workers through this NATS server (see mimir-sidecar worker)")
	natsPrefix := fs.String("nats-prefix", "", "with --nats: the prefix of subjects and streams (default: one per workspace)")
	sse := fs.Bool("sse", false, "mirror the events on a local SSE port while the run lasts (address and token are printed)")
	sseAddr := fs.String("sse-addr", "127.0.0.1:0", "where the SSE mirror listens, with --sse")
	httpExec := fs.Bool("http-execute", false, "with --sse: let Mimir's POST /api/execute-workflow run workflows (it runs agents; also httpExecute: true in the user configuration)")
	var sseOrigins listFlag
	fs.Var(&sseOrigins, "sse-allow-origin", "with --sse: a browser origin allowed to use the SSE mirror (repeatable, or comma-separated)")
	pos, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if err := checkRunFlags(fs, pos, *resume, *parallelism); err != nil {
		return err
	}
	stderr = styleFor(stderr, os.Getenv).writer(stderr)
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return usagef("run", "%v", err)
	}
	policy, err := workspace.ParseConflict(*conflict)
	if err != nil {
		return usagef("run", "--conflict: %v", err)
	}
	ws, err := workspace.Open(*wsDir)
	if err != nil {
		return err
	}
	if !*noSave {
		// Refused now, not after the whole execution ran.
		if _, err := ws.TargetDir(*target); err != nil {
			return usagef("run", "--deliverables %s: %v; name a folder inside the workspace %s", *target, err, ws.Dir())
		}
	}
	var wf *engine.Workflow
	if *resume == "" {
		wf, err = loadWorkflowArg(ws, pos[0])
		var invalid *engine.ValidationError
		if errors.As(err, &invalid) {
			fmt.Fprintln(stderr, err)
			return exitError{2}
		}
		if err != nil {
			return err
		}
	}
	if err := ws.EnsureStateDir(); err != nil {
		return err
	}
	jr, status, err := journal.Open(ws.StateDir(), log)
	if status.Damaged != "" {
		fmt.Fprintf(stderr, "⚠️ The execution history was damaged (%v); a copy is kept at %s and a new history started.\n", status.Err, status.Damaged)
	}
	if errors.Is(err, journal.ErrJournalBusy) {
		if *resume != "" {
			return fmt.Errorf("%w: resume from the editor that runs it, or close it first", err)
		}
		fmt.Fprintf(stderr, "⚠️ %v: this run is not kept in the workspace's history.\n", err)
		jr = nil
	} else if err != nil {
		return err
	}

	agents, err := agentsFor(ws, log, "run the workflow again")
	if err != nil {
		return err
	}
	fence, fenceWarnings, err := sandboxFor(ws)
	if err != nil {
		return err
	}
	for _, w := range fenceWarnings {
		fmt.Fprintln(stderr, w)
	}
	dispatcher, msgs, err := dispatcherFor(ctx, ws, remote.Config{URL: *natsURL, Prefix: *natsPrefix}, log)
	for _, m := range msgs {
		fmt.Fprintln(stderr, m)
	}
	if err != nil {
		return err
	}
	if dispatcher != nil {
		defer dispatcher.Close()
	}
	hub := notify.NewHub(8192)
	opts := engine.Options{
		Workspace: ws.Dir(),
		StateDir:  ws.StateDir(),
		Agents:    agents,
		Logger:    log,
		Sink:      hubSink(hub, log),
		Sandbox:   fence,
	}
	if jr != nil { // a nil *journal.Journal would be a journal, not none
		opts.Journal = jr
	}
	if dispatcher != nil { // likewise
		opts.Dispatcher = dispatcher
	}
	runner := engine.NewRunner(ctx, opts)
	// Closing the runner flushes the journal: every event is on disk before
	// the process ends.
	defer runner.Close(context.Background())
	var ex *engine.Execution
	if *resume != "" {
		ex, err = runner.Resume(*resume)
	} else {
		ex, err = runner.Prepare(wf, engine.ExecOptions{Parallelism: *parallelism})
	}
	if err != nil {
		return err
	}
	var sseMirror *mirror.Mirror
	if *sse {
		execute, err := httpExecute(*httpExec)
		if err != nil {
			return err
		}
		sseMirror, err = mirror.Options{Addr: *sseAddr, AllowOrigins: sseOrigins, HTTPExecute: execute, Logger: log.With("component", "sse")}.Start(ws, hub, runner, jr)
		if err != nil {
			return err
		}
		defer sseMirror.Close()
		if path, ok := sseMirror.DiscoveryFile(); ok {
			fmt.Fprintf(stderr, "📡 SSE: %s/events (token %s, also in %s)\n", sseMirror.URL(), sseMirror.Token(), path)
		} else {
			fmt.Fprintf(stderr, "📡 SSE: %s/events (token %s; .mimir/sidecar.json names another sidecar's running mirror)\n", sseMirror.URL(), sseMirror.Token())
		}
	}

	var p printer = jsonPrinter{w: stdout}
	if !*jsonOut {
		text := &textPrinter{w: stdout, st: styleFor(stdout, os.Getenv)}
		p = text
		if text.st.live {
			stopTicking := tickEverySecond(ctx, text.tick)
			defer text.done()
			defer stopTicking()
		}
	}
	final := []string{engine.EventDeliverablesSaved, engine.EventExecutionCancelled}
	if *apply {
		final = []string{engine.EventChangesApplied, engine.EventExecutionCancelled}
	}
	f := &follower{hub: hub, backlog: events.Backlog(jr), id: ex.ID(), p: p, stderr: stderr, final: final}
	printed := make(chan error, 1)
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	// From the seq before the execution's first event: a resumed
	// execution's earlier events were shown by the run that made them.
	from := runner.Seq()
	go func() {
		printed <- f.follow(followCtx, from)
	}()

	sigs, stopSignals := notifyStop(ctx)
	defer stopSignals()
	ex.Start()
	select {
	case <-ex.Done():
	case <-sigs.Done():
		ex.Cancel("interrupted")
		<-ex.Done()
	}

	sum := ex.Summary()
	var saveErr error
	if sum.Status != engine.StatusCancelled && !*noSave && sum.Deliverables > 0 {
		saveCtx, cancel := context.WithTimeout(ctx, time.Minute)
		paths := deliverablePaths(ex.Deliverables())
		report, err := ws.Save(saveCtx, ex.StagingDir(), paths, workspace.SaveOptions{Target: *target, Conflict: policy})
		cancel()
		if err != nil {
			// Shown once, as the deliverables-saved event (and kept in the
			// journal): the exit status says the rest.
			saveErr = exitError{1}
			failed := ws.FailedSave(*target, paths, err.Error())
			ex.RecordSaveFailed(failed.Target, failed.Failed, failed.Results, err.Error())
		} else {
			ex.RecordSaved(report.Target, report.Saved, report.Failed, report.Results)
		}
	}
	var applyErr error
	if *apply && sum.Status == engine.StatusCompleted && ex.Info().Changes == "pending" {
		rep, err := applyChanges(ctx, ws, ex, nil, *branch)
		switch {
		case err != nil:
			applyErr = fmt.Errorf("apply the changes: %w", err)
		case rep.Status == workspace.ApplyConflict:
			applyErr = fmt.Errorf("the changes were not applied: resolve the conflicts listed, then run mimir-sidecar apply %s", ex.ID())
		}
	}
	// Every event goes through the journal before the hub. Once the last
	// one is in the hub (Flush), closing it lets the printer drain what is
	// left and stop; the journal stays open until then, for the printer to
	// fill in what a slow terminal made it miss.
	if err := runner.Flush(); err != nil {
		log.Warn("wait for the last events", "err", err)
	}
	hub.Close()
	printErr := <-printed
	// The mirror replays from the journal: it goes before the journal does.
	if sseMirror != nil {
		if err := sseMirror.Close(); err != nil {
			log.Warn("stop the SSE mirror", "err", err)
		}
	}
	if err := runner.Close(ctx); err != nil {
		log.Warn("close", "err", err)
	}
	if saveErr != nil {
		return saveErr
	}
	if applyErr != nil {
		return applyErr
	}
	if printErr != nil && !errors.Is(printErr, notify.ErrClosed) && !errors.Is(printErr, errFollowDone) {
		return printErr
	}
	switch sum.Status {
	case engine.StatusCompleted:
		return nil
	case engine.StatusCancelled:
		return exitError{130}
	default:
		return exitError{1}
	}
}

// loadWorkflowArg reads the workflow named on the command line. One inside
// the workspace is read through the workspace's root, like any workspace
// file (a link out of it is refused); one elsewhere, the user named
// themselves. Either way it must be a regular file of bounded size.
func loadWorkflowArg(ws *workspace.Workspace, arg string) (*engine.Workflow, error) {
	var (
		data []byte
		err  error
	)
	if ws.Contains(arg) {
		abs, aerr := filepath.Abs(arg)
		if aerr != nil {
			return nil, fmt.Errorf("workflow %s: %w", arg, aerr)
		}
		data, err = ws.ReadFile(abs, engine.MaxWorkflowSize)
	} else {
		data, err = workspace.ReadRegular(safefile.Path, arg, engine.MaxWorkflowSize)
	}
	if err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	return engine.ParseWorkflowFile(arg, data)
}

func deliverablePaths(ds []engine.Deliverable) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Path
	}
	return out
}

// hubSink publishes the engine's events to the hub, encoded once.
func hubSink(hub *notify.Hub, log *slog.Logger) engine.Sink {
	return engine.SinkFunc(func(ev engine.Event) {
		if err := events.Publish(hub, ev); err != nil {
			log.Error("an event could not be shown", "err", err)
		}
	})
}

var errFollowDone = errors.New("execution finished")

// follower prints one execution's events as the hub delivers them. When the
// printer falls so far behind that the hub's ring laps it, the events it
// missed are read from the journal, or, without one, a warning says how
// many were lost: output never silently skips.
type follower struct {
	hub     *notify.Hub
	backlog notify.Backlog // nil when the run is not journaled
	id      string
	p       printer
	stderr  io.Writer
	// final are the event names after which there is nothing more to print.
	final []string
}

// follow prints the execution's events with a seq above after until one of
// the final names is printed (errFollowDone), the hub closes
// (notify.ErrClosed) or ctx is done.
func (f *follower) follow(ctx context.Context, after uint64) error {
	cur := notify.NewCursor(ctx, f.hub, f.backlog, after)
	batch := make([]notify.Event, 0, 64)
	for {
		evs, gap, err := cur.Next(ctx, batch[:0], cap(batch))
		if gap != nil {
			fmt.Fprintf(f.stderr, "⚠️ %d events after #%d were not shown: the output fell behind and %s\n", gap.ResumesAt-gap.After-1, gap.After, f.lost(gap))
		}
		for _, ev := range evs {
			if perr := f.print(ev); perr != nil {
				return perr
			}
		}
		if err != nil {
			return err
		}
	}
}

// lost says why a gap's events could not be shown.
func (f *follower) lost(gap *notify.Gap) string {
	if f.backlog == nil {
		return "they are no longer kept (this run has no journal to read them from)"
	}
	return gap.Reason
}

func (f *follower) print(ev notify.Event) error {
	if ev.ExecutionID != f.id {
		return nil
	}
	if err := f.p.print(ev); err != nil {
		return err
	}
	if slices.Contains(f.final, ev.Name) {
		return errFollowDone
	}
	return nil
}

// checkRunFlags refuses a run command line that cannot mean anything, before
// anything runs.
func checkRunFlags(fs *flag.FlagSet, pos []string, resume string, parallelism int) error {
	set := setFlags(fs)
	on := func(name string) bool { return fs.Lookup(name).Value.String() == "true" }
	switch {
	case len(pos) == 0 && resume == "":
		return usagef("run", "which workflow? mimir-sidecar run WORKFLOW, or --resume ID")
	case len(pos) > 0 && resume != "":
		return usagef("run", "--resume %s continues an execution of its own workflow: drop %s, or --resume", resume, pos[0])
	case len(pos) > 1:
		return usagef("run", "one workflow at a time, not %d (%s)", len(pos), strings.Join(pos, ", "))
	case parallelism < 0:
		return usagef("run", "--parallelism %d: how many tasks run at once is 1 or more", parallelism)
	case set["branch"] && !on("apply"):
		return usagef("run", "--branch needs --apply")
	case on("no-save") && (set["deliverables"] || set["conflict"]):
		return usagef("run", "--no-save saves nothing: drop --deliverables and --conflict, or --no-save")
	case !on("sse") && (set["sse-addr"] || set["sse-allow-origin"]):
		return usagef("run", "--sse-addr and --sse-allow-origin need --sse")
	}
	return nil
}

// tickEverySecond calls tick once a second until the returned stop is
// called (which waits for the last tick to end) or ctx is done.
func tickEverySecond(ctx context.Context, tick func(time.Time)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				tick(now)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
