package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// natsServer is an embedded NATS server with JetStream, its store in a
// folder the test keeps, on a port that survives a restart.
type natsServer struct {
	t     *testing.T
	port  int
	store string
	srv   *natsserver.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := &natsServer{t: t, port: port, store: t.TempDir()}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.store, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("NATS did not start")
	}
	n.srv = srv
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// clusterUser is a user configuration with short NATS timings, so that
// redelivery and the waiting notice happen within a test.
func clusterUser(t *testing.T) []string {
	t.Helper()
	config := t.TempDir()
	if err := os.MkdirAll(filepath.Join(config, "mimir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config, "mimir", "config.yaml"), []byte("cluster:\n  ackWait: 2s\n  waitNotice: 300ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"XDG_CONFIG_HOME=" + config, "HOME=" + t.TempDir()}
}

// workerProc is a `mimir-sidecar worker` process and what it logged.
type workerProc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

func startWorker(t *testing.T, n *natsServer, prefix, name string, env ...string) *workerProc {
	t.Helper()
	w := &workerProc{cmd: exec.Command(bin, "worker", "--nats", n.url(), "--prefix", prefix, "--name", name, "--ack-wait", "2s", "--log-level", "info")}
	w.cmd.Env = append(append(os.Environ(), clusterUser(t)...), env...)
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			w.mu.Lock()
			w.log.WriteString(s.Text() + "\n")
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.cmd.Process.Signal(syscall.SIGTERM)
		w.cmd.Wait()
	})
	return w
}

// waitLog waits until the worker has logged s.
func (w *workerProc) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !w.logged(s) {
		if time.Now().After(deadline) {
			t.Fatalf("the worker never logged %q:\n%s", s, w.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *workerProc) logged(s string) bool { return strings.Contains(w.logs(), s) }

func (w *workerProc) logs() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.String()
}

// sidecarRun is `mimir-sidecar run --json` in the background.
type sidecarRun struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	errb lockedBuffer
	done chan error
}

// lockedBuffer is a process's output, read while the process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func startRun(t *testing.T, dir string, args ...string) *sidecarRun {
	t.Helper()
	r := &sidecarRun{cmd: exec.Command(bin, append([]string{"run", "--json"}, args...)...), done: make(chan error, 1)}
	r.cmd.Dir = dir
	r.cmd.Env = append(os.Environ(), clusterUser(t)...)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errb
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

func (r *sidecarRun) wait(t *testing.T) (int, []engine.Event) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
	case <-time.After(2 * time.Minute):
		t.Fatalf("the run did not end:\n%s", r.errb.String())
	}
	return r.cmd.ProcessState.ExitCode(), parseEvents(t, r.out.String())
}

func deliverableSums(evs []engine.Event) map[string]string {
	sums := map[string]string{}
	for _, ev := range evs {
		if ev.Event == engine.EventExecutionComplete {
			for _, d := range ev.Data.Deliverables {
				sums[d.Path] = d.SHA256
			}
		}
	}
	return sums
}

// The example on three workers gives the deliverables a local run gives,
// every worker and QC result naming the worker that ran it.
func TestExampleOnThreeWorkers(t *testing.T) {
	n := startNATS(t)
	localEvs := parseEvents(t, mustRun(t, exampleWorkspace(t), "run", "examples/translate-docs/workflow.yaml", "--json", "--no-save"))

	for i := range 3 {
		startWorker(t, n, "team", fmt.Sprintf("w%d", i))
	}
	ws := exampleWorkspace(t)
	r := startRun(t, ws, "examples/translate-docs/workflow.yaml", "--nats", n.url(), "--nats-prefix", "team")
	code, evs := r.wait(t)
	if code != 0 {
		t.Fatalf("the run on workers failed (%d):\n%s\n%s", code, r.errb.String(), r.out.String())
	}
	want, got := deliverableSums(localEvs), deliverableSums(evs)
	if len(want) == 0 || fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("deliverables on workers %v, locally %v", got, want)
	}
	for _, ev := range evs {
		if (ev.Event == engine.EventWorkerComplete || ev.Event == engine.EventQCComplete) && !strings.HasPrefix(ev.Data.Worker, "w") {
			t.Errorf("%s of %s names no worker: %+v", ev.Event, ev.Data.TaskID, ev.Data)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "deliverables", "site", "index.html")); err != nil {
		t.Errorf("the deliverables were not saved: %v", err)
	}
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, stderr, code := runBin(t, dir, args...)
	if code != 0 {
		t.Fatalf("%v: %d\n%s", args, code, stderr)
	}
	return out
}

const slowWorkflow = `name: slow
tasks:
  - id: t
    worker:
      command: 'if [ "$SLOW" = 1 ]; then sleep 317; fi; echo "done by $WORKER" > out.txt'
    timeout: 2m
`

// A worker killed in the middle of an attempt: after the ack wait the
// attempt goes to another worker, and is counted once.
func TestKilledWorkerHandsTheAttemptOn(t *testing.T) {
	n := startNATS(t)
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(slowWorkflow), 0o644)
	a := startWorker(t, n, "p", "a", "SLOW=1", "WORKER=a")
	r := startRun(t, ws, "wf.yaml", "--nats", n.url(), "--nats-prefix", "p")
	a.waitLog(t, "attempt started")
	a.cmd.Process.Signal(syscall.SIGKILL)
	startWorker(t, n, "p", "b", "SLOW=0", "WORKER=b")
	code, evs := r.wait(t)
	if code != 0 {
		t.Fatalf("the run failed (%d):\n%s", code, r.errb.String())
	}
	starts := 0
	for _, ev := range evs {
		switch ev.Event {
		case engine.EventWorkerStart:
			starts++
		case engine.EventWorkerComplete:
			if ev.Data.Worker != "b" {
				t.Errorf("worker-complete names %q, want b", ev.Data.Worker)
			}
		}
	}
	if starts != 1 {
		t.Errorf("%d worker-start events: the attempt must count once", starts)
	}
	if got, _ := os.ReadFile(filepath.Join(ws, "deliverables", "t", "out.txt")); string(got) != "done by b\n" {
		t.Errorf("out.txt = %q", got)
	}
}

// Cancelling the run stops the attempt's processes on the worker.
func TestCancelReachesTheWorker(t *testing.T) {
	n := startNATS(t)
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(slowWorkflow), 0o644)
	w := startWorker(t, n, "p", "a", "SLOW=1")
	r := startRun(t, ws, "wf.yaml", "--nats", n.url(), "--nats-prefix", "p")
	w.waitLog(t, "attempt started")
	r.cmd.Process.Signal(os.Interrupt)
	if code, evs := r.wait(t); code != 130 || evs[len(evs)-1].Event != engine.EventExecutionCancelled {
		t.Fatalf("the cancelled run ended with %d:\n%s", code, r.errb.String())
	}
	w.waitLog(t, "attempt cancelled")
	deadline := time.Now().Add(10 * time.Second)
	for sleeping(t) {
		if time.Now().After(deadline) {
			t.Fatal("the attempt's command still runs on the worker")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sleeping reports whether a slowWorkflow command still runs.
func sleeping(t *testing.T) bool {
	out, _ := exec.Command("pgrep", "-f", "sleep 317").Output()
	return len(bytes.TrimSpace(out)) > 0
}

// Two workspaces on one server do not see each other's attempts: a worker
// of one prefix never takes the other's, whose attempt waits (and says
// so) until a worker of its own prefix comes.
func TestPrefixesAreIsolated(t *testing.T) {
	n := startNATS(t)
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(slowWorkflow), 0o644)
	other := startWorker(t, n, "alice", "alice-worker")
	r := startRun(t, ws, "wf.yaml", "--nats", n.url(), "--nats-prefix", "bob")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.out.String(), `"event":"task-waiting"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no task-waiting event:\n%s", r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	startWorker(t, n, "bob", "bob-worker", "WORKER=bob")
	if code, _ := r.wait(t); code != 0 {
		t.Fatalf("the run failed (%d):\n%s", code, r.errb.String())
	}
	if other.logged("attempt started") {
		t.Errorf("alice's worker took bob's attempt:\n%s", other.logs())
	}
}

// The NATS server going away mid-attempt and coming back: the worker and
// the sidecar reconnect, and the attempt completes once.
func TestNATSRestartMidRun(t *testing.T) {
	n := startNATS(t)
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(strings.Replace(slowWorkflow, "sleep 317", "sleep 2", 1)), 0o644)
	w := startWorker(t, n, "p", "a", "SLOW=1", "WORKER=a")
	r := startRun(t, ws, "wf.yaml", "--nats", n.url(), "--nats-prefix", "p")
	w.waitLog(t, "attempt started")
	n.stop()
	time.Sleep(500 * time.Millisecond)
	n.start()
	code, evs := r.wait(t)
	if code != 0 {
		t.Fatalf("the run failed (%d):\n%s\nworker:\n%s", code, r.errb.String(), w.logs())
	}
	var completes []string
	for _, ev := range evs {
		if ev.Event == engine.EventWorkerComplete {
			completes = append(completes, ev.Data.Error)
		}
	}
	if len(completes) != 1 {
		t.Errorf("%d worker-complete events, want 1: %q\nworker:\n%s", len(completes), completes, w.logs())
	}
	if got, _ := os.ReadFile(filepath.Join(ws, "deliverables", "t", "out.txt")); string(got) != "done by a\n" {
		t.Errorf("out.txt = %q", got)
	}
}

// An editor's sidecar started with --nats runs its executions on the
// workers; the editor sees the events as from a local run, each result
// naming its worker.
func TestServeDispatchesToWorkers(t *testing.T) {
	n := startNATS(t)
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(slowWorkflow), 0o644)
	startWorker(t, n, "p", "w1", "WORKER=w1")
	p := startSidecarArgs(t, ws, "--nats", n.url(), "--nats-prefix", "p")
	res, _ := p.call("mimir/execute", map[string]any{"workflow": "wf.yaml"})
	id := res["executionId"].(string)
	for {
		ev, ok := eventOf(p.next())
		if !ok || ev.ExecutionID != id {
			continue
		}
		if ev.Event == engine.EventWorkerComplete && ev.Data.Worker != "w1" {
			t.Errorf("worker-complete names %q, want w1", ev.Data.Worker)
		}
		if ev.Event == engine.EventExecutionComplete {
			if ev.Data.Status != engine.StatusCompleted {
				t.Fatalf("execution ended %+v", ev.Data)
			}
			break
		}
	}
}

// BenchmarkRemoteDispatch runs 1,000 trivial tasks (4 at a time) here and
// on 1, 2 and 4 workers through an embedded NATS server on this machine:
// the dispatch's cost per attempt over a local one, and the events per
// second that reach the run's output end to end.
//
//	go test -run '^$' -bench RemoteDispatch -benchtime 1x ./cmd/mimir-sidecar
func BenchmarkRemoteDispatch(b *testing.B) {
	const tasks = 1000
	var wf strings.Builder
	wf.WriteString("name: many\nparallelism: 4\ntasks:\n")
	for i := range tasks {
		fmt.Fprintf(&wf, "  - id: t%d\n    worker: {command: \"true\"}\n", i)
	}
	for _, workers := range []int{0, 1, 2, 4} {
		name := "local"
		if workers > 0 {
			name = fmt.Sprintf("workers=%d", workers)
		}
		b.Run(name, func(b *testing.B) {
			var perAttempt, eventsPerSec float64
			for range b.N {
				ws := b.TempDir()
				os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(wf.String()), 0o644)
				args := []string{"run", "wf.yaml", "--json", "--no-save"}
				var procs []*exec.Cmd
				if workers > 0 {
					srv, url := benchNATS(b)
					defer srv.Shutdown()
					for i := range workers {
						w := exec.Command(bin, "worker", "--nats", url, "--prefix", "bench", "--name", fmt.Sprint("w", i), "--log-level", "error")
						if err := w.Start(); err != nil {
							b.Fatal(err)
						}
						procs = append(procs, w)
					}
					args = append(args, "--nats", url, "--nats-prefix", "bench")
				}
				cmd := exec.Command(bin, args...)
				cmd.Dir = ws
				began := time.Now()
				out, err := cmd.Output()
				took := time.Since(began)
				for _, p := range procs {
					p.Process.Signal(syscall.SIGTERM)
					p.Wait()
				}
				if err != nil {
					b.Fatalf("run: %v", err)
				}
				events := bytes.Count(out, []byte("\n"))
				perAttempt = float64(took.Milliseconds()) / tasks
				eventsPerSec = float64(events) / took.Seconds()
			}
			b.ReportMetric(perAttempt, "ms/task")
			b.ReportMetric(eventsPerSec, "events/s")
		})
	}
}

func benchNATS(b *testing.B) (*natsserver.Server, string) {
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: b.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		b.Fatal("NATS did not start")
	}
	return srv, srv.ClientURL()
}

// A sidecar killed while its attempt runs on a worker: the resumed
// execution's new sidecar cancels what the old one left running there and
// runs the task again.
func TestResumedExecutionClearsItsOldAttempts(t *testing.T) {
	n := startNATS(t)
	ws := t.TempDir()
	wf := "name: wait\ntasks:\n  - id: t\n    worker:\n      command: 'while [ ! -e \"$MIMIR_WORKFLOW_DIR/go\" ]; do sleep 0.05; done; echo ok > out.txt'\n"
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(wf), 0o644)
	w := startWorker(t, n, "p", "a")
	first := startRun(t, ws, "wf.yaml", "--nats", n.url(), "--nats-prefix", "p")
	w.waitLog(t, "attempt started")
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.wait(t)
	id := parseEvents(t, first.out.String())[0].ExecutionID

	os.WriteFile(filepath.Join(ws, "go"), nil, 0o644)
	second := startRun(t, ws, "--resume", id, "--nats", n.url(), "--nats-prefix", "p")
	code, evs := second.wait(t)
	if code != 0 {
		t.Fatalf("the resumed run failed (%d):\n%s\nworker:\n%s", code, second.errb.String(), w.logs())
	}
	if !w.logged("attempt cancelled") {
		t.Errorf("the old attempt was not cancelled on the worker:\n%s", w.logs())
	}
	completes := 0
	for _, ev := range evs {
		if ev.Event == engine.EventWorkerComplete {
			completes++
		}
	}
	if completes != 1 {
		t.Errorf("%d worker-complete events in the resumed run, want 1", completes)
	}
}

// A NATS server that is not there is said so, with what to do, not
// waited on for ever.
func TestUnreachableNATSIsSaid(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte(slowWorkflow), 0o644)
	_, stderr, code := runBin(t, ws, "run", "wf.yaml", "--nats", "nats://"+addr)
	if code != 1 || !strings.Contains(stderr, "could not be reached") || !strings.Contains(stderr, "nats-server -js") {
		t.Errorf("run with no NATS server: %d\n%s", code, stderr)
	}
}
