package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/internal/proc"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// eventsCmd follows a running sidecar's events on its SSE mirror, found
// through <workspace>/.mimir/sidecar.json, reconnecting on its own.
func eventsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events", `Usage: mimir-sidecar events [flags]

Prints the events of the sidecar running for a workspace (an editor's, or
run --sse), as they happen: by default the execution it is running, from
its first event, then every event after. Says when the sidecar exits (or
was killed: its pid in .mimir/sidecar.json is gone) instead of waiting.`)
	wsDir := fs.String("workspace", ".", "the workspace whose sidecar to follow")
	execID := fs.String("execution", "", "follow only this execution, from its first event")
	jsonOut := fs.Bool("json", false, "print one event envelope per line (notices such as a reset go to stderr)")
	until := fs.Bool("until-complete", false, "with --execution: exit after the execution's last event (complete, cancelled or interrupted)")
	since := fs.String("since", "", "start after this event id (seq); default: the running execution's first event (else now), or with --execution that execution's first")
	pos, err := parseFlags(fs, args, stdout)
	if err == nil {
		err = noArgs("events", pos)
	}
	if err != nil {
		return err
	}
	if *until && *execID == "" {
		return usagef("events", "--until-complete needs --execution ID")
	}
	ctx, stop := notifyStop(ctx)
	defer stop()
	stderr = styleFor(stderr, os.Getenv).writer(stderr)

	f := sseFollower{
		path:  "/events",
		json:  *jsonOut,
		until: *until,
		out:   stdout,
		warn:  stderr,
		style: styleFor(stdout, os.Getenv),
	}
	f.lastID = *since
	if *execID != "" {
		f.follow1(*execID, *since)
	}
	// With neither, the execution running when this starts is shown from
	// its start, not from the middle.
	f.auto = *execID == "" && *since == ""
	ws, err := workspace.Open(*wsDir)
	if err != nil {
		return err
	}
	disc := filepath.Join(*wsDir, ".mimir", "sidecar.json")
	var followed int // the pid of the sidecar last followed
	for attempt := 0; ; attempt++ {
		d, err := notify.ReadDiscovery(disc)
		if err == nil {
			followed = d.PID
			var done bool
			done, err = f.follow(ctx, d)
			if done {
				return nil
			}
			var fatal unrecoverable
			if errors.As(err, &fatal) {
				return err
			}
			if err == nil {
				attempt = 0 // the stream ended cleanly; reconnect at once
			}
			// A sidecar killed without cleaning up leaves its file behind:
			// waiting for that one to answer would be waiting forever.
			if err != nil && processGone(d.PID) {
				f.catchUp(ctx, ws)
				return fmt.Errorf("the sidecar that wrote %s (pid %d) is no longer running; start one", disc, d.PID)
			}
		} else if errors.Is(err, os.ErrNotExist) {
			if followed != 0 {
				// It stopped and cleaned up: what it did not stream before
				// going is in the journal.
				f.catchUp(ctx, ws)
				if f.ended {
					fmt.Fprintf(stderr, "mimir-sidecar events: the sidecar (pid %d) has exited.\n", followed)
					return nil
				}
				fmt.Fprintf(stderr, "mimir-sidecar events: the sidecar (pid %d) has exited; waiting for the next one (Ctrl-C to stop).\n", followed)
				followed, attempt = 0, 1
			} else if attempt == 0 {
				// An execution that ended needs no sidecar: its history has
				// all of it.
				if f.exec != "" {
					f.catchUp(ctx, ws)
					if f.ended {
						return nil
					}
				}
				fmt.Fprintf(stderr, "mimir-sidecar events: no sidecar is running for %s; waiting for one (an editor's, or mimir-sidecar run --sse; Ctrl-C to stop).\n", ws.Dir())
			}
			err = nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && attempt == 0 {
			fmt.Fprintf(stderr, "mimir-sidecar events: %v; retrying\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(min(max(attempt, 1), 5)) * 500 * time.Millisecond):
		}
	}
}

// unrecoverable is an answer that reconnecting would only repeat (an unknown
// execution, a malformed id).
type unrecoverable struct{ error }

// sseFollower reads a sidecar's stream across reconnects.
type sseFollower struct {
	path   string
	lastID string // the id of the last event printed; sent as Last-Event-ID
	json   bool
	until  bool
	out    io.Writer
	warn   io.Writer // resets and other notices, off the events' stream
	style  style
	// auto: on the first connection, follow the execution running then
	// from its first event, and everything after its end.
	auto bool
	// exec is the execution followed ("" for all); ended, that its end
	// was printed.
	exec  string
	ended bool
	// switchAtEnd: after the end of the execution followed, go on with
	// every event (its save comes after its end).
	switchAtEnd bool
}

// follow1 follows one execution from after since ("": its first event).
func (f *sseFollower) follow1(id, since string) {
	f.exec = id
	f.path = "/executions/" + url.PathEscape(id) + "/events"
	// The execution may have started, or ended, before this command: its
	// stream replays from 0 what is kept, so --until-complete sees the
	// end even of a finished one.
	f.lastID = cmp.Or(since, "0")
}

// pickRunning follows the execution the sidecar is running, if any.
func (f *sseFollower) pickRunning(ctx context.Context, d notify.Discovery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/executions", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("connect to the sidecar at %s: %w", d.URL, err)
	}
	defer resp.Body.Close()
	var list struct{ Executions []engine.Summary }
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the sidecar at %s answered %s", d.URL, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&list); err != nil {
		return fmt.Errorf("read the sidecar's executions: %w", err)
	}
	f.auto = false
	for _, s := range list.Executions { // newest first
		if s.Status == engine.StatusRunning {
			f.follow1(s.ExecutionID, "")
			f.switchAtEnd = true
			return nil
		}
	}
	return nil
}

// catchUp prints what the journal holds after the last event printed, of
// the execution followed: what a sidecar that stopped had no time to
// stream (its last save). Best effort: another sidecar may hold the
// journal by now.
func (f *sseFollower) catchUp(ctx context.Context, ws *workspace.Workspace) {
	after, err := strconv.ParseUint(cmp.Or(f.lastID, "0"), 10, 64)
	if err != nil || f.lastID == "" && f.exec == "" {
		return // nothing followed yet: no place to catch up from
	}
	if _, err := os.Lstat(ws.StateDir()); err != nil {
		return
	}
	// A sidecar removes its sidecar.json before it closes its journal:
	// it may take a moment more to let go of it.
	var j *journal.Journal
	for try := 0; ; try++ {
		j, _, err = journal.Open(ws.StateDir(), slog.New(slog.DiscardHandler))
		if err == nil {
			break
		}
		if !errors.Is(err, journal.ErrJournalBusy) || try == 50 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer j.Close()
	for {
		evs, err := j.Since(ctx, after, 256)
		if err != nil || len(evs) == 0 {
			return
		}
		for _, ev := range evs {
			after = ev.Seq
			if f.exec != "" && ev.ExecutionID != f.exec {
				continue
			}
			if _, err := f.dispatch(strconv.FormatUint(ev.Seq, 10), ev.Name, string(ev.JSON)); err != nil && !errors.Is(err, errStreamSwitched) {
				return
			}
		}
	}
}

// executionEnds end an execution: nothing of it comes after one of them.
var executionEnds = map[string]bool{
	engine.EventExecutionComplete:    true,
	engine.EventExecutionCancelled:   true,
	engine.EventExecutionInterrupted: true,
}

// follow reads one connection's events and reports whether the followed
// execution has ended.
func (f *sseFollower) follow(ctx context.Context, d notify.Discovery) (bool, error) {
	if f.auto {
		if err := f.pickRunning(ctx, d); err != nil {
			return false, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+f.path, nil)
	if err != nil {
		return false, unrecoverable{fmt.Errorf("connect to the sidecar at %s: %w", d.URL, err)}
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	req.Header.Set("Accept", "text/event-stream")
	if f.lastID != "" {
		req.Header.Set("Last-Event-ID", f.lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("connect to the sidecar at %s: %w", d.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		var body struct{ Error string }
		if json.Unmarshal(msg, &body) == nil && body.Error != "" {
			msg = []byte(body.Error)
		}
		err := fmt.Errorf("the sidecar at %s answered %s: %s", d.URL, resp.Status, strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest {
			return false, unrecoverable{err}
		}
		return false, err // 401 after a restart: the next read of sidecar.json has the new token
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var id, name string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if len(data) > 0 {
				end, err := f.dispatch(id, name, strings.Join(data, "\n"))
				if errors.Is(err, errStreamSwitched) {
					return false, nil
				}
				if err != nil || end {
					return end, err
				}
			}
			id, name, data = "", "", nil
		case field == "id":
			id = value
		case field == "event":
			name = value
		case field == "data":
			data = append(data, value)
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read the sidecar's stream: %w", err)
	}
	return false, nil
}

// dispatch prints one event and reports whether it ends the execution
// followed with --until-complete.
func (f *sseFollower) dispatch(id, name, data string) (bool, error) {
	if name == "reset" {
		// Not an envelope: stdout stays one envelope per line for scripts;
		// the person or log watching stderr learns of the gap.
		var r struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(data), &r); err != nil || r.Message == "" {
			r.Message = data
		}
		fmt.Fprintln(f.warn, "mimir-sidecar events: ⚠️ "+r.Message)
		return false, nil
	}
	var err error
	if f.json {
		_, err = fmt.Fprintln(f.out, data)
	} else {
		err = (&textPrinter{w: f.out, st: f.style}).print(notify.Event{Name: name, JSON: []byte(data)})
	}
	if err != nil {
		return false, fmt.Errorf("print event %s: %w", id, err)
	}
	if id != "" {
		f.lastID = id
	}
	if !executionEnds[name] {
		return false, nil
	}
	f.ended = true
	if f.until {
		return true, nil
	}
	if f.switchAtEnd && f.path != "/events" {
		// The rest (its save, the next executions) comes on the stream
		// of all events, from the same place.
		f.path = "/events"
		return false, errStreamSwitched
	}
	return false, nil
}

// errStreamSwitched ends a connection to open the next on another stream.
var errStreamSwitched = errors.New("switch streams")

// processGone reports whether no process pid runs any more; a pid it
// cannot tell about (none given, no permission) counts as running.
func processGone(pid int) bool {
	return pid > 0 && !proc.Running(pid)
}
