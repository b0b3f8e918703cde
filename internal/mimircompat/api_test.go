package mimircompat_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/engine/llm"
	"github.com/mimir-sidecar/mimir-sidecar/internal/events"
	"github.com/mimir-sidecar/mimir-sidecar/internal/fakemodel"
	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher/launchertest"
	"github.com/mimir-sidecar/mimir-sidecar/internal/mimircompat"
	"github.com/mimir-sidecar/mimir-sidecar/internal/mirror"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

func TestMain(m *testing.M) {
	launchertest.Init()
	os.Exit(m.Run())
}

// sidecar is a runner with its journal, hub and mirror, as serve wires
// them.
type sidecar struct {
	ws     *workspace.Workspace
	runner *engine.Runner
	mirror *mirror.Mirror
}

func start(t *testing.T, execute bool, agents engine.Agents) *sidecar {
	t.Helper()
	return startWith(t, execute, agents, true)
}

// startWith starts a sidecar, without a journal unless journaled: what
// the hub drops is then gone.
func startWith(t *testing.T, execute bool, agents engine.Agents, journaled bool) *sidecar {
	t.Helper()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.EnsureStateDir(); err != nil {
		t.Fatal(err)
	}
	var jr *journal.Journal
	if journaled {
		if jr, _, err = journal.Open(ws.StateDir(), nil); err != nil {
			t.Fatal(err)
		}
	}
	// A small ring: streams read most events back from the journal.
	hub := notify.NewHub(4)
	if agents == nil {
		agents = engine.Agents{"exec": exec.Agent()}
	}
	opts := engine.Options{
		Workspace: ws.Dir(), StateDir: ws.StateDir(), Agents: agents,
		Sink: engine.SinkFunc(func(ev engine.Event) { _ = events.Publish(hub, ev) }),
	}
	if jr != nil {
		opts.Journal = jr
	}
	runner := engine.NewRunner(t.Context(), opts)
	m, err := mirror.Options{HTTPExecute: execute}.Start(ws, hub, runner, jr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		runner.Close(context.Background())
	})
	return &sidecar{ws: ws, runner: runner, mirror: m}
}

func (s *sidecar) url(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return s.mirror.URL() + path + sep + "token=" + s.mirror.Token()
}

func (s *sidecar) get(t *testing.T, path string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// frame is one SSE event as a client reads it.
type frame struct {
	ID    string
	Event string
	Data  map[string]any
}

// frameReader reads SSE events as a client does.
type frameReader struct {
	t  *testing.T
	sc *bufio.Scanner
}

func newFrameReader(t *testing.T, body io.Reader) *frameReader {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &frameReader{t, sc}
}

// next is the next event, false at the end of the stream.
func (r *frameReader) next() (frame, bool) {
	r.t.Helper()
	var cur frame
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if cur.Event != "" {
				return cur, true
			}
		case strings.HasPrefix(line, "id: "):
			cur.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &cur.Data); err != nil {
				r.t.Fatalf("data is not JSON: %v: %s", err, line)
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		r.t.Fatalf("read the stream: %v", err)
	}
	return frame{}, false
}

// readFrames reads a stream to its end: the server closes it after the
// execution's last event.
func readFrames(t *testing.T, body io.Reader) []frame {
	t.Helper()
	r := newFrameReader(t, body)
	var out []frame
	for f, ok := r.next(); ok; f, ok = r.next() {
		out = append(out, f)
	}
	return out
}

func names(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Event
		if a, ok := f.Data["attemptNumber"]; ok {
			out[i] += fmt.Sprintf("#%v", a)
		}
	}
	return out
}

const retryWorkflow = `name: compat
tasks:
  - id: a
    title: Write A
    worker: {command: "echo attempt $MIMIR_ATTEMPT > report.md"}
    qc: {command: 'test "$MIMIR_ATTEMPT" = 2 || { echo "{\"passed\": false, \"score\": 40, \"feedback\": \"again\", \"issues\": [\"first\"], \"requiredFixes\": [\"retry\"]}"; exit 1; }'}
    maxRetries: 1
  - id: b
    dependsOn: [a]
    worker: {command: "echo b > notes.txt"}
`

func run(t *testing.T, s *sidecar, src string) *engine.Execution {
	t.Helper()
	wf, err := engine.ParseWorkflow("w.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.runner.Prepare(wf, engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

var wantPhases = []string{
	"init", "execution-start",
	"task-start", "worker-start#1", "worker-complete", "qc-start#1", "qc-complete#1",
	"worker-start#2", "worker-complete", "qc-start#2", "qc-complete#2", "task-complete",
	"task-start", "worker-start#1", "worker-complete", "task-complete",
	"execution-complete",
}

// A listener that connects before the execution starts sees every phase
// under Mimir's names, with Mimir's fields at the top level, and the
// stream ends after execution-complete.
func TestStreamTellsTheExecutionAsMimir(t *testing.T) {
	s := start(t, false, nil)
	ex := run(t, s, retryWorkflow)
	resp := s.get(t, "/api/execution-stream/"+ex.ID())
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	ex.Start()
	fs := readFrames(t, resp.Body)
	if got := names(fs); !slices.Equal(got, wantPhases) {
		t.Fatalf("events:\n got %q\nwant %q", got, wantPhases)
	}
	if fs[0].ID != "" || fs[0].Data["status"] == nil {
		t.Errorf("init = %+v, want a status and no id", fs[0])
	}
	prev := uint64(0)
	for _, f := range fs[1:] {
		id, err := strconv.ParseUint(f.ID, 10, 64)
		if err != nil || id <= prev {
			t.Fatalf("id %q after %d: ids must be our increasing seqs", f.ID, prev)
		}
		prev = id
	}
	retry := fs[7].Data
	if retry["isRetry"] != true || retry["taskId"] != "a" || retry["phase"] != "worker" {
		t.Errorf("second worker-start = %v", retry)
	}
	failed := fs[6].Data
	gap, _ := failed["gap"].(map[string]any)
	if failed["passed"] != false || failed["score"] != float64(40) || gap["feedback"] != "again" {
		t.Errorf("failed qc-complete = %v", failed)
	}
	done := fs[len(fs)-1].Data
	want := []any{
		map[string]any{"filename": "a/report.md", "size": float64(len("attempt 2\n")), "mimeType": "text/markdown"},
		map[string]any{"filename": "b/notes.txt", "size": float64(len("b\n")), "mimeType": "text/plain"},
	}
	if done["status"] != "completed" || done["successful"] != float64(2) || done["total"] != float64(2) || fmt.Sprint(done["deliverables"]) != fmt.Sprint(want) {
		t.Errorf("execution-complete = %v", done)
	}
}

// A stream opened after the end replays the execution; Last-Event-ID
// resumes after that event; after the last event there is nothing more,
// said with 204, which stops EventSource from reconnecting.
func TestStreamResumes(t *testing.T) {
	s := start(t, false, nil)
	ex := run(t, s, retryWorkflow)
	ex.Start()
	<-ex.Done()
	all := readFrames(t, s.get(t, "/api/execution-stream/"+ex.ID()).Body)
	if got := names(all); !slices.Equal(got, wantPhases) {
		t.Fatalf("replay:\n got %q\nwant %q", got, wantPhases)
	}
	from := all[5].ID
	rest := readFrames(t, s.get(t, "/api/execution-stream/"+ex.ID(), "Last-Event-ID", from).Body)
	if got, want := names(rest), append([]string{"init"}, names(all[6:])...); !slices.Equal(got, want) {
		t.Fatalf("resumed after %s:\n got %q\nwant %q", from, got, want)
	}
	if rest[1].ID != all[6].ID || fmt.Sprint(rest[len(rest)-1].Data) != fmt.Sprint(all[len(all)-1].Data) {
		t.Errorf("resumed stream differs from the replay: %v vs %v", rest[1:], all[6:])
	}
	end := s.get(t, "/api/execution-stream/"+ex.ID(), "Last-Event-ID", all[len(all)-1].ID)
	if end.StatusCode != http.StatusNoContent {
		t.Errorf("after the last event: %s, want 204 No Content", end.Status)
	}
}

// A stream of an execution whose last event is lost (no journal, and the
// hub has moved past it) ends once it has read past where that event was,
// rather than wait for it forever.
func TestStreamEndsWhenTheLastEventIsLost(t *testing.T) {
	s := startWith(t, false, nil, false)
	ex := run(t, s, retryWorkflow)
	ex.Start()
	<-ex.Done()
	for range 8 { // more events than the hub keeps, after the last one
		ex.RecordSaved("deliverables", 0, 0, nil)
	}
	fs := readFrames(t, s.get(t, "/api/execution-stream/"+ex.ID()).Body)
	if len(fs) != 1 || fs[0].Event != "init" || fs[0].Data["status"] != "completed" {
		t.Errorf("stream = %v, want init (completed) and the end", names(fs))
	}
}

// A quiet stream sends a heartbeat comment, so proxies and clients do not
// time it out.
func TestQuietStreamBeats(t *testing.T) {
	s := start(t, false, nil)
	hub := notify.NewHub(4)
	mux := http.NewServeMux()
	mimircompat.New(mimircompat.Options{Runner: s.runner, Hub: hub, Heartbeat: 5 * time.Millisecond}).Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ex := run(t, s, retryWorkflow) // prepared, never started: nothing happens
	resp, err := http.Get(srv.URL + "/api/execution-stream/" + ex.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == ": ping" {
			return
		}
	}
	t.Fatalf("the stream ended without a heartbeat: %v", sc.Err())
}

// Stopping the mirror ends Mimir's streams too, at once: Shutdown does not
// wait out its deadline for them.
func TestShutdownEndsStreams(t *testing.T) {
	s := start(t, false, nil)
	ex := run(t, s, retryWorkflow) // never started: its stream waits
	resp := s.get(t, "/api/execution-stream/"+ex.ID())
	r := newFrameReader(t, resp.Body)
	if f, ok := r.next(); !ok || f.Event != "init" {
		t.Fatalf("first event %+v", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.mirror.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a Mimir stream open: %v", err)
	}
	if f, ok := r.next(); ok {
		t.Errorf("the stream went on after shutdown: %+v", f)
	}
}

// The mirror's guard covers Mimir's routes: the token (header or
// ?token=), a loopback Host, an allowed Origin.
func TestGuardCoversMimirRoutes(t *testing.T) {
	s := start(t, true, nil)
	ex := run(t, s, retryWorkflow)
	path := "/api/execution-deliverables/" + ex.ID()
	for _, c := range []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"no token", func() *http.Request { r, _ := http.NewRequest("GET", s.mirror.URL()+path, nil); return r }, http.StatusUnauthorized},
		{"bearer", func() *http.Request {
			r, _ := http.NewRequest("GET", s.mirror.URL()+path, nil)
			r.Header.Set("Authorization", "Bearer "+s.mirror.Token())
			return r
		}, http.StatusOK},
		{"?token=", func() *http.Request { r, _ := http.NewRequest("GET", s.url(path), nil); return r }, http.StatusOK},
		{"foreign Host", func() *http.Request {
			r, _ := http.NewRequest("GET", s.url(path), nil)
			r.Host = "evil.example:80"
			return r
		}, http.StatusForbidden},
		{"foreign Origin", func() *http.Request {
			r, _ := http.NewRequest("GET", s.url(path), nil)
			r.Header.Set("Origin", "http://evil.example")
			return r
		}, http.StatusForbidden},
		{"execute without a token", func() *http.Request {
			r, _ := http.NewRequest("POST", s.mirror.URL()+"/api/execute-workflow", strings.NewReader(`{"tasks":[{"id":"x","prompt":"p"}]}`))
			return r
		}, http.StatusUnauthorized},
	} {
		resp, err := http.DefaultClient.Do(c.req())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s, want %d", c.name, resp.Status, c.status)
		}
	}
	resp := s.get(t, "/api/execution-stream/ex_nope")
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusNotFound || body["error"] != "Execution not found" || body["executionId"] != "ex_nope" {
		t.Errorf("unknown execution: %s %v, want Mimir's 404", resp.Status, body)
	}
}

// The deliverables routes answer in Mimir's shapes, serve only the files
// the execution lists, and refuse one an agent swapped for a link.
func TestDeliverables(t *testing.T) {
	s := start(t, false, nil)
	ex := run(t, s, retryWorkflow)
	ex.Start()
	<-ex.Done()

	var list struct {
		ExecutionID  string `json:"executionId"`
		Status       string `json:"status"`
		Deliverables []struct {
			Filename, MimeType, DownloadURL string
			Size                            int64
		} `json:"deliverables"`
	}
	if err := json.NewDecoder(s.get(t, "/api/execution-deliverables/"+ex.ID()).Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if list.ExecutionID != ex.ID() || list.Status != "completed" || len(list.Deliverables) != 2 {
		t.Fatalf("list = %+v", list)
	}
	sum := getJSON(t, s, "/api/deliverables/"+ex.ID())
	meta, _ := sum["metadata"].(map[string]any)
	if sum["totalDeliverables"] != float64(2) || sum["status"] != "completed" || fmt.Sprint(sum["taskExecutionIds"]) != "[]" ||
		meta["totalTasks"] != float64(2) || meta["endTime"] == nil || meta["duration"] == nil {
		t.Errorf("GET /api/deliverables/:id = %v", sum)
	}
	d := list.Deliverables[0]
	if d.Filename != "a/report.md" || d.MimeType != "text/markdown" || d.DownloadURL != "/api/execution-deliverable/"+ex.ID()+"/a%2Freport.md" {
		t.Errorf("first deliverable = %+v", d)
	}
	resp := s.get(t, d.DownloadURL)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "attempt 2\n" || resp.Header.Get("Content-Type") != "text/markdown" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="report.md"`) {
		t.Errorf("download: %s %q %v", resp.Status, body, resp.Header)
	}

	for _, name := range []string{"..%2F..%2Fjournal.db", "a%2F..%2Fb%2Fnotes.txt", "a"} {
		resp := s.get(t, "/api/execution-deliverable/"+ex.ID()+"/"+name)
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != http.StatusNotFound || e["error"] != "Deliverable not found" {
			t.Errorf("%s: %s %v, want Mimir's 404", name, resp.Status, e)
		}
	}

	zr := s.get(t, "/api/deliverables/"+ex.ID()+"/download")
	data, _ := io.ReadAll(zr.Body)
	if zr.Header.Get("Content-Type") != "application/zip" || zr.Header.Get("Content-Disposition") != fmt.Sprintf(`attachment; filename="execution-%s-deliverables.zip"; filename*=UTF-8''execution-%s-deliverables.zip`, ex.ID(), ex.ID()) {
		t.Errorf("zip headers: %v", zr.Header)
	}
	arc, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	got := map[string]string{}
	for _, f := range arc.File {
		r, _ := f.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		got[f.Name] = string(b)
	}
	if want := map[string]string{"a/report.md": "attempt 2\n", "b/notes.txt": "b\n"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("zip holds %v, want %v", got, want)
	}

	// An agent that outlived its task swaps its file for a link to a file
	// of the user's: neither route follows it.
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(ex.StagingDir(), "a", "report.md")
	if err := os.Remove(staged); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, staged); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{d.DownloadURL, "/api/deliverables/" + ex.ID() + "/download"} {
		resp := s.get(t, path)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusConflict || bytes.Contains(b, []byte("secret\"")) || bytes.Contains(b, []byte("PK\x03\x04")) {
			t.Errorf("%s through a link: %s %s", path, resp.Status, b)
		}
	}
}

func post(t *testing.T, s *sidecar, body string) (int, map[string]any) {
	t.Helper()
	return postTo(t, s, "/api/execute-workflow", body)
}

func postTo(t *testing.T, s *sidecar, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.url(path), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func getJSON(t *testing.T, s *sidecar, path string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.NewDecoder(s.get(t, path).Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// POST /api/cancel-execution stops a running execution; its stream ends
// with Mimir's execution-cancelled, and execution-state says so.
func TestCancelOverHTTP(t *testing.T) {
	s := start(t, true, nil)
	ex := run(t, s, "name: long\ntasks:\n  - {id: a, worker: {command: 'echo started > a.txt; sleep 60'}}\n  - {id: b, dependsOn: [a], worker: {command: 'true'}}\n")
	resp := s.get(t, "/api/execution-stream/"+ex.ID())
	ex.Start()
	r := newFrameReader(t, resp.Body)
	var seen []string
	for f, ok := r.next(); ok && f.Event != "worker-start"; f, ok = r.next() {
		seen = append(seen, f.Event)
	}
	st := getJSON(t, s, "/api/execution-state/"+ex.ID())
	if st["status"] != "running" || st["currentTaskId"] != "a" || st["cancelled"] != false || fmt.Sprint(st["taskStatuses"]) != "map[a:executing b:pending]" {
		t.Errorf("state while a runs: %v", st)
	}
	status, body := postTo(t, s, "/api/cancel-execution/"+ex.ID(), "")
	if status != http.StatusOK || body["success"] != true || body["message"] != "Execution cancellation requested" {
		t.Fatalf("cancel: %d %v", status, body)
	}
	var rest []frame
	for f, ok := r.next(); ok; f, ok = r.next() {
		rest = append(rest, f)
	}
	if len(rest) == 0 {
		t.Fatalf("the stream ended without execution-cancelled (before: %q)", seen)
	}
	last := rest[len(rest)-1]
	if last.Event != "execution-cancelled" || last.Data["status"] != "cancelled" || last.Data["cancelled"] != true ||
		last.Data["message"] == nil || last.Data["cancelledAt"] == nil || last.Data["completed"] != float64(0) {
		t.Errorf("last event = %+v", last)
	}
	<-ex.Done()
	st = getJSON(t, s, "/api/execution-state/"+ex.ID())
	if st["status"] != "cancelled" || st["cancelled"] != true || st["endTime"] == nil {
		t.Errorf("state after the cancel: %v", st)
	}
	status, body = postTo(t, s, "/api/cancel-execution/"+ex.ID(), "")
	if status != http.StatusBadRequest || body["error"] != "Cannot cancel execution with status: cancelled" {
		t.Errorf("second cancel: %d %v, want Mimir's 400", status, body)
	}
}

// POST /api/execute-workflow is refused unless enabled, because it runs
// agents.
func TestExecuteIsOffByDefault(t *testing.T) {
	s := start(t, false, nil)
	status, body := post(t, s, `{"tasks":[{"id":"t1","title":"T","agentRoleDescription":"writer","prompt":"write"}]}`)
	if status != http.StatusForbidden || !strings.Contains(fmt.Sprint(body["details"]), "--http-execute") {
		t.Errorf("disabled execute: %d %v", status, body)
	}
	if len(s.runner.List()) != 0 {
		t.Errorf("a disabled execute started an execution")
	}
	ex := run(t, s, retryWorkflow)
	if status, body := postTo(t, s, "/api/cancel-execution/"+ex.ID(), ""); status != http.StatusForbidden {
		t.Errorf("disabled cancel: %d %v", status, body)
	}
}

// Mimir's task definitions, posted as Mimir's Studio posts them, run with
// llm agents (a scripted model here): the worker writes a file, the QC's
// first verdict fails and its second passes, within Mimir's maxRetries of
// 2 attempts; the stream shows it under Mimir's names.
func TestExecuteRunsMimirTasks(t *testing.T) {
	var qcCalls atomic.Int32
	model := fakemodel.Start("fake", func(req *fakemodel.ChatRequest) fakemodel.Reply {
		if req.Contains("QC-ROLE") {
			if qcCalls.Add(1) == 1 {
				return fakemodel.Reply{Content: `{"passed":false,"score":40,"feedback":"too short","issues":["short"],"requiredFixes":["longer"]}`}
			}
			return fakemodel.Reply{Content: `{"passed":true,"score":95,"feedback":"good","issues":[],"requiredFixes":[]}`}
		}
		if last := req.Messages[len(req.Messages)-1]; last.Role == "tool" {
			return fakemodel.Reply{Content: "Done."}
		}
		return fakemodel.Reply{Calls: []fakemodel.Call{{Name: "write_file", Args: map[string]any{"path": "report.md", "content": "# Report\n"}}}}
	})
	defer model.Close()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("MIMIR_LLM_BASE_URL", model.URL())
	t.Setenv("MIMIR_LLM_MODEL", "fake")
	ws := t.TempDir()
	s := start(t, true, engine.Agents{"llm": llm.LoadKind(ws)})

	status, body := post(t, s, `{"tasks":[{"id":"task-1","title":"Report","agentRoleDescription":"WORKER-ROLE: a writer","recommendedModel":"gpt-4.1",
		"prompt":"Write report.md","dependencies":[],"estimatedDuration":"5 min","qcRole":"QC-ROLE: an editor",
		"verificationCriteria":"- has a title\n- is markdown","maxRetries":2}]}`)
	id, _ := body["executionId"].(string)
	if status != http.StatusOK || body["success"] != true || id == "" || body["message"] != "Workflow execution started with 1 tasks" {
		t.Fatalf("execute: %d %v", status, body)
	}
	fs := readFrames(t, s.get(t, "/api/execution-stream/"+id).Body)
	got := names(fs)
	want := []string{"init", "execution-start", "task-start", "worker-start#1", "agent-chatter", "worker-complete", "qc-start#1", "qc-complete#1",
		"worker-start#2", "agent-chatter", "worker-complete", "qc-start#2", "qc-complete#2", "task-complete", "execution-complete"}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	done := fs[len(fs)-1].Data
	if done["status"] != "completed" || fmt.Sprint(done["deliverables"]) != fmt.Sprint([]any{map[string]any{"filename": "task-1/report.md", "size": float64(9), "mimeType": "text/markdown"}}) {
		t.Errorf("execution-complete = %v", done)
	}

	status, body = post(t, s, `{"tasks":[{"id":"t","prompt":"p","taskType":"transformer","lambdaScript":"x"}]}`)
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["details"]), "lambdaScript is not supported") {
		t.Errorf("a transformer task: %d %v, want 400 naming lambdaScript", status, body)
	}
	status, body = post(t, s, `{"tasks":[]}`)
	if status != http.StatusBadRequest || body["error"] != "Invalid workflow: tasks array is required" {
		t.Errorf("no tasks: %d %v, want Mimir's 400", status, body)
	}
}
