package ssebench

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	ClientsMain()
	os.Exit(m.Run())
}

// broadcaster is the smallest SSE server: every event to every stream,
// each frame written in two flushes that split its data: line, as a
// server's buffer may when it writes a batch of frames.
type broadcaster struct {
	mu   sync.Mutex
	subs []chan []byte
}

func (b *broadcaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer secret" {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	ch := make(chan []byte, 1024)
	b.mu.Lock()
	b.subs = append(b.subs, ch)
	b.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	fmt.Fprint(w, "retry: 1000\n\n")
	rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case data := <-ch:
			frame := fmt.Appendf(nil, "event: %s\ndata: %s\n\n", EventName, data)
			half := bytes.Index(frame, []byte("data: ")) + 20
			w.Write(frame[:half])
			rc.Flush()
			w.Write(frame[half:])
			rc.Flush()
		}
	}
}

func (b *broadcaster) publish(_ uint64, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs {
		ch <- data
	}
}

func serve(t *testing.T, h http.Handler) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return Target{URL: "http://" + ln.Addr().String() + "/events", Header: http.Header{"Authorization": {"Bearer secret"}}}
}

func TestRunCountsWhatSubscribersRead(t *testing.T) {
	b := &broadcaster{}
	target := serve(t, b)
	c, err := Subscribe(t.Context(), target, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := c.Start(b.publish, time.Millisecond)
	for range 20 {
		run.Next()
	}
	res, err := run.Finish(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 60 || res.Cut != 0 || res.ReceivedFraction() != 1 {
		t.Errorf("delivered %d, cut %d, fraction %v; want 60, 0, 1", res.Delivered, res.Cut, res.ReceivedFraction())
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("latencies p50 %v p99 %v max %v are not ordered and positive", res.P50, res.P99, res.Max)
	}
	// 20 events 1 ms apart: the run lasts at least the 19 ms between the
	// first and the last, and the rate is what was read in that time.
	if res.Elapsed < 19*time.Millisecond {
		t.Errorf("elapsed %v, shorter than the pace allows", res.Elapsed)
	}
	if got, want := res.DeliveriesPerSecond(), 60/res.Elapsed.Seconds(); got != want {
		t.Errorf("deliveries/s %v, want %v", got, want)
	}
}

func TestSubscribeReportsRefusal(t *testing.T) {
	target := serve(t, &broadcaster{})
	target.Header = nil
	if c, err := Subscribe(t.Context(), target, 1); err == nil {
		c.Close()
		t.Fatal("subscribed without the token")
	}
}

// A subscriber that never sees the end is cut off when the driver stops
// waiting, and what it read still counts.
func TestFinishCutsOffAStreamWithoutEnd(t *testing.T) {
	b := &broadcaster{}
	target := serve(t, b)
	c, err := Subscribe(t.Context(), target, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	withoutEnd := func(seq uint64, data []byte) {
		if _, ok := PublishedAt(data); ok {
			b.publish(seq, data)
		}
	}
	run := c.Start(withoutEnd, 0)
	for range 5 {
		run.Next()
	}
	res, err := run.Finish(100 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cut != 2 || res.Delivered != 10 {
		t.Errorf("cut %d, delivered %d; want 2, 10", res.Cut, res.Delivered)
	}
}

func TestPublishedAt(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	got, ok := PublishedAt(Envelope(7, at))
	if !ok || !got.Equal(at) {
		t.Errorf("PublishedAt(Envelope) = %v, %v; want %v", got, ok, at)
	}
	if _, ok := PublishedAt(end(8)); ok {
		t.Error("the end of a run carries a publish time")
	}
}
