package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// client speaks raw LSP frames to a server over real pipes, so tests can
// send anything, including garbage, and see every frame that comes back.
type client struct {
	t   *testing.T
	w   io.WriteCloser
	msg chan map[string]any // every frame received, in order

	mu     sync.Mutex
	nextID int

	// answerProgress answers window/workDoneProgress/create.
	answerProgress bool

	served chan int // Serve's exit code
}

// startServer runs a server on pipes and returns a client connected to it.
func startServer(t *testing.T, opts Options, register ...func(*server)) *client {
	t.Helper()
	if opts.DefaultWorkspace == "" {
		opts.DefaultWorkspace = t.TempDir()
	}
	inR, inW, outR, outW := editorPipes(t)
	s := newServer(opts)
	for _, r := range register {
		r(s)
	}
	c := &client{t: t, w: inW, msg: make(chan map[string]any, 4096), served: make(chan int, 1), answerProgress: true}
	go func() {
		c.served <- s.serve(context.Background(), inR, outW)
		outW.Close()
	}()
	go c.read(outR)
	t.Cleanup(func() {
		inW.Close()
		select {
		case <-c.served:
		case <-time.After(10 * time.Second):
			t.Error("the server did not stop within 10s of its input closing")
		}
	})
	return c
}

func (c *client) read(r io.Reader) {
	defer close(c.msg)
	br := bufio.NewReader(r)
	tp := textproto.NewReader(br)
	for {
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			return
		}
		n, err := strconv.Atoi(hdr.Get("Content-Length"))
		if err != nil {
			c.t.Errorf("frame without a Content-Length: %v", hdr)
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		// A batch's answers come as one array; they are handed on one by one.
		var batch []map[string]any
		if err := json.Unmarshal(body, &batch); err != nil {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				c.t.Errorf("server sent a frame that is not JSON: %s", body)
				return
			}
			batch = []map[string]any{m}
		}
		for _, m := range batch {
			if m["method"] == "window/workDoneProgress/create" && c.answerProgress {
				// The server asks from a goroutine of its own, so the
				// question may come after the test has closed its end.
				b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m["id"], "result": nil})
				fmt.Fprintf(c.w, "Content-Length: %d\r\n\r\n%s", len(b), b)
			}
			c.msg <- m
		}
	}
}

func (c *client) raw(b string) {
	c.t.Helper()
	if _, err := io.WriteString(c.w, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatalf("encode: %v", err)
	}
	c.raw(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(b), b))
}

// request sends a call and returns its id.
func (c *client) request(method string, params any) float64 {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	c.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return float64(id)
}

func (c *client) notify(method string, params any) {
	c.send(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

// call sends a request and waits for its response; the frames received
// before it are returned too, in order.
func (c *client) call(method string, params any) (resp map[string]any, before []map[string]any) {
	c.t.Helper()
	id := c.request(method, params)
	for {
		m := c.next()
		if m["id"] == id && m["method"] == nil {
			return m, before
		}
		before = append(before, m)
	}
}

// result calls and fails the test on an error response.
func (c *client) result(method string, params any) map[string]any {
	c.t.Helper()
	resp, _ := c.call(method, params)
	if resp["error"] != nil {
		c.t.Fatalf("%s: error %v", method, resp["error"])
	}
	r, _ := resp["result"].(map[string]any)
	return r
}

func (c *client) next() map[string]any {
	c.t.Helper()
	select {
	case m, ok := <-c.msg:
		if !ok {
			c.t.Fatal("the server closed the connection")
		}
		return m
	case <-time.After(20 * time.Second):
		c.t.Fatal("no frame from the server within 20s")
		return nil
	}
}

// until collects frames until one satisfies stop (included).
func (c *client) until(stop func(map[string]any) bool) []map[string]any {
	c.t.Helper()
	var got []map[string]any
	for {
		m := c.next()
		got = append(got, m)
		if stop(m) {
			return got
		}
	}
}

func (c *client) initialize(ws string, initOptions map[string]any) map[string]any {
	c.t.Helper()
	params := map[string]any{
		"processId":    os.Getpid(),
		"rootUri":      "file://" + ws,
		"capabilities": map[string]any{"window": map[string]any{"workDoneProgress": true}},
	}
	if initOptions != nil {
		params["initializationOptions"] = initOptions
	}
	r := c.result("initialize", params)
	c.notify("initialized", map[string]any{})
	return r
}

// errorCode is the code of an error response (0 when it is not one).
func errorCode(resp map[string]any) int {
	e, ok := resp["error"].(map[string]any)
	if !ok {
		return 0
	}
	return int(e["code"].(float64))
}

func errorMessage(resp map[string]any) string {
	e, _ := resp["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// isEvent matches a mimir/event notification by event name.
func isEvent(name string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		if m["method"] != "mimir/event" {
			return false
		}
		p, _ := m["params"].(map[string]any)
		return p["event"] == name
	}
}

// workspaceWith makes a workspace holding one workflow file.
func workspaceWith(t *testing.T, name, workflow string) string {
	t.Helper()
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, name), []byte(workflow), 0o644); err != nil {
		t.Fatal(err)
	}
	return ws
}

// editorPipes are the sidecar's stdin and stdout as an editor gives them:
// OS pipes, which buffer, where io.Pipe hands each write over only to a
// waiting reader. The test writes inW and reads outR.
func editorPipes(tb testing.TB) (inR, inW, outR, outW *os.File) {
	tb.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	outR, outW, err = os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	return inR, inW, outR, outW
}
