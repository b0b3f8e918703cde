package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// eventsCmd follows a running sidecar's events on its SSE mirror, found
// through <workspace>/.mimir/sidecar.json, reconnecting on its own.
func eventsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wsDir := fs.String("workspace", ".", "the workspace whose sidecar to follow")
	execID := fs.String("execution", "", "follow only this execution")
	jsonOut := fs.Bool("json", false, "print one event envelope per line")
	until := fs.Bool("until-complete", false, "with --execution: exit after the execution's last event")
	since := fs.String("since", "", "start after this event id (seq) instead of now")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mimir-sidecar events [flags]\n\nPrints the events of the sidecar running for a workspace, as they happen.\n\n")
		fs.PrintDefaults()
	}
	if pos, err := parseFlags(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			fs.Usage()
		}
		return exitError{2}
	}
	if *until && *execID == "" {
		fmt.Fprintln(stderr, "mimir-sidecar events: --until-complete needs --execution ID")
		return exitError{2}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	path := filepath.Join(*wsDir, ".mimir", "sidecar.json")
	url := "/events"
	if *execID != "" {
		url = "/executions/" + *execID + "/events"
	}
	lastID := *since
	for attempt := 0; ; attempt++ {
		d, err := notify.ReadDiscovery(path)
		if err == nil {
			var done bool
			done, lastID, err = followSSE(ctx, d, url, lastID, *jsonOut, *until, stdout)
			if done {
				return nil
			}
			if err == nil {
				attempt = 0 // the stream ended cleanly; reconnect at once
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

var errGone = errors.New("the sidecar refused the connection")

// followSSE reads one connection's events and returns the last id seen,
// and whether the followed execution has ended.
func followSSE(ctx context.Context, d notify.Discovery, path, lastID string, jsonOut, until bool, out io.Writer) (bool, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+path, nil)
	if err != nil {
		return false, lastID, err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, lastID, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, lastID, fmt.Errorf("%w: %s: %s", errGone, resp.Status, strings.TrimSpace(string(msg)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var id, name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				if id != "" {
					lastID = id
				}
				end, err := printSSE(out, name, data, jsonOut)
				if err != nil {
					return false, lastID, err
				}
				if until && end {
					return true, lastID, nil
				}
			}
			id, name, data = "", "", ""
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(line[5:], " ")
		}
	}
	return false, lastID, sc.Err()
}

func printSSE(out io.Writer, name, data string, jsonOut bool) (end bool, err error) {
	if name == "reset" {
		var r struct {
			Message string `json:"message"`
		}
		json.Unmarshal([]byte(data), &r)
		if jsonOut {
			_, err = fmt.Fprintln(out, data)
		} else {
			_, err = fmt.Fprintln(out, "⚠️ "+r.Message)
		}
		return false, err
	}
	if jsonOut {
		_, err = fmt.Fprintln(out, data)
	} else {
		err = (&textPrinter{w: out}).print(notify.Event{Name: name, JSON: []byte(data)})
	}
	return name == "execution-complete" || name == "execution-cancelled", err
}
