package notify

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkSSE1000Subscribers: 1,000 real HTTP connections on loopback
// follow one stream. It reports events delivered per second in total, the
// p99 latency from publish to a subscriber reading the event, and the
// memory each idle subscriber costs the sidecar.
func BenchmarkSSE1000Subscribers(b *testing.B) {
	// Two paces: 200 events/s (200,000 deliveries/s, within what two cores
	// do) and 1,000 events/s (1,000,000 deliveries/s, beyond it: latency is
	// then queueing).
	for _, pace := range []time.Duration{5 * time.Millisecond, time.Millisecond} {
		b.Run(fmt.Sprintf("%devents/s", time.Second/pace), func(b *testing.B) { benchSubscribers(b, pace) })
	}
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

	conns := make([]*bufio.Reader, subs)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, s.Token())
		r := bufio.NewReader(c)
		for { // headers and the retry: line
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(line, "retry:") {
				break
			}
		}
		conns[i] = r
	}
	time.Sleep(200 * time.Millisecond) // every handler is waiting
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSub := float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse) / subs

	published := make([]time.Time, b.N+1)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for _, r := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for got := 0; got < b.N; {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if id, ok := strings.CutPrefix(line, "id: "); ok {
					n, _ := strconv.Atoi(strings.TrimSpace(id))
					local = append(local, time.Since(published[n]))
					got++
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		published[i] = time.Now()
		hub.Append(Event{Seq: uint64(i), Name: "worker-start", JSON: fmt.Appendf(nil, `{"seq":%d,"event":"worker-start","data":{"message":"🤖 Worker executing: Translate README"}}`, i)})
		time.Sleep(pace)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(perSub/1024, "KiB/idle-sub")
}
