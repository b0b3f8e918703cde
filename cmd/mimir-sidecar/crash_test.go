package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// sidecarProc is the built binary in serve mode, spoken to over its pipes.
type sidecarProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	frames chan map[string]any
	nextID int
	// initialized is the sidecar's answer to initialize.
	initialized map[string]any
}

// startSidecar starts the binary in serve mode on ws, without the SSE
// mirror, and initializes it.
func startSidecar(t *testing.T, ws string) *sidecarProc {
	t.Helper()
	return startSidecarArgs(t, ws, "--no-sse")
}

// startSidecarArgs is startSidecar with the binary's flags given.
func startSidecarArgs(t *testing.T, ws string, args ...string) *sidecarProc {
	t.Helper()
	return startBinary(t, bin, ws, args...)
}

// startBinary is startSidecarArgs with another build of the sidecar.
func startBinary(t *testing.T, bin, ws string, args ...string) *sidecarProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = ws
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &sidecarProc{t: t, cmd: cmd, in: in, frames: make(chan map[string]any, 4096)}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		defer close(p.frames)
		br := bufio.NewReader(out)
		for {
			var n int
			if _, err := fmt.Fscanf(br, "Content-Length: %d\r\n\r\n", &n); err != nil {
				return
			}
			body := make([]byte, n)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			var m map[string]any
			json.Unmarshal(body, &m)
			p.frames <- m
		}
	}()
	init, before := p.call("initialize", map[string]any{"rootUri": "file://" + ws, "capabilities": map[string]any{}, "initializationOptions": map[string]any{"toasts": "none"}})
	// LSP allows no notification of ours before initialize's answer, not
	// even the events of executions a crash interrupted.
	for _, m := range before {
		if m["method"] != "window/showMessage" && m["method"] != "window/logMessage" {
			t.Errorf("%v came before the answer to initialize", m["method"])
		}
	}
	p.initialized = init
	return p
}

func (p *sidecarProc) send(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(p.in, "Content-Length: %d\r\n\r\n%s", len(b), b)
}

// call returns the result, collecting the events that came before it.
func (p *sidecarProc) call(method string, params any) (map[string]any, []map[string]any) {
	p.t.Helper()
	p.nextID++
	id := float64(p.nextID)
	p.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	var before []map[string]any
	for {
		m := p.next()
		if m["id"] == id && m["method"] == nil {
			if m["error"] != nil {
				p.t.Fatalf("%s: %v", method, m["error"])
			}
			r, _ := m["result"].(map[string]any)
			return r, before
		}
		before = append(before, m)
	}
}

func (p *sidecarProc) next() map[string]any {
	p.t.Helper()
	select {
	case m, ok := <-p.frames:
		if !ok {
			p.t.Fatal("the sidecar closed its output")
		}
		return m
	case <-time.After(20 * time.Second):
		p.t.Fatal("no frame within 20s")
	}
	return nil
}

func eventOf(m map[string]any) (engine.Event, bool) {
	if m["method"] != "mimir/event" {
		return engine.Event{}, false
	}
	b, _ := json.Marshal(m["params"])
	var ev engine.Event
	json.Unmarshal(b, &ev)
	return ev, true
}

const crashWorkflow = `name: crash
tasks:
  - id: a
    worker: {command: echo a > a.txt}
  - id: b
    dependsOn: [a]
    worker:
      command: 'if [ -f "$MIMIR_WORKSPACE/go" ]; then echo b > b.txt; else sleep 300; fi'
`

// A sidecar killed mid-execution loses nothing: the next one finds the
// execution interrupted, replays its events exactly, resumes it, and saves
// its deliverables.
func TestKilledSidecarRecovers(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "crash.yaml"), []byte(crashWorkflow), 0o644)

	first := startSidecar(t, ws)
	res, _ := first.call("mimir/execute", map[string]any{"workflow": "crash.yaml"})
	id := res["executionId"].(string)
	var seen []engine.Event
	for {
		if ev, ok := eventOf(first.next()); ok {
			seen = append(seen, ev)
			if ev.Event == engine.EventWorkerStart && ev.Data.TaskID == "b" {
				break
			}
		}
	}
	staging := filepath.Join(ws, ".mimir")
	if runtime.GOOS == "linux" {
		// worker-start comes just before the command does.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if len(processesIn(t, staging)) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("b's command is not running before the kill")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.cmd.Wait()

	second := startSidecar(t, ws)
	// Nothing the killed sidecar started goes on working in its folders:
	// the kernel tells its launchers, which kill their commands and all
	// they started.
	if runtime.GOOS == "linux" {
		deadline := time.Now().Add(10 * time.Second)
		for left := processesIn(t, staging); len(left) > 0; left = processesIn(t, staging) {
			if time.Now().After(deadline) {
				t.Fatalf("processes of the killed sidecar's commands survived the restart: %v", left)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	list, _ := second.call("mimir/executions", map[string]any{})
	ex := list["executions"].([]any)[0].(map[string]any)
	if ex["executionId"] != id || ex["status"] != "interrupted" {
		t.Fatalf("after the kill: %v", ex)
	}
	all := replay(second, 0, id)
	if len(all) != len(seen)+1 || all[len(all)-1].Event != engine.EventExecutionInterrupted {
		t.Fatalf("journal holds %d events (last %s); the editor saw %d before the kill", len(all), all[len(all)-1].Event, len(seen))
	}
	for i := range seen {
		if !reflect.DeepEqual(all[i], seen[i]) {
			t.Fatalf("event %d differs:\njournal %+v\neditor  %+v", i, all[i], seen[i])
		}
	}
	for _, from := range []int{1, len(all) / 2, len(all) - 1} {
		if got := replay(second, all[from-1].Seq, id); !reflect.DeepEqual(got, all[from:]) {
			t.Errorf("replay after seq %d: %d events, want %d", all[from-1].Seq, len(got), len(all)-from)
		}
	}

	os.WriteFile(filepath.Join(ws, "go"), nil, 0o644)
	second.call("mimir/resume", map[string]any{"executionId": id})
	for {
		if ev, ok := eventOf(second.next()); ok && ev.Event == engine.EventExecutionComplete {
			if ev.Data.Status != "completed" || len(ev.Data.Deliverables) != 2 {
				t.Fatalf("resumed execution ended %+v", ev.Data)
			}
			break
		}
	}
	saved, _ := second.call("mimir/saveDeliverables", map[string]any{"executionId": id})
	if saved["saved"] != float64(2) {
		t.Fatalf("save after resume: %v", saved)
	}
	for _, f := range []string{"a/a.txt", "b/b.txt"} {
		if _, err := os.Stat(filepath.Join(ws, "deliverables", f)); err != nil {
			t.Errorf("%s not saved: %v", f, err)
		}
	}
}

func replay(p *sidecarProc, since uint64, id string) []engine.Event {
	p.t.Helper()
	res, _ := p.call("mimir/events", map[string]any{"since": since, "executionId": id})
	var out []engine.Event
	for _, raw := range res["events"].([]any) {
		b, _ := json.Marshal(raw)
		var ev engine.Event
		json.Unmarshal(b, &ev)
		out = append(out, ev)
	}
	return out
}

// processesIn lists the processes (as "pid command") whose working folder
// is dir or inside it.
func processesIn(t *testing.T, dir string) []string {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || (cwd != real && !strings.HasPrefix(cwd, real+string(filepath.Separator))) {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		out = append(out, e.Name()+" "+strings.TrimSpace(string(comm)))
	}
	return out
}
