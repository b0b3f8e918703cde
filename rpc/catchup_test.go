package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// An editor that stops reading while an execution runs on misses nothing:
// once the hub's ring has moved past what it was sent, the forwarder
// reads the rest from the journal, and the editor gets every event once,
// in order.
func TestSlowEditorCatchesUpFromTheJournal(t *testing.T) {
	const tasks = 1600 // about 10,000 events: more than the hub keeps
	inR, inW, outR, outW := editorPipes(t)
	agent := pausingAgent(0)
	s := newServer(Options{DefaultWorkspace: t.TempDir(), Agents: func(*workspace.Workspace) (engine.Agents, error) {
		return engine.Agents{"exec": {
			Worker: func(*engine.Task, *engine.AgentSpec) (engine.Worker, error) { return agent, nil },
			QC:     func(*engine.Task, *engine.AgentSpec) (engine.QC, error) { return agent, nil },
		}}, nil
	}})
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.serve(context.Background(), inR, outW)
		outW.Close()
	}()
	defer func() { inW.Close(); io.Copy(io.Discard, outR); <-served }()
	send := func(body string) {
		fmt.Fprintf(inW, "Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	br := bufio.NewReaderSize(outR, 1<<16)
	tp := textproto.NewReader(br)
	next := func() []byte {
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("read a frame: %v", err)
		}
		n, _ := strconv.Atoi(hdr.Get("Content-Length"))
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatalf("read a frame: %v", err)
		}
		return body
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{},"initializationOptions":{"toasts":"none"}}}`)
	next()
	send(`{"jsonrpc":"2.0","method":"initialized","params":{}}`)

	var wf strings.Builder
	fmt.Fprintf(&wf, "name: many\nparallelism: 64\ntasks:\n")
	for i := range tasks {
		fmt.Fprintf(&wf, "  - {id: t%d, worker: {command: x}, qc: {command: x}}\n", i)
	}
	params, _ := json.Marshal(map[string]any{"inline": wf.String()})
	send(fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"mimir/execute","params":%s}`, params))

	// The editor reads nothing until the execution is over and the hub no
	// longer holds its first events.
	cur := notify.NewCursor(t.Context(), s.hub, nil, 0)
	var last uint64
	for done := false; !done; {
		evs, _, err := cur.Next(t.Context(), nil, 256)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			done = done || ev.Name == engine.EventExecutionComplete
			last = ev.Seq
		}
	}
	if oldest, _ := s.hub.Read(nil, 0, 1); len(oldest) == 0 || oldest[0].Seq <= 1 {
		t.Fatalf("the hub still holds the first event: the editor was never lapped (%d events)", last)
	}

	var want uint64 = 1
	for want <= last {
		var m struct {
			Method string
			Params struct{ Seq uint64 }
		}
		if err := json.Unmarshal(next(), &m); err != nil || m.Method != "mimir/event" {
			continue
		}
		if m.Params.Seq != want {
			t.Fatalf("the editor got event %d, want %d", m.Params.Seq, want)
		}
		want++
	}
}
