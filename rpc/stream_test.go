package rpc

import (
	"fmt"
	"strings"
	"testing"
)

// Every frame that cannot be served is answered, and the frames after it
// are read as if it had never been sent.
func TestStreamRecoversFromBadFrames(t *testing.T) {
	frame := func(body string) string { return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body) }
	cases := []struct {
		name string
		send string
		code int
		id   any // the id the error answers, nil for null
		says string
	}{
		{"JSON that is not a message", frame(`{"hello":"world"}`), -32600, nil, "not a JSON-RPC 2.0 message"},
		{"a request without a method", frame(`{"jsonrpc":"2.0","id":7}`), -32600, float64(7), "not a JSON-RPC 2.0 message"},
		{"a string id kept", frame(`{"jsonrpc":"2.0","id":"a<b"}`), -32600, "a<b", "not a JSON-RPC 2.0 message"},
		{"a malformed header line with a body", "Content-Length: 2\r\nnonsense\r\n\r\n{}", -32700, nil, "malformed header line"},
		{"no Content-Length, then a body", "Content-Type: x\r\n\r\n" + `{"jsonrpc":"2.0","id":1,"method":"x"}`, -32700, nil, "no Content-Length"},
		{"an unreadable length, then a body", "Content-Length: twelve\r\n\r\n" + `{"a":1}` + "\r\n", -32700, nil, "not a length"},
		{"a header line too long", "X-Pad: " + strings.Repeat("x", 5000) + "\r\nContent-Length: 2\r\n\r\n{}", -32700, nil, "longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startServer(t, Options{})
			c.initialize(t.TempDir(), map[string]any{"toasts": "none"})
			c.raw(tc.send)
			m := c.next()
			if errorCode(m) != tc.code || !strings.Contains(errorMessage(m), tc.says) || m["id"] != tc.id {
				t.Errorf("answer = %v, want code %d, id %v, saying %q", m, tc.code, tc.id, tc.says)
			}
			// The very next frame is served.
			if r := c.result("mimir/executions", nil); r["executions"] == nil {
				t.Errorf("executions after the bad frame = %v", r)
			}
		})
	}
}

// An execute whose id JSON escapes (<, >, &) or that arrives in a batch
// still starts once its answer is out.
func TestExecuteWithUnusualIDs(t *testing.T) {
	ws := workspaceWith(t, "ok.yaml", "name: ok\ntasks:\n  - {id: a, worker: {command: 'true'}}\n")
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})

	c.send(map[string]any{"jsonrpc": "2.0", "id": "<&>\u2028", "method": "mimir/execute", "params": map[string]any{"workflow": "ok.yaml"}})
	frames := c.until(isEvent("execution-complete"))
	if frames[0]["id"] != "<&>\u2028" || frames[0]["result"] == nil {
		t.Errorf("first frame = %v, want execute's answer", frames[0])
	}

	batch := `[{"jsonrpc":"2.0","id":50,"method":"mimir/execute","params":{"workflow":"ok.yaml"}}]`
	c.raw(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(batch), batch))
	c.until(isEvent("execution-complete"))
}
