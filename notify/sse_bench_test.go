package notify

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The subscribers of BenchmarkSSE1000Subscribers run in a second process,
// this test binary started again with sseClientsEnv set: in the
// benchmark's own process their buffers and goroutines would be counted in
// the heap as the sidecar's, and their reading would share its scheduler.
const sseClientsEnv = "MIMIR_SSE_BENCH_CLIENTS" // addr token subscribers events

// BenchmarkSSE1000Subscribers: 1,000 real HTTP connections on loopback,
// from another process, follow one stream. It reports the deliveries per
// second the subscribers actually received, the latency from publish to a
// subscriber reading the event (p50, p99), and the memory each idle
// subscriber costs the server.
func BenchmarkSSE1000Subscribers(b *testing.B) {
	// Two paces: 200 events/s (200,000 deliveries/s, within what two cores
	// do) and 1,000 events/s (1,000,000 deliveries/s, beyond it: latency is
	// then queueing); and no pace at all, the most the server delivers.
	for _, pace := range []time.Duration{5 * time.Millisecond, time.Millisecond} {
		b.Run(fmt.Sprintf("%devents/s", time.Second/pace), func(b *testing.B) { benchSubscribers(b, pace) })
	}
	b.Run("unpaced", func(b *testing.B) { benchSubscribers(b, 0) })
}

func benchSubscribers(b *testing.B, pace time.Duration) {
	const subs = 1000
	hub := NewHub(1 << 16)
	s, err := StartSSE(hub, SSEOptions{MaxLag: 1 << 15})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.URL(), "http://")

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	clients := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^TestSSEBenchClients$", "-test.count=1")
	clients.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %d", sseClientsEnv, addr, s.Token(), subs, b.N))
	clients.Stderr = os.Stderr
	out, err := clients.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := clients.Start(); err != nil {
		b.Fatal(err)
	}
	defer clients.Wait()
	lines := bufio.NewScanner(out)
	if _, err := clientLine(lines, "ready"); err != nil {
		b.Fatal(err)
	}
	// Every subscriber has read its retry: line, so every handler is
	// running; what the heap gained since is theirs.
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSub := float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / subs

	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		// The publish time travels in the event: the clients' clock is
		// this one, the machine's.
		hub.Append(Event{Seq: uint64(i), Name: "worker-start",
			JSON: fmt.Appendf(nil, `{"seq":%d,"t":%d,"event":"worker-start","data":{"message":"🤖 Worker executing: Translate README"}}`, i, time.Now().UnixNano())})
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	result, err := clientLine(lines, "result")
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	var delivered, last, p50, p99 int64
	if _, err := fmt.Sscan(result, &delivered, &last, &p50, &p99); err != nil {
		b.Fatalf("clients' result %q: %v", result, err)
	}
	// Achieved, not asked for: what the subscribers received, over the
	// time from the first publish to the last event read.
	b.ReportMetric(float64(delivered)/time.Unix(0, last).Sub(start).Seconds(), "deliveries/s")
	b.ReportMetric(float64(delivered)/float64(subs*b.N), "received-fraction")
	b.ReportMetric(float64(p50)/1e6, "p50-ms")
	b.ReportMetric(float64(p99)/1e6, "p99-ms")
	b.ReportMetric(perSub/1024, "KiB/idle-sub")
}

// clientLine returns the rest of the clients' next line that starts with
// word, skipping what the test binary prints itself.
func clientLine(lines *bufio.Scanner, word string) (string, error) {
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "sse-clients "+word); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	if err := lines.Err(); err != nil {
		return "", fmt.Errorf("read the clients' %s: %w", word, err)
	}
	return "", fmt.Errorf("the clients' process ended before its %s line", word)
}

// TestSSEBenchClients is the client process of BenchmarkSSE1000Subscribers,
// and nothing when run as a test. It subscribes, says "ready", reads until
// every subscriber has the last event or is cut off, and prints the
// deliveries, the time of the last one, and the latencies' p50 and p99.
func TestSSEBenchClients(t *testing.T) {
	spec := os.Getenv(sseClientsEnv)
	if spec == "" {
		t.Skip("the client process of BenchmarkSSE1000Subscribers")
	}
	var addr, token string
	var subs, events int
	if _, err := fmt.Sscan(spec, &addr, &token, &subs, &events); err != nil {
		t.Fatalf("%s=%q: %v", sseClientsEnv, spec, err)
	}
	readers := make([]*bufio.Reader, subs)
	for i := range readers {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, token)
		readers[i] = bufio.NewReader(c)
		if err := readThroughRetry(readers[i]); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("sse-clients ready")

	var (
		mu        sync.Mutex
		latencies []time.Duration
		last      time.Time
		wg        sync.WaitGroup
	)
	for _, r := range readers {
		wg.Go(func() {
			local := make([]time.Duration, 0, events)
			var at time.Time
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					break // cut off, lagging: what it got counts
				}
				data, ok := bytes.CutPrefix(line, []byte("data: "))
				if !ok {
					continue
				}
				at = time.Now()
				local = append(local, at.Sub(time.Unix(0, field(data, `"t":`))))
				if field(data, `"seq":`) == int64(events) {
					break
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			if at.After(last) {
				last = at
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(latencies) == 0 {
		t.Fatal("no subscriber received anything")
	}
	slices.Sort(latencies)
	fmt.Fprintf(os.Stdout, "sse-clients result %d %d %d %d\n", len(latencies), last.UnixNano(),
		latencies[len(latencies)/2], latencies[len(latencies)*99/100])
}

// field is the integer after key in an event's JSON, or 0.
func field(data []byte, key string) int64 {
	_, rest, ok := bytes.Cut(data, []byte(key))
	if !ok {
		return 0
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, _ := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n
}
