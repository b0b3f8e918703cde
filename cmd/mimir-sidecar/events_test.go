package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// startSSESidecar is startSidecar with the SSE mirror on (it writes the
// workspace's .mimir/sidecar.json when initialized).
func startSSESidecar(t *testing.T, ws string) *sidecarProc {
	t.Helper()
	return startSidecarArgs(t, ws)
}

// eventsBin runs `mimir-sidecar events` with a deadline, so that a listener
// that never exits fails the test instead of hanging it.
func eventsBin(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := runEvents(dir, args...)
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.out, r.errs, r.code
}

type eventsResult struct {
	out, errs string
	code      int
	err       error // it could not run, or did not exit in time
}

// runEvents is eventsBin for any goroutine: it reports instead of failing
// the test, which only the test's own goroutine may do.
func runEvents(dir string, args ...string) eventsResult {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"events"}, args...)...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := eventsResult{out: out.String(), errs: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.err = fmt.Errorf("events %v did not exit within 60s; stdout:\n%s\nstderr:\n%s", args, r.out, r.errs)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.err = fmt.Errorf("run events %v: %w", args, err)
	}
	return r
}

const pacedWorkflow = `name: paced
tasks:
  - {id: one, worker: {command: "sleep 0.3; echo 1 > one.txt"}}
  - {id: two, dependsOn: [one], worker: {command: "sleep 0.3; echo 2 > two.txt"}}
`

// `events --json --execution ID --until-complete` prints the execution's
// every envelope, in seq order, exactly as the editor got them, and exits
// 0: started while the execution runs, and started after it finished.
func TestEventsFollowsAnExecution(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "paced.yaml"), []byte(pacedWorkflow), 0o644)
	p := startSSESidecar(t, ws)
	res, _ := p.call("mimir/execute", map[string]any{"workflow": "paced.yaml"})
	id := res["executionId"].(string)

	during := make(chan eventsResult, 1)
	go func() { during <- runEvents(ws, "--json", "--execution", id, "--until-complete") }()
	var editor []engine.Event
	for {
		if ev, ok := eventOf(p.next()); ok && ev.ExecutionID == id {
			editor = append(editor, ev)
			if ev.Event == engine.EventExecutionComplete {
				break
			}
		}
	}
	check := func(when string, r eventsResult) {
		t.Helper()
		if r.err != nil {
			t.Fatalf("%s: %v", when, r.err)
		}
		if r.code != 0 {
			t.Fatalf("%s: exit %d, stderr:\n%s", when, r.code, r.errs)
		}
		got := parseEvents(t, r.out)
		if !reflect.DeepEqual(got, editor) {
			t.Errorf("%s: printed %d events, the editor got %d:\n%s", when, len(got), len(editor), r.out)
		}
	}
	// runEvents gives up after 60s, so this receive ends.
	check("started during the execution", <-during)
	check("started after the execution", runEvents(ws, "--json", "--execution", id, "--until-complete"))

	// Readable on a terminal, ending the same way.
	out, errs, code := eventsBin(t, ws, "--execution", id, "--until-complete")
	if code != 0 || !strings.Contains(out, "Execution completed") || strings.Contains(out, `"seq"`) {
		t.Errorf("readable output: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	// An id the sidecar does not know is an error at once, not a wait.
	_, errs, code = eventsBin(t, ws, "--execution", "ex_nope", "--until-complete")
	if code != 1 || !strings.Contains(errs, `no execution "ex_nope"`) {
		t.Errorf("unknown execution: exit %d, stderr %q", code, errs)
	}
}

// The listener reconnects when the server drops it, asking for what came
// after the last event it printed; a reset goes to stderr, not among the
// envelopes on stdout.
func TestEventsReconnectsWithLastEventID(t *testing.T) {
	env := func(seq int, name string) string {
		return fmt.Sprintf(`{"seq":%d,"executionId":"ex_1","event":%q,"time":"2026-01-01T00:00:00Z","data":{}}`, seq, name)
	}
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/executions/ex_1/events" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		mu.Lock()
		asked = append(asked, r.Header.Get("Last-Event-ID"))
		n := len(asked)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\n\n")
		switch n {
		case 1:
			fmt.Fprintf(w, "id: 1\nevent: execution-start\ndata: %s\n\n", env(1, "execution-start"))
			fmt.Fprintf(w, "id: 2\nevent: task-start\ndata: %s\n\n", env(2, "task-start"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-stream
		default:
			fmt.Fprint(w, "event: reset\ndata: {\"lastEventId\":2,\"resumesAt\":5,\"message\":\"events after 2 are not available\"}\n\n")
			fmt.Fprint(w, ": ping\n\n")
			fmt.Fprintf(w, "id: 5\nevent: task-complete\ndata: %s\n\n", env(5, "task-complete"))
			fmt.Fprintf(w, "id: 6\nevent: execution-complete\ndata: %s\n\n", env(6, "execution-complete"))
			fmt.Fprintf(w, "id: 7\nevent: deliverables-saved\ndata: %s\n\n", env(7, "deliverables-saved"))
		}
	}))
	defer srv.Close()
	ws := t.TempDir()
	if err := notify.WriteDiscovery(filepath.Join(ws, ".mimir", "sidecar.json"), notify.Discovery{URL: srv.URL, Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := eventsCmd(ctx, []string{"--workspace", ws, "--json", "--execution", "ex_1", "--until-complete"}, &stdout, &stderr)
	if err != nil || ctx.Err() != nil {
		t.Fatalf("events: %v (context: %v); stderr:\n%s", err, ctx.Err(), stderr.String())
	}
	want := strings.Join([]string{env(1, "execution-start"), env(2, "task-start"), env(5, "task-complete"), env(6, "execution-complete")}, "\n") + "\n"
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "events after 2 are not available") {
		t.Errorf("the reset is not on stderr: %q", stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(asked) != "[0 2]" {
		t.Errorf("Last-Event-ID on each connection: %q, want 0 (the execution from its start) then 2", asked)
	}
}
