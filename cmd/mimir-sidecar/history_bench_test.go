package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
)

// BenchmarkHistoryAtScale measures what a long history costs an editor:
// a workspace whose journal holds 10,000 past executions (written through
// the journal, not run) against a fresh one. It reports, for each, the time
// from spawning the sidecar to the answer to initialize, the idle resident
// memory, the first page of mimir/executions and the replay of the oldest
// execution's events (mimir/events; against that of a workspace with one
// execution), and the ratio of the two. Run it with
// -benchtime=3x: each iteration spawns a sidecar on each workspace.
func BenchmarkHistoryAtScale(b *testing.B) {
	const past = 10000
	sidecar := installedCopy(b)
	fresh := b.TempDir()
	big := b.TempDir()
	start := time.Now()
	oldest := writeHistory(b, filepath.Join(big, ".mimir"), past)
	b.Logf("wrote %d executions in %v", past, time.Since(start).Round(time.Millisecond))
	// The replay is compared with that of the only execution of a
	// workspace that has one.
	one := b.TempDir()
	only := writeHistory(b, filepath.Join(one, ".mimir"), 1)
	var f, h, o []historyFigures
	for b.Loop() {
		f = append(f, measureHistory(b, sidecar, fresh, ""))
		h = append(h, measureHistory(b, sidecar, big, oldest))
		o = append(o, measureHistory(b, sidecar, one, only))
	}
	fm, hm, om := medianFigures(f), medianFigures(h), medianFigures(o)
	b.ReportMetric(ms(fm.initialize), "fresh-init-ms")
	b.ReportMetric(ms(hm.initialize), "10k-init-ms")
	b.ReportMetric(float64(fm.rssKB)/1024, "fresh-RSS-MB")
	b.ReportMetric(float64(hm.rssKB)/1024, "10k-RSS-MB")
	b.ReportMetric(ms(fm.list), "fresh-list-ms")
	b.ReportMetric(ms(hm.list), "10k-list-ms")
	b.ReportMetric(ms(om.replay), "1-replay-ms")
	b.ReportMetric(ms(hm.replay), "10k-replay-ms")
	b.ReportMetric(float64(hm.replay)/float64(om.replay), "replay-ratio")
	b.ReportMetric(float64(hm.initialize)/float64(fm.initialize), "init-ratio")
	b.ReportMetric(float64(hm.rssKB)/float64(fm.rssKB), "RSS-ratio")
	b.ReportMetric(float64(hm.list)/float64(fm.list), "list-ratio")
}

type historyFigures struct {
	initialize, list, replay time.Duration
	rssKB                    int
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func medianFigures(fs []historyFigures) historyFigures {
	pick := func(get func(historyFigures) int64) int64 {
		v := make([]int64, len(fs))
		for i, f := range fs {
			v[i] = get(f)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return historyFigures{
		initialize: time.Duration(pick(func(f historyFigures) int64 { return int64(f.initialize) })),
		list:       time.Duration(pick(func(f historyFigures) int64 { return int64(f.list) })),
		replay:     time.Duration(pick(func(f historyFigures) int64 { return int64(f.replay) })),
		rssKB:      int(pick(func(f historyFigures) int64 { return int64(f.rssKB) })),
	}
}

// measureHistory spawns the sidecar on ws and times initialize, the first
// page of executions and, when replay is set, that execution's events.
func measureHistory(b *testing.B, sidecar, ws, replay string) historyFigures {
	b.Helper()
	var fig historyFigures
	start := time.Now()
	cmd := exec.Command(sidecar, "--workspace", ws, "--no-sse")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	br := bufio.NewReader(stdout)
	id := 0
	call := func(method string, params any) json.RawMessage {
		id++
		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
		fmt.Fprintf(stdin, "Content-Length: %d\r\n\r\n%s", len(body), body)
		for {
			var n int
			if _, err := fmt.Fscanf(br, "Content-Length: %d\r\n\r\n", &n); err != nil {
				b.Fatalf("%s: %v", method, err)
			}
			frame := make([]byte, n)
			if _, err := io.ReadFull(br, frame); err != nil {
				b.Fatal(err)
			}
			var m struct {
				ID     *int            `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			json.Unmarshal(frame, &m)
			if m.ID != nil && *m.ID == id {
				if m.Error != nil {
					b.Fatalf("%s: %s", method, m.Error)
				}
				return m.Result
			}
		}
	}
	call("initialize", map[string]any{"rootUri": "file://" + ws, "capabilities": map[string]any{}, "initializationOptions": map[string]any{"toasts": "none"}})
	fig.initialize = time.Since(start)
	rss, ok := settledRSS(cmd.Process.Pid, 2*time.Second)
	if !ok {
		b.Logf("resident memory still changing after 2s; took the last reading")
	}
	fig.rssKB = rss
	start = time.Now()
	var page struct {
		Executions []engine.Summary `json:"executions"`
	}
	json.Unmarshal(call("mimir/executions", map[string]any{"limit": 50}), &page)
	fig.list = time.Since(start)
	if replay != "" {
		if len(page.Executions) == 0 {
			b.Fatal("the history lists no execution")
		}
		start = time.Now()
		var evs struct {
			Events []json.RawMessage `json:"events"`
		}
		json.Unmarshal(call("mimir/events", map[string]any{"executionId": replay}), &evs)
		fig.replay = time.Since(start)
		if len(evs.Events) != len(benchEvents) {
			b.Fatalf("replayed %d events of %s, want %d", len(evs.Events), replay, len(benchEvents))
		}
	}
	return fig
}

const benchWorkflow = `name: bench
tasks:
  - {id: a, worker: {type: exec, command: "echo a > a.txt"}, qc: {type: exec, command: "true"}}
  - {id: b, dependsOn: [a], worker: {type: exec, command: "echo b > b.txt"}, qc: {type: exec, command: "true"}}
`

// benchEvents is one execution of benchWorkflow as the engine reports it.
var benchEvents = []struct {
	name string
	data engine.EventData
}{
	{engine.EventExecutionStart, engine.EventData{Workflow: "bench", WorkflowPath: "bench.yaml", Parallelism: 2, Tasks: ptrTo(2), Message: "▶️ Execution started: bench"}},
	{engine.EventTaskStart, engine.EventData{TaskID: "a", TaskTitle: "a", MaxAttempts: 3, DependsOn: []string{}, Message: "a"}},
	{engine.EventWorkerStart, engine.EventData{TaskID: "a", Attempt: 1, MaxAttempts: 3, Message: "worker"}},
	{engine.EventWorkerComplete, engine.EventData{TaskID: "a", Attempt: 1, OK: ptrTo(true), DurationMs: ptrTo(int64(3)), Message: "worker done"}},
	{engine.EventQCStart, engine.EventData{TaskID: "a", Attempt: 1, Message: "qc"}},
	{engine.EventQCComplete, engine.EventData{TaskID: "a", Attempt: 1, Passed: ptrTo(true), Score: ptrTo(100), Message: "qc passed"}},
	{engine.EventTaskComplete, engine.EventData{TaskID: "a", Score: ptrTo(100), Deliverables: []engine.Deliverable{{Path: "a/a.txt", Size: 2, SHA256: "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"}}, Message: "a done"}},
	{engine.EventTaskStart, engine.EventData{TaskID: "b", TaskTitle: "b", MaxAttempts: 3, DependsOn: []string{"a"}, Message: "b"}},
	{engine.EventWorkerStart, engine.EventData{TaskID: "b", Attempt: 1, MaxAttempts: 3, Message: "worker"}},
	{engine.EventWorkerComplete, engine.EventData{TaskID: "b", Attempt: 1, OK: ptrTo(true), DurationMs: ptrTo(int64(3)), Message: "worker done"}},
	{engine.EventQCStart, engine.EventData{TaskID: "b", Attempt: 1, Message: "qc"}},
	{engine.EventQCComplete, engine.EventData{TaskID: "b", Attempt: 1, Passed: ptrTo(true), Score: ptrTo(100), Message: "qc passed"}},
	{engine.EventTaskComplete, engine.EventData{TaskID: "b", Score: ptrTo(100), Deliverables: []engine.Deliverable{{Path: "b/b.txt", Size: 2, SHA256: "0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f"}}, Message: "b done"}},
	{engine.EventExecutionComplete, engine.EventData{Status: engine.StatusCompleted, Tasks: ptrTo(2), CompletedTasks: ptrTo(2), FailedTasks: ptrTo(0), SkippedTasks: ptrTo(0), DurationMs: ptrTo(int64(40)), Message: "✅ Execution completed"}},
}

func ptrTo[T any](v T) *T { return &v }

// writeHistory journals n finished executions of benchWorkflow in
// stateDir, as many sidecars would have over months, and returns the
// oldest one's id.
func writeHistory(b *testing.B, stateDir string, n int) string {
	b.Helper()
	j, _, err := journal.Open(stateDir, nil)
	if err != nil {
		b.Fatal(err)
	}
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	t0 := time.Now().Add(-time.Duration(n) * time.Minute).UTC()
	var seq uint64
	var oldest string
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		id := "ex_" + ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
		if i == 0 {
			oldest = id
		}
		for k, e := range benchEvents {
			seq++
			ev := engine.Event{Seq: seq, ExecutionID: id, Event: e.name, Time: at.Add(time.Duration(k) * time.Millisecond), Data: e.data}
			var rec *engine.Record
			if k == 0 {
				rec = &engine.Record{ID: id, Workflow: "bench", Path: "bench.yaml", Dir: filepath.Dir(stateDir), Source: []byte(benchWorkflow)}
			}
			sum := engine.Summary{ExecutionID: id, Workflow: "bench", WorkflowPath: "bench.yaml", Status: engine.StatusRunning, StartedAt: at, Tasks: 2}
			if e.name == engine.EventExecutionComplete {
				sum.Status, sum.FinishedAt, sum.CompletedTasks, sum.Deliverables = engine.StatusCompleted, &ev.Time, 2, 2
			}
			if err := j.Append(ev, rec, sum); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	return oldest
}

// BenchmarkSoak runs executions one after another through one sidecar,
// as a user who keeps it for months would, and reports the slope of its
// resident memory per execution after warm-up (the first half), with its
// threads and open descriptors at the end against after warm-up. Run it
// with -benchtime=3000x: the event hub keeps the last 8192 events, which
// this workflow's executions fill after about 1,100 of them.
func BenchmarkSoak(b *testing.B) {
	ws := b.TempDir()
	sidecar := installedCopy(b)
	cmd := exec.Command(sidecar, "--workspace", ws, "--no-sse")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	br := bufio.NewReader(stdout)
	id := 0
	// call sends a request and reads until its answer or, with until set,
	// until a notification whose body holds until.
	read := func(want func(frame []byte, m map[string]any) bool) {
		for {
			var n int
			if _, err := fmt.Fscanf(br, "Content-Length: %d\r\n\r\n", &n); err != nil {
				b.Fatal(err)
			}
			frame := make([]byte, n)
			if _, err := io.ReadFull(br, frame); err != nil {
				b.Fatal(err)
			}
			var m map[string]any
			json.Unmarshal(frame, &m)
			if m["error"] != nil {
				b.Fatalf("%s", frame)
			}
			if want(frame, m) {
				return
			}
		}
	}
	call := func(method string, params any) {
		id++
		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
		fmt.Fprintf(stdin, "Content-Length: %d\r\n\r\n%s", len(body), body)
		want := float64(id)
		read(func(_ []byte, m map[string]any) bool { return m["id"] == want })
	}
	call("initialize", map[string]any{"rootUri": "file://" + ws, "capabilities": map[string]any{}, "initializationOptions": map[string]any{"toasts": "none"}})
	pid := cmd.Process.Pid
	inline := "name: soak\ntasks:\n  - {id: a, worker: {command: 'echo a > a.txt'}}\n"
	type sample struct{ n, rssKB, threads, fds int }
	var samples []sample
	every := max(b.N/20, 1)
	b.ResetTimer()
	for i := range b.N {
		call("mimir/execute", map[string]any{"inline": inline, "autoSave": false})
		read(func(frame []byte, m map[string]any) bool {
			return m["method"] == "mimir/event" && strings.Contains(string(frame), `"execution-complete"`)
		})
		if (i+1)%every == 0 {
			rss, _ := settledRSS(pid, time.Second)
			fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			samples = append(samples, sample{i + 1, rss, procStatus(pid, "Threads:"), len(fds)})
		}
	}
	b.StopTimer()
	warm := samples[len(samples)/2:]
	if len(warm) < 2 {
		return // the first, single run: too few for a slope
	}
	// Least squares over the samples after warm-up.
	var sx, sy, sxx, sxy float64
	for _, s := range warm {
		x, y := float64(s.n), float64(s.rssKB)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	k := float64(len(warm))
	slope := (k*sxy - sx*sy) / (k*sxx - sx*sx)
	first, last := warm[0], samples[len(samples)-1]
	b.Logf("after %d executions: RSS %d KB → %d KB, threads %d → %d, descriptors %d → %d", first.n, first.rssKB, last.rssKB, first.threads, last.threads, first.fds, last.fds)
	for _, s := range samples {
		b.Logf("%5d executions: RSS %6d KB, %d threads, %d descriptors", s.n, s.rssKB, s.threads, s.fds)
	}
	b.ReportMetric(slope, "RSS-KB/execution")
	b.ReportMetric(float64(last.rssKB)/1024, "final-RSS-MB")
	b.ReportMetric(float64(last.threads-first.threads), "threads-delta")
	b.ReportMetric(float64(last.fds-first.fds), "fds-delta")
	entries, _ := os.ReadDir(filepath.Join(ws, ".mimir", "executions"))
	b.ReportMetric(float64(len(entries)), "execution-folders")
}
