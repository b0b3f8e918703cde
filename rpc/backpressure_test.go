package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pipeClient is an editor on real OS pipes that reads only when told to,
// so tests can leave the server's answers unread.
type pipeClient struct {
	t      testing.TB
	s      *server
	in     *os.File // the server's stdin, our end
	out    *bufio.Reader
	served chan int
}

func startPipeClient(t testing.TB, opts Options) *pipeClient {
	t.Helper()
	return startPipeClientCtx(context.Background(), t, opts)
}

// startPipeClientCtx is startPipeClient for a server that ends when ctx
// does, as the sidecar does on SIGTERM.
func startPipeClientCtx(ctx context.Context, t testing.TB, opts Options) *pipeClient {
	t.Helper()
	inR, inW, outR, outW := editorPipes(t)
	opts.DefaultWorkspace = t.TempDir()
	c := &pipeClient{t: t, s: newServer(opts), in: inW, out: bufio.NewReaderSize(outR, 64<<10), served: make(chan int, 1)}
	go func() {
		c.served <- c.s.serve(ctx, inR, outW)
		outW.Close()
	}()
	t.Cleanup(func() {
		inW.Close()
		outR.Close() // a server blocked on a write to us gets EPIPE
		<-c.served
	})
	c.write(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{},"initializationOptions":{"toasts":"none"}}}`)
	if m := c.read(); m["id"] != 0.0 || m["result"] == nil {
		t.Fatalf("initialize answered %v", m)
	}
	c.write(`{"jsonrpc":"2.0","method":"initialized","params":{}}`)
	return c
}

func (c *pipeClient) write(body string) {
	if _, err := fmt.Fprintf(c.in, "Content-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		c.t.Errorf("write to the server: %v", err)
	}
}

func (c *pipeClient) read() map[string]any {
	hdr, err := textproto.NewReader(c.out).ReadMIMEHeader()
	if err != nil {
		c.t.Fatalf("read a frame's header: %v", err)
	}
	n, _ := strconv.Atoi(hdr.Get("Content-Length"))
	body := make([]byte, n)
	if _, err := io.ReadFull(c.out, body); err != nil {
		c.t.Fatalf("read a frame: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		c.t.Fatalf("frame is not JSON: %s", body)
	}
	return m
}

// pipeline writes n mimir/executions requests, ids 1 to n, from a
// goroutine: under back-pressure the writes block, as an editor's would.
func (c *pipeClient) pipeline(n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for id := 1; id <= n; id++ {
			body := `{"jsonrpc":"2.0","id":` + strconv.Itoa(id) + `,"method":"mimir/executions"}`
			if _, err := fmt.Fprintf(c.in, "Content-Length: %d\r\n\r\n%s", len(body), body); err != nil {
				return // the server has ended; the test says whether it should have
			}
		}
	}()
	return done
}

// owedFull waits until every answer slot is taken: the server has stopped
// reading. It fails if the client's writes all went through first.
func (c *pipeClient) owedFull(written <-chan struct{}) {
	c.t.Helper()
	for len(c.s.stream.owed) < cap(c.s.stream.owed) {
		select {
		case <-written:
			c.t.Fatal("the server read every request while none of the answers was read: nothing held it back")
		case <-time.After(time.Millisecond):
		}
	}
}

// TestUnreadAnswersStopReading pipelines requests without reading an
// answer: the server stops reading once it owes MaxUnanswered answers, so
// the client's writes block; then everything is read, and every request is
// answered once, correctly.
func TestUnreadAnswersStopReading(t *testing.T) {
	const n = 20000
	c := startPipeClient(t, Options{})
	written := c.pipeline(n)
	c.owedFull(written)
	select {
	case <-written:
		t.Fatal("the client wrote every request while the server owed answers it could not send")
	default:
	}

	seen := make([]bool, n+1)
	for range n {
		m := c.read()
		id, ok := m["id"].(float64)
		if !ok || id < 1 || id > n || seen[int(id)] {
			t.Fatalf("unexpected frame %v", m)
		}
		seen[int(id)] = true
		if res, ok := m["result"].(map[string]any); !ok || res["executions"] == nil {
			t.Fatalf("request %v answered %v", id, m)
		}
	}
	<-written
	// Wire order still holds for the methods that keep it: shutdown's
	// answer comes after every answer above.
	c.write(`{"jsonrpc":"2.0","id":"bye","method":"shutdown"}`)
	if m := c.read(); m["id"] != "bye" {
		t.Fatalf("shutdown answered %v", m)
	}
	c.write(`{"jsonrpc":"2.0","method":"exit"}`)
	if code := <-c.served; code != 0 {
		t.Errorf("exit status %d after shutdown, want 0", code)
	}
	c.served <- 0 // for the cleanup
}

// TestTerminateWhileNotReading: the sidecar's SIGTERM (its context ending)
// ends it while it owes every answer it may and reads nothing more.
func TestTerminateWhileNotReading(t *testing.T) {
	ctx, terminate := context.WithCancel(context.Background())
	c := startPipeClientCtx(ctx, t, Options{})
	written := c.pipeline(20000)
	c.owedFull(written)
	terminate()
	select {
	case code := <-c.served:
		c.served <- code
	case <-time.After(10 * time.Second):
		t.Fatal("terminating did not end the server while it owed answers nobody read")
	}
}

// fillOutput sends requests whose answers overflow the server's output
// pipe, fewer of them than it may owe, and reads none of them.
func (c *pipeClient) fillOutput() {
	long := strings.Repeat("x", 32<<10)
	for id := 1; id <= 8; id++ {
		c.write(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"mimir/execution","params":{"executionId":%q}}`, id, long))
	}
}

// TestExitWithOutputUnread: exit ends the server while answers it owes
// are stuck in a full pipe nobody reads.
func TestExitWithOutputUnread(t *testing.T) {
	c := startPipeClient(t, Options{})
	c.fillOutput()
	c.write(`{"jsonrpc":"2.0","method":"exit"}`)
	select {
	case code := <-c.served:
		if code != 1 {
			t.Errorf("exit status %d without shutdown, want 1", code)
		}
		c.served <- code
	case <-time.After(10 * time.Second):
		t.Fatal("exit did not end the server while its output was unread")
	}
}

// TestInputClosedWithOutputUnread: the editor closing the server's input
// ends it, though answers are stuck in a full pipe nobody reads.
func TestInputClosedWithOutputUnread(t *testing.T) {
	c := startPipeClient(t, Options{})
	c.fillOutput()
	c.in.Close()
	select {
	case code := <-c.served:
		c.served <- code
	case <-time.After(10 * time.Second):
		t.Fatal("closing the input did not end the server while its output was unread")
	}
}

// BenchmarkUnreadAnswers pipelines b.N requests while reading no answer,
// measures the server's memory once it stops reading (or has read them
// all), then reads every answer. "unbounded" owes answers without limit,
// as the server did before the bound: its memory grows with b.N; the
// default bound keeps it flat.
func BenchmarkUnreadAnswers(b *testing.B) {
	for _, bc := range []struct {
		name  string
		bound int
	}{{"bounded", 0}, {"unbounded", 1 << 30}} {
		b.Run(bc.name, func(b *testing.B) {
			c := startPipeClient(b, Options{MaxUnanswered: bc.bound})
			b.ResetTimer()
			written := c.pipeline(b.N)
			for len(c.s.stream.owed) < min(cap(c.s.stream.owed), b.N) {
				select {
				case <-written:
				case <-time.After(time.Millisecond):
					continue
				}
				break
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			for range b.N {
				c.read()
			}
			<-written
			b.StopTimer()
			b.ReportMetric(float64(ms.HeapInuse+ms.StackInuse)/(1<<20), "MB-held")
			b.ReportMetric(float64(peakRSS())/(1<<20), "MB-peak-RSS")
		})
	}
}

// peakRSS is the process's peak resident set (VmHWM), 0 where unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
