package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/mirror"
	"github.com/mimir-sidecar/mimir-sidecar/internal/ssebench"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// BenchmarkNotifications pushes engine events through the hub, the
// forwarding goroutine and a real pipe to a client that reads every frame,
// and reports throughput and the latency from publish to the client having
// read the frame.
func BenchmarkNotifications(b *testing.B) {
	s, frames, stop := benchServer(b)
	defer stop()
	// The publisher and the reader share these across a pipe, which the
	// race detector does not count as synchronisation: atomics, not plain
	// slots and a len() of the reader's slice.
	published := make([]atomic.Int64, b.N+1) // unix nanoseconds
	var received atomic.Uint64
	latencies := make([]time.Duration, 0, b.N) // the reader's until done
	done := make(chan struct{})
	go func() {
		defer close(done)
		for body := range frames {
			seq := seqOf(body)
			if seq == 0 {
				continue
			}
			latencies = append(latencies, time.Duration(time.Now().UnixNano()-published[seq].Load()))
			received.Add(1)
			if seq == b.N {
				return
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		published[i].Store(time.Now().UnixNano())
		publishBench(s, i)
		if i%4096 == 0 {
			// Stay inside the hub's ring: a reader lapped by a burst
			// measures loss, not throughput.
			for s.hub.Last()-received.Load() > 4096 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	reportLatencies(b, latencies)
}

// BenchmarkNotificationsWith1000SSESubscribers is the editor's share
// while the SSE mirror is busy: events at 200 a second (-benchtime=Nx
// publishes N) go to the editor over real OS pipes and, through the mirror
// the server starts as the sidecar does, to 1,000 SSE subscribers in
// another process. It reports the latency from publish to the editor
// having read the mimir/event frame (stdio-p50-ms, stdio-p99-ms), and the
// subscribers' own (sse-p99-ms) and the share they received.
func BenchmarkNotificationsWith1000SSESubscribers(b *testing.B) {
	const subs, pace = 1000, 5 * time.Millisecond
	s, frames, conn := benchServerWith(b, Options{StartMirror: MirrorFunc(mirror.Options{}.Start)})
	defer conn.close()
	var init struct {
		Result struct {
			Mimir struct {
				SSE *struct{ URL, Token string } `json:"sse"`
			} `json:"mimir"`
		} `json:"result"`
	}
	if err := json.Unmarshal(conn.initialized, &init); err != nil || init.Result.Mimir.SSE == nil {
		b.Fatalf("initialize's answer names no SSE mirror (%v): %s", err, conn.initialized)
	}
	sse := init.Result.Mimir.SSE
	clients, err := ssebench.Subscribe(b.Context(), ssebench.Target{
		URL:    sse.URL + "/events",
		Header: http.Header{"Authorization": {"Bearer " + sse.Token}},
	}, subs)
	if err != nil {
		b.Fatal(err)
	}
	defer clients.Close()

	var latencies []time.Duration // the reader's until done
	done := make(chan struct{})
	go func() {
		defer close(done)
		for body := range frames {
			if !bytes.Contains(body, []byte(`"method":"mimir/event"`)) {
				continue
			}
			if ssebench.IsEnd(body) {
				return
			}
			if published, ok := ssebench.PublishedAt(body); ok {
				latencies = append(latencies, time.Since(published))
			}
		}
	}()
	run := clients.Start(func(seq uint64, envelope []byte) {
		s.hub.Append(notify.Event{Seq: seq, ExecutionID: "ex_bench", Name: ssebench.EventName, JSON: envelope})
	}, pace)
	for b.Loop() {
		run.Next()
	}
	res, err := run.Finish(time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	<-done
	if len(latencies) != res.Events {
		b.Fatalf("the editor read %d of the %d events", len(latencies), res.Events)
	}
	slices.Sort(latencies)
	b.ReportMetric(ms(latencies[len(latencies)/2]), "stdio-p50-ms")
	b.ReportMetric(ms(latencies[len(latencies)*99/100]), "stdio-p99-ms")
	b.ReportMetric(ms(res.P99), "sse-p99-ms")
	b.ReportMetric(res.ReceivedFraction(), "sse-received-fraction")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportLatencies reports the median and the 99th percentile.
func reportLatencies(b *testing.B, latencies []time.Duration) {
	if len(latencies) == 0 {
		b.Fatal("no latency measured")
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkNotificationLatency publishes one event at a time and waits for
// the client to have read it: the latency from the engine's event to the
// editor reading the notification, without queueing.
func BenchmarkNotificationLatency(b *testing.B) {
	s, frames, stop := benchServer(b)
	defer stop()
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		t0 := time.Now()
		publishBench(s, i)
		for body := range frames {
			if seqOf(body) == i {
				break
			}
		}
		latencies = append(latencies, time.Since(t0))
	}
	b.StopTimer()
	reportLatencies(b, latencies)
}

// BenchmarkEngineToClient runs workflows of in-process agents through the
// whole sidecar (the engine, the SQLite journal, the hub, the forwarder and
// a real pipe) and reports, for each event, the time from its emission in
// the engine to the client having read it. "burst" runs 500 tasks at once:
// throughput, and latency that is mostly queueing; "paced" runs one task
// every 2 ms: the latency of a single event's path.
func BenchmarkEngineToClient(b *testing.B) {
	b.Run("burst", func(b *testing.B) { benchEngineToClient(b, 500, 500, 0) })
	b.Run("paced", func(b *testing.B) { benchEngineToClient(b, 100, 1, 2*time.Millisecond) })
}

func benchEngineToClient(b *testing.B, tasks, parallelism int, pause time.Duration) {
	agent := pausingAgent(pause)
	kind := engine.AgentKind{
		Worker: func(*engine.Task, *engine.AgentSpec) (engine.Worker, error) { return agent, nil },
		QC:     func(*engine.Task, *engine.AgentSpec) (engine.QC, error) { return agent, nil },
	}
	var wf strings.Builder
	fmt.Fprintf(&wf, "name: bench\nparallelism: %d\ntasks:\n", parallelism)
	for i := range tasks {
		fmt.Fprintf(&wf, "  - {id: t%d, worker: {command: x}, qc: {command: x}}\n", i)
	}
	inline, _ := json.Marshal(map[string]any{"inline": wf.String()})
	req := fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"mimir/execute","params":%s}`, inline)

	var latencies []time.Duration
	var elapsed time.Duration
	for range b.N {
		_, frames, conn := benchServerWith(b, Options{Agents: func(*workspace.Workspace) (engine.Agents, error) {
			return engine.Agents{"exec": kind}, nil
		}})
		start := time.Now()
		fmt.Fprintf(conn.in, "Content-Length: %d\r\n\r\n%s", len(req), req)
		for body := range frames {
			var m struct {
				Method string `json:"method"`
				Params struct {
					Event string    `json:"event"`
					Time  time.Time `json:"time"`
				} `json:"params"`
			}
			if json.Unmarshal(body, &m) != nil || m.Method != "mimir/event" {
				continue
			}
			latencies = append(latencies, time.Since(m.Params.Time))
			if m.Params.Event == engine.EventExecutionComplete {
				break
			}
		}
		elapsed += time.Since(start)
		conn.close()
	}
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "events/s")
	reportLatencies(b, latencies)
}

// pausingAgent works and checks instantly after a pause.
type pausingAgent time.Duration

func (p pausingAgent) Work(context.Context, *engine.Job) (engine.WorkResult, error) {
	if p > 0 {
		time.Sleep(time.Duration(p))
	}
	return engine.WorkResult{}, nil
}

func (pausingAgent) Check(context.Context, *engine.Job) (engine.Verdict, error) {
	return engine.Verdict{Passed: true, Score: 100}, nil
}

func publishBench(s *server, i int) {
	ev := engine.Event{Seq: uint64(i), ExecutionID: "ex_bench", Event: engine.EventWorkerStart, Time: time.Now(),
		Data: engine.EventData{TaskID: "task-123", TaskTitle: "Translate README", Phase: "worker", Attempt: 1, MaxAttempts: 3, Message: "🤖 Worker executing: Translate README"}}
	s.hub.Publish(ev.Seq, ev.ExecutionID, ev.Event, ev)
}

var seqKey = []byte(`"seq":`)

func seqOf(body []byte) int {
	i := bytes.Index(body, seqKey)
	if i < 0 {
		return 0
	}
	j := i + len(seqKey)
	k := j
	for k < len(body) && body[k] >= '0' && body[k] <= '9' {
		k++
	}
	seq, _ := strconv.Atoi(string(body[j:k]))
	return seq
}

// benchServer is an initialized server on pipes and the frames it sends.
func benchServer(b *testing.B) (*server, <-chan []byte, func()) {
	s, frames, c := benchServerWith(b, Options{})
	return s, frames, c.close
}

type benchConn struct {
	in io.WriteCloser
	// initialized is the server's answer to initialize.
	initialized []byte
	close       func()
}

func benchServerWith(b *testing.B, opts Options) (*server, <-chan []byte, benchConn) {
	inR, inW, outR, outW := editorPipes(b)
	opts.DefaultWorkspace = b.TempDir()
	s := newServer(opts)
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.serve(context.Background(), inR, outW)
		outW.Close()
	}()

	frames := make(chan []byte, 1024)
	go func() {
		defer close(frames)
		br := bufio.NewReaderSize(outR, 1<<16)
		tp := textproto.NewReader(br)
		for {
			hdr, err := tp.ReadMIMEHeader()
			if err != nil {
				return
			}
			n, _ := strconv.Atoi(hdr.Get("Content-Length"))
			body := make([]byte, n)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			frames <- body
		}
	}()
	init := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{},"initializationOptions":{"toasts":"none"}}}`)
	io.WriteString(inW, "Content-Length: "+strconv.Itoa(len(init))+"\r\n\r\n")
	inW.Write(init)
	initialized := <-frames
	return s, frames, benchConn{in: inW, initialized: initialized, close: func() {
		inW.Close()
		for range frames {
		}
		<-served
	}}
}
