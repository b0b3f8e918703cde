package notify

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/ssebench"
)

// TestMain lets this test binary serve as the client process of the SSE
// benchmarks (see ssebench.ClientsMain).
func TestMain(m *testing.M) {
	ssebench.ClientsMain()
	os.Exit(m.Run())
}

// BenchmarkSSE1000Subscribers: 1,000 real HTTP connections on loopback,
// from another process, follow one stream; -benchtime=Nx publishes N
// events. It reports the deliveries per second the subscribers actually
// received, the latency from publish to a subscriber reading the event
// (p50, p99), the server's CPU per million deliveries, the memory each idle
// subscriber costs the server, and the share of events × subscribers
// received (below 1 when the server cut lagging subscribers off).
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
	// MaxLag within the ring: an unpaced run measures how fast the server
	// delivers, not how it drops.
	s, err := StartSSE(hub, SSEOptions{MaxLag: 1 << 15})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	clients, err := ssebench.Subscribe(b.Context(), ssebench.Target{
		URL:    s.URL() + "/events",
		Header: http.Header{"Authorization": {"Bearer " + s.Token()}},
	}, subs)
	if err != nil {
		b.Fatal(err)
	}
	defer clients.Close()
	run := clients.Start(func(seq uint64, envelope []byte) {
		hub.Append(Event{Seq: seq, ExecutionID: "ex_bench", Name: ssebench.EventName, JSON: envelope})
	}, pace)
	for b.Loop() {
		run.Next()
	}
	res, err := run.Finish(time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	res.Report(b)
}
