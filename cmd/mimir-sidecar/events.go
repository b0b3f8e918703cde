package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// eventsCmd follows a running sidecar's events on its SSE mirror, found
// through <workspace>/.mimir/sidecar.json, reconnecting on its own.
func eventsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events", `Usage: mimir-sidecar events [flags]

Prints the events of the sidecar running for a workspace (an editor's, or
run --sse), as they happen.`)
	wsDir := fs.String("workspace", ".", "the workspace whose sidecar to follow")
	execID := fs.String("execution", "", "follow only this execution, from its first event")
	jsonOut := fs.Bool("json", false, "print one event envelope per line (notices such as a reset go to stderr)")
	until := fs.Bool("until-complete", false, "with --execution: exit after the execution's last event (complete, cancelled or interrupted)")
	since := fs.String("since", "", "start after this event id (seq); default: now, or with --execution the execution's first event")
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
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	f := sseFollower{
		path:  "/events",
		json:  *jsonOut,
		until: *until,
		out:   stdout,
		warn:  stderr,
	}
	f.lastID = *since
	if *execID != "" {
		f.path = "/executions/" + url.PathEscape(*execID) + "/events"
		if f.lastID == "" {
			// The execution may have started, or ended, before this
			// command: its stream replays from 0 what is kept, so
			// --until-complete sees the end even of a finished one.
			f.lastID = "0"
		}
	}
	disc := filepath.Join(*wsDir, ".mimir", "sidecar.json")
	for attempt := 0; ; attempt++ {
		d, err := notify.ReadDiscovery(disc)
		if err == nil {
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
				return fmt.Errorf("the sidecar that wrote %s (pid %d) is no longer running; start one", disc, d.PID)
			}
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
		case <-time.After(time.Duration(min(attempt, 5)) * 500 * time.Millisecond):
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
		err = (&textPrinter{w: f.out}).print(notify.Event{Name: name, JSON: []byte(data)})
	}
	if err != nil {
		return false, fmt.Errorf("print event %s: %w", id, err)
	}
	if id != "" {
		f.lastID = id
	}
	return f.until && executionEnds[name], nil
}

// processGone reports whether no process pid runs any more; a pid it
// cannot tell about (none given, no permission) counts as running.
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return true // Windows finds only processes that exist
	}
	defer p.Release()
	err = p.Signal(syscall.Signal(0))
	return errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH)
}
