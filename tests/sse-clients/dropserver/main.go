// Command dropserver serves the sidecar's SSE mirror (package notify) with
// a tight slow-reader cut-off, so that the eventsource test can make the
// server itself drop a subscriber: a burst of events puts every subscriber
// more than -max-lag events behind, and the mirror disconnects it to
// resume with Last-Event-ID. The sidecar's own limit (4096 events) would
// take a flood no workflow produces in a test.
//
// It prints {"url", "token"} on stdout, then obeys lines on stdin:
// "burst N" publishes N task-start events at once; "end" publishes an
// execution-complete. Each disconnection is logged on stderr as
// "dropped: <why>". It exits when stdin closes.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

func main() {
	maxLag := flag.Int("max-lag", 1, "how many events a subscriber may fall behind before it is cut off")
	flag.Parse()
	if err := run(*maxLag); err != nil {
		fmt.Fprintln(os.Stderr, "dropserver:", err)
		os.Exit(1)
	}
}

func run(maxLag int) error {
	hub := notify.NewHub(1 << 16) // keeps every event of a test: no reset
	s, err := notify.StartSSE(hub, notify.SSEOptions{MaxLag: maxLag, Logger: slog.New(dropLogger{})})
	if err != nil {
		return fmt.Errorf("start the mirror: %w", err)
	}
	defer s.Close()
	if err := json.NewEncoder(os.Stdout).Encode(map[string]string{"url": s.URL(), "token": s.Token()}); err != nil {
		return fmt.Errorf("print the address: %w", err)
	}
	var seq uint64
	publish := func(name string) error {
		seq++
		env := map[string]any{"seq": seq, "executionId": "ex_drop", "event": name, "time": time.Now().UTC(), "data": map[string]any{}}
		return hub.Publish(seq, "ex_drop", name, env)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch cmd {
		case "burst":
			var n int
			if _, err := fmt.Sscan(arg, &n); err != nil {
				return fmt.Errorf("burst %q: %w", arg, err)
			}
			for range n {
				if err := publish("task-start"); err != nil {
					return err
				}
			}
		case "end":
			if err := publish("execution-complete"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown command %q (burst N, end)", cmd)
		}
	}
	return sc.Err()
}

// dropLogger writes the mirror's disconnections to stderr, for the test to
// see that the server, not the network, ended a stream.
type dropLogger struct{}

func (dropLogger) Enabled(context.Context, slog.Level) bool { return true }

func (dropLogger) Handle(_ context.Context, r slog.Record) error {
	if why, ok := strings.CutPrefix(r.Message, "SSE subscriber disconnected: "); ok {
		fmt.Fprintln(os.Stderr, "dropped:", why)
	}
	return nil
}

func (h dropLogger) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h dropLogger) WithGroup(string) slog.Handler      { return h }
