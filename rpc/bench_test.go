package rpc

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/textproto"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// BenchmarkNotifications pushes engine events through the hub, the
// forwarding goroutine and a real pipe to a client that reads every frame,
// and reports throughput and the latency from publish to the client having
// read the frame.
func BenchmarkNotifications(b *testing.B) {
	s, frames, stop := benchServer(b)
	defer stop()
	published := make([]time.Time, b.N+1)
	latencies := make([]time.Duration, 0, b.N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for body := range frames {
			seq := seqOf(body)
			if seq == 0 {
				continue
			}
			latencies = append(latencies, time.Since(published[seq]))
			if seq == b.N {
				return
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		published[i] = time.Now()
		publishBench(s, i)
		if i%4096 == 0 {
			// Stay inside the hub's ring: a reader lapped by a burst
			// measures loss, not throughput.
			for s.hub.Last()-uint64(len(latencies)) > 4096 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
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
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Nanoseconds())/1e3, "p99-µs")
}

func publishBench(s *Server, i int) {
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
func benchServer(b *testing.B) (*Server, <-chan []byte, func()) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := newServer(Options{DefaultWorkspace: b.TempDir()})
	go s.serve(context.Background(), inR, outW)

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
	<-frames
	return s, frames, func() { inW.Close() }
}
