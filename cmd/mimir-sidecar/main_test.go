package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher/launchertest"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// bin is the sidecar built once for these tests: they run the real binary
// as a user or an editor would.
var bin string

func TestMain(m *testing.M) {
	launchertest.Init()
	dir, err := os.MkdirTemp("", "mimir-sidecar-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "mimir-sidecar")
	// Built as it is shipped: without cgo (see editors/vscode/README.md).
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func exampleWorkspace(t *testing.T) string {
	t.Helper()
	ws := t.TempDir()
	if err := os.CopyFS(filepath.Join(ws, "examples"), os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	return ws
}

func runBin(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func parseEvents(t *testing.T, out string) []engine.Event {
	t.Helper()
	var evs []engine.Event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev engine.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("--json printed a line that is not an event: %q", line)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestRunExampleJSON(t *testing.T) {
	ws := exampleWorkspace(t)
	out, stderr, code := runBin(t, ws, "run", "examples/translate-docs/workflow.yaml", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	evs := parseEvents(t, out)
	if evs[0].Event != engine.EventExecutionStart || evs[len(evs)-1].Event != engine.EventDeliverablesSaved {
		t.Fatalf("first and last events: %s … %s", evs[0].Event, evs[len(evs)-1].Event)
	}
	var seq uint64
	attempts := map[string][]string{} // task → its phase events, in order
	var complete *engine.Event
	for i := range evs {
		ev := &evs[i]
		if ev.Seq != seq+1 {
			t.Errorf("seq %d after %d", ev.Seq, seq)
		}
		seq = ev.Seq
		if ev.Data.TaskID != "" {
			attempts[ev.Data.TaskID] = append(attempts[ev.Data.TaskID], ev.Event)
		}
		if ev.Event == engine.EventExecutionComplete {
			complete = ev
		}
	}
	want := "task-start worker-start worker-complete qc-start qc-complete worker-start worker-complete qc-start qc-complete task-complete"
	for _, task := range []string{"translate-fr", "translate-de"} {
		if got := strings.Join(attempts[task], " "); got != want {
			t.Errorf("%s events:\n got %s\nwant %s", task, got, want)
		}
	}
	var failed, retry *engine.Event
	for i := range evs {
		ev := &evs[i]
		if ev.Data.TaskID != "translate-fr" {
			continue
		}
		if ev.Event == engine.EventQCComplete && failed == nil {
			failed = ev
		}
		if ev.Event == engine.EventWorkerStart && ev.Data.Attempt == 2 {
			retry = ev
		}
	}
	if failed.Data.Message != "❌ QC failed (Score: 43/100) - Retrying (1/2)" || failed.Data.Gap == nil || len(failed.Data.Gap.Issues) != 4 {
		t.Errorf("first QC of translate-fr: %+v", failed.Data)
	}
	if retry.Data.Gap == nil || retry.Data.Gap.Feedback != failed.Data.Gap.Feedback {
		t.Errorf("the retry's worker-start does not carry the gap: %+v", retry.Data.Gap)
	}
	if complete.Data.Status != "completed" || len(complete.Data.Deliverables) != 6 {
		t.Fatalf("execution-complete: %+v", complete.Data)
	}
	for _, d := range complete.Data.Deliverables {
		b, err := os.ReadFile(filepath.Join(ws, "deliverables", d.Path))
		if err != nil {
			t.Errorf("deliverable %s was not saved: %v", d.Path, err)
			continue
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != d.SHA256 || int64(len(b)) != d.Size {
			t.Errorf("%s: saved file does not match its sha256 and size", d.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "deliverables/site/index.html")); err != nil {
		t.Errorf("nested deliverable: %v", err)
	}
}

func TestRunReadable(t *testing.T) {
	ws := exampleWorkspace(t)
	out, _, code := runBin(t, ws, "run", "--workspace", ws, "examples/translate-docs/workflow.yaml")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"[translate-fr] 🤖 Worker executing: Translate README to French (attempt 1/3)",
		"[translate-fr] ❌ QC failed (Score: 43/100) - Retrying (1/2)",
		"📋 Issues:",
		"Section 4. Workers is not translated",
		"🔧 Required fixes:",
		"[translate-fr] ✅ QC passed (Score: 100/100)",
		"✅ Execution completed: 4/4 tasks, 6 deliverables",
		"✅ Saved 6 deliverables to " + filepath.Join(ws, "deliverables"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestRunInvalidWorkflow(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: x\ntasks:\n  - id: a\n    worker: {command: true}\n    dependsOn: [b]\n"), 0o644)
	_, stderr, code := runBin(t, ws, "run", "wf.yaml")
	if code != 2 || !strings.Contains(stderr, `wf.yaml:5:17: task "a" depends on "b"`) {
		t.Errorf("exit %d, stderr %q; want 2 and the problem with its position", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(ws, ".mimir")); err == nil {
		t.Error("an invalid workflow left state behind")
	}
}

func TestRunFailedExecution(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(`name: failing
tasks:
  - id: a
    maxRetries: 1
    worker: {command: echo out > a.txt}
    qc: {command: 'echo "{\"passed\": false, \"score\": 10, \"feedback\": \"never good\"}"'}
  - id: b
    dependsOn: [a]
    worker: {command: "true"}
`), 0o644)
	out, _, code := runBin(t, ws, "run", "wf.yaml", "--json")
	if code != 1 {
		t.Errorf("exit %d, want 1 for a failed execution", code)
	}
	evs := parseEvents(t, out)
	names := make([]string, len(evs))
	for i, ev := range evs {
		names[i] = ev.Event
	}
	got := strings.Join(names, " ")
	if !strings.Contains(got, "task-fail task-skipped execution-complete") {
		t.Errorf("events: %s", got)
	}
	last := evs[len(evs)-1]
	if last.Data.Status != "failed" || last.Data.Message != "❌ Execution failed: 1 of 2 tasks failed, 1 skipped" {
		t.Errorf("last event %+v", last.Data)
	}
}

func TestRunInterrupted(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: slow\ntasks:\n  - id: a\n    worker: {command: sleep 300}\n"), 0o644)
	cmd := exec.Command(bin, "run", "wf.yaml", "--json")
	cmd.Dir = ws
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"worker-start"`) {
			break
		}
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130 after Ctrl-C", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Ctrl-C took %v to stop the run", took)
	}
	if !strings.Contains(rest.String(), `"execution-cancelled"`) || !strings.Contains(rest.String(), "interrupted") {
		t.Errorf("after Ctrl-C: %s", rest.String())
	}
}

// The editor's view: the binary speaking LSP-framed JSON-RPC over pipes.
func TestServeOverPipes(t *testing.T) {
	ws := exampleWorkspace(t)
	cmd := exec.Command(bin)
	cmd.Dir = ws
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(stdin, "Content-Length: %d\r\n\r\n%s", len(b), b)
	}
	frames := make(chan map[string]any, 1024)
	go func() {
		defer close(frames)
		br := bufio.NewReader(stdout)
		for {
			var n int
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := fmt.Sscanf(line, "Content-Length: %d", &n); err != nil {
				continue
			}
			br.ReadString('\n')
			body := make([]byte, n)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			var m map[string]any
			json.Unmarshal(body, &m)
			frames <- m
		}
	}()
	next := func() map[string]any {
		select {
		case m, ok := <-frames:
			if !ok {
				t.Fatalf("the sidecar closed stdout; stderr:\n%s", stderr.String())
			}
			return m
		case <-time.After(20 * time.Second):
			t.Fatal("no frame within 20s")
		}
		return nil
	}
	send(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{"rootUri": "file://" + ws, "capabilities": map[string]any{}}})
	if m := next(); m["id"] != float64(1) || m["error"] != nil {
		t.Fatalf("initialize: %v", m)
	}
	send(map[string]any{"jsonrpc": "2.0", "method": "initialized", "params": map[string]any{}})
	send(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "mimir/execute", "params": map[string]any{"workflow": "examples/translate-docs/workflow.yaml"}})
	for m := next(); m["id"] != float64(2); m = next() {
		if m["method"] == "mimir/event" {
			t.Fatalf("an event came before the answer to execute: %v", m)
		}
	}
	for {
		m := next()
		if p, _ := m["params"].(map[string]any); m["method"] == "mimir/event" && p["event"] == "execution-complete" {
			break
		}
	}
	send(map[string]any{"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
	for m := next(); m["id"] != float64(3); m = next() {
	}
	send(map[string]any{"jsonrpc": "2.0", "method": "exit"})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after shutdown: %v, want status 0; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the sidecar did not exit after exit")
	}
	if strings.Contains(stderr.String(), "level=INFO") {
		t.Errorf("the sidecar is not quiet by default:\n%s", stderr.String())
	}
}

// run --resume finishes a failed execution: only what had not completed
// runs again, the events continue the journal's, and the deliverables of
// both runs are saved.
func TestRunResume(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(`name: resumable
tasks:
  - id: a
    worker: {command: echo a > a.txt}
  - id: b
    dependsOn: [a]
    maxRetries: 0
    worker: {command: 'test -f "$MIMIR_WORKSPACE/go" && echo b > b.txt'}
`), 0o644)
	out, stderr, code := runBin(t, ws, "run", "wf.yaml", "--json", "--no-save")
	if code != 1 {
		t.Fatalf("first run: exit %d, want 1; stderr:\n%s", code, stderr)
	}
	first := parseEvents(t, out)
	id := first[0].ExecutionID

	os.WriteFile(filepath.Join(ws, "go"), nil, 0o644)
	out, stderr, code = runBin(t, ws, "run", "--resume", id, "--json")
	if code != 0 {
		t.Fatalf("resume: exit %d; stderr:\n%s", code, stderr)
	}
	evs := parseEvents(t, out)
	if start := evs[0]; start.Event != engine.EventExecutionStart || !start.Data.Resumed || start.ExecutionID != id || start.Seq != first[len(first)-1].Seq+1 {
		t.Errorf("the resume's first event: %+v (the first run ended at seq %d)", start, first[len(first)-1].Seq)
	}
	var names []string
	for _, ev := range evs {
		if ev.Data.TaskID == "a" {
			t.Errorf("task a had completed but ran again: %s", ev.Event)
		}
		names = append(names, ev.Event)
	}
	if got := strings.Join(names, " "); got != "execution-start task-start worker-start worker-complete task-complete execution-complete deliverables-saved" {
		t.Errorf("the resume's events: %s", got)
	}
	if done := evs[len(evs)-2]; done.Data.Status != "completed" || len(done.Data.Deliverables) != 2 {
		t.Errorf("execution-complete: %+v", done.Data)
	}
	for _, f := range []string{"a/a.txt", "b/b.txt"} {
		if _, err := os.Stat(filepath.Join(ws, "deliverables", f)); err != nil {
			t.Errorf("%s not saved: %v", f, err)
		}
	}
	if _, stderr, code := runBin(t, ws, "run", "--resume", id); code != 1 || !strings.Contains(stderr, "only interrupted, failed or cancelled") {
		t.Errorf("resuming a completed execution: exit %d, stderr %q", code, stderr)
	}
}

func TestPruneCommand(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: quick\ntasks:\n  - id: a\n    worker: {command: echo a > a.txt}\n"), 0o644)
	var ids []string
	for range 3 {
		out, stderr, code := runBin(t, ws, "run", "wf.yaml", "--json", "--no-save")
		if code != 0 {
			t.Fatalf("run: exit %d; stderr:\n%s", code, stderr)
		}
		ids = append(ids, parseEvents(t, out)[0].ExecutionID)
	}
	ignore := filepath.Join(ws, ".mimir", ".gitignore")
	os.Remove(ignore)

	if out, stderr, code := runBin(t, ws, "prune", "--keep", "1"); code != 0 || out != "removed 2 executions\n" {
		t.Fatalf("prune --keep 1: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	left, _ := os.ReadDir(filepath.Join(ws, ".mimir", "executions"))
	if len(left) != 1 || left[0].Name() != ids[2] {
		t.Errorf("execution folders left: %v, want only %s", left, ids[2])
	}
	if _, err := os.Stat(ignore); err != nil {
		t.Errorf("prune left .mimir without its .gitignore: %v", err)
	}
	if out, _, code := runBin(t, ws, "prune", "--older-than", "1d"); code != 0 || out != "removed 0 executions\n" {
		t.Errorf("prune --older-than 1d: exit %d, %q", code, out)
	}
	// Without a limit it applies the history retention, from the user's
	// configuration (none here: the default).
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if out, stderr, code := runBin(t, ws, "prune"); code != 0 || out != "removed 0 executions\nthe history keeps the last 200 executions or those of the last 30 days, whichever keeps more, and interrupted ones\n" {
		t.Errorf("prune by the retention: exit %d, %q %q", code, out, stderr)
	}

	fresh := t.TempDir()
	if out, stderr, code := runBin(t, fresh, "prune", "--keep", "1"); code != 0 || out != "removed 0 executions\n" {
		t.Errorf("prune of a workspace with no history: exit %d, %q %q", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(fresh, ".mimir")); err == nil {
		t.Error("prune of a workspace with no history made a .mimir folder")
	}
}

// journalFake serves a fixed set of envelopes as the journal would.
type journalFake []engine.Event

func (j journalFake) Since(_ context.Context, after uint64, max int) ([]notify.Event, error) {
	var out []notify.Event
	for _, ev := range j {
		if ev.Seq > after && len(out) < max {
			b, _ := json.Marshal(ev)
			out = append(out, notify.Event{Seq: ev.Seq, ExecutionID: ev.ExecutionID, Name: ev.Event, JSON: b})
		}
	}
	return out, nil
}

func (j journalFake) Last(context.Context) (uint64, error) { return j[len(j)-1].Seq, nil }

// gatedPrinter stands for a slow terminal: its first print waits until it
// is let go.
type gatedPrinter struct {
	entered, release chan struct{}
	once             sync.Once
	seqs             []uint64
}

func (p *gatedPrinter) print(ev notify.Event) error {
	p.once.Do(func() {
		close(p.entered)
		<-p.release
	})
	p.seqs = append(p.seqs, ev.Seq)
	return nil
}

// A printer the hub's ring laps fills the gap from the journal, or says
// how much it lost when there is none.
func TestFollowerLappedByTheRing(t *testing.T) {
	const n = 20
	var all journalFake
	for i := uint64(1); i <= n; i++ {
		name := engine.EventTaskStart
		if i == n {
			name = engine.EventExecutionComplete
		}
		all = append(all, engine.Event{Seq: i, ExecutionID: "ex_1", Event: name, Data: engine.EventData{Message: fmt.Sprint(i)}})
	}
	for _, journaled := range []bool{true, false} {
		t.Run(map[bool]string{true: "journal", false: "no journal"}[journaled], func(t *testing.T) {
			hub := notify.NewHub(4)
			p := &gatedPrinter{entered: make(chan struct{}), release: make(chan struct{})}
			var stderr bytes.Buffer
			f := &follower{hub: hub, id: "ex_1", p: p, stderr: &stderr, final: []string{engine.EventExecutionComplete}}
			if journaled {
				f.backlog = all
			}
			done := make(chan error, 1)
			go func() { done <- f.follow(context.Background(), 0) }()
			hub.Publish(all[0].Seq, all[0].ExecutionID, all[0].Event, all[0])
			<-p.entered
			for _, ev := range all[1:] {
				hub.Publish(ev.Seq, ev.ExecutionID, ev.Event, ev)
			}
			close(p.release)
			if err := <-done; !errors.Is(err, errFollowDone) {
				t.Fatalf("follow: %v", err)
			}
			var want []uint64
			for i := uint64(1); i <= n; i++ {
				if journaled || i == 1 || i > n-4 {
					want = append(want, i)
				}
			}
			if !slices.Equal(p.seqs, want) {
				t.Errorf("printed %v, want %v", p.seqs, want)
			}
			if msg := stderr.String(); journaled && msg != "" {
				t.Errorf("a warning although nothing was lost: %q", msg)
			} else if !journaled && !strings.Contains(msg, "15 events after #1 were not shown") {
				t.Errorf("the warning: %q", msg)
			}
		})
	}
}
