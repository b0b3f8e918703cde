package notify

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type fakeSource struct {
	dir   string
	files []File
}

func (f fakeSource) Executions() any { return []map[string]string{{"executionId": "ex_a"}} }

func (f fakeSource) Deliverables(id string) (string, []File, error) {
	if id != "ex_a" {
		return "", nil, ErrNotFound
	}
	return f.dir, f.files, nil
}

func startSSE(t *testing.T, hub *Hub, opts SSEOptions) *SSE {
	t.Helper()
	s, err := StartSSE(hub, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, s *SSE, path string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

type sseEvent struct{ id, name, data string }

// reader parses an SSE stream; comments arrive with name ":".
type reader struct {
	sc *bufio.Scanner
}

func newReader(r io.Reader) *reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	return &reader{sc}
}

func (r *reader) next() (sseEvent, error) {
	var ev sseEvent
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if ev.data != "" || ev.name == ":" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			return sseEvent{name: ":", data: line}, nil
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data += line[6:]
		}
	}
	if r.sc.Err() != nil {
		return ev, r.sc.Err()
	}
	return ev, io.EOF
}

// events reads n events, skipping heartbeats.
func (r *reader) events(t *testing.T, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	for len(out) < n {
		ev, err := r.next()
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		if ev.name != ":" {
			out = append(out, ev)
		}
	}
	return out
}

func publish(h *Hub, from, to uint64, exec, name string) {
	for s := from; s <= to; s++ {
		h.Append(Event{Seq: s, ExecutionID: exec, Name: name, JSON: fmt.Appendf(nil, `{"seq":%d,"executionId":%q,"event":%q}`, s, exec, name)})
	}
}

func ids(evs []sseEvent) string {
	var b []string
	for _, e := range evs {
		b = append(b, e.id)
	}
	return strings.Join(b, " ")
}

func TestRefusals(t *testing.T) {
	hub := NewHub(16)
	s := startSSE(t, hub, SSEOptions{AllowOrigins: []string{"http://127.0.0.1:9999"}})
	port := s.URL()[strings.LastIndex(s.URL(), ":")+1:]
	cases := []struct {
		name   string
		path   string
		header map[string]string
		status int
		says   string
	}{
		{"no token", "/healthz", map[string]string{"Authorization": ""}, 401, "missing or wrong token"},
		{"wrong token", "/healthz", map[string]string{"Authorization": "Bearer nope"}, 401, "sidecar.json"},
		{"foreign host", "/healthz", map[string]string{"Host": "evil.example:" + port}, 403, "loopback"},
		{"foreign port", "/healthz", map[string]string{"Host": "127.0.0.1:1"}, 403, "loopback"},
		{"foreign origin", "/healthz", map[string]string{"Origin": "http://evil.example"}, 403, "--sse-allow-origin"},
		{"token in the query", "/healthz?token=" + s.Token(), map[string]string{"Authorization": ""}, 200, `"ok":true`},
		{"lower-case scheme", "/healthz", map[string]string{"Authorization": "bearer " + s.Token()}, 200, `"ok":true`},
		{"upper-case scheme", "/healthz", map[string]string{"Authorization": "BEARER " + s.Token()}, 200, `"ok":true`},
		{"another scheme", "/healthz", map[string]string{"Authorization": "Basic " + s.Token()}, 401, "missing or wrong token"},
		{"localhost host", "/healthz", map[string]string{"Host": "localhost:" + port}, 200, `"ok":true`},
		{"allowed origin", "/healthz", map[string]string{"Origin": "http://127.0.0.1:9999"}, 200, `"ok":true`},
		{"no listing", "/", nil, 404, ""},
	}
	for _, tc := range cases {
		resp := get(t, s, tc.path, tc.header)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, resp.StatusCode, body, tc.status, tc.says)
		}
		if tc.name == "allowed origin" && resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:9999" {
			t.Errorf("allowed origin without CORS header: %v", resp.Header)
		}
	}
	if _, err := StartSSE(hub, SSEOptions{Addr: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("listening on all interfaces: %v", err)
	}
}

// A listener that reconnects with Last-Event-ID gets exactly what it
// missed, then the live stream: no gap, no duplicate.
func TestResumeAcrossReconnect(t *testing.T) {
	hub := NewHub(64)
	s := startSSE(t, hub, SSEOptions{})
	publish(hub, 1, 5, "ex_a", "task-start")

	resp := get(t, s, "/events", map[string]string{"Last-Event-ID": "0"})
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("headers %v", resp.Header)
	}
	r := newReader(resp.Body)
	if got := ids(r.events(t, 5)); got != "1 2 3 4 5" {
		t.Fatalf("replay from 0: %s", got)
	}
	resp.Body.Close()

	publish(hub, 6, 8, "ex_a", "task-start")
	r = newReader(get(t, s, "/events?lastEventId=5", nil).Body)
	if got := ids(r.events(t, 3)); got != "6 7 8" {
		t.Fatalf("resume after 5: %s", got)
	}
	publish(hub, 9, 9, "ex_a", "qc-complete")
	ev := r.events(t, 1)[0]
	if ev.id != "9" || ev.name != "qc-complete" || !strings.Contains(ev.data, `"seq":9`) {
		t.Errorf("live event %+v", ev)
	}
}

func TestTooOldIDGetsReset(t *testing.T) {
	hub := NewHub(4)
	s := startSSE(t, hub, SSEOptions{})
	publish(hub, 1, 10, "ex_a", "task-start") // keeps 7..10
	r := newReader(get(t, s, "/events", map[string]string{"Last-Event-ID": "2"}).Body)
	evs := r.events(t, 5)
	if evs[0].name != "reset" || !strings.Contains(evs[0].data, `"resumesAt":7`) || !strings.Contains(evs[0].data, "events after 2 are not available") {
		t.Errorf("first event %+v, want a reset", evs[0])
	}
	if got := ids(evs[1:]); got != "7 8 9 10" {
		t.Errorf("after the reset: %s", got)
	}
}

func TestFilters(t *testing.T) {
	hub := NewHub(64)
	s := startSSE(t, hub, SSEOptions{})
	publish(hub, 1, 2, "ex_a", "task-start")
	publish(hub, 3, 4, "ex_b", "qc-complete")
	publish(hub, 5, 6, "ex_a", "qc-complete")
	publish(hub, 7, 7, "ex_a", "task-fail")
	r := newReader(get(t, s, "/executions/ex_a/events?event=qc-complete,task-fail", map[string]string{"Last-Event-ID": "0"}).Body)
	if got := ids(r.events(t, 3)); got != "5 6 7" {
		t.Errorf("ex_a's qc-complete and task-fail: %s", got)
	}
}

func TestHeartbeat(t *testing.T) {
	hub := NewHub(4)
	s := startSSE(t, hub, SSEOptions{Heartbeat: 30 * time.Millisecond})
	r := newReader(get(t, s, "/events", nil).Body)
	first, err := r.next()
	if err != nil || first.name != ":" || first.data != ": ping" {
		t.Errorf("first thing on an idle stream: %+v %v, want a heartbeat", first, err)
	}
}

// A reader that stops reading is cut off; a fast one gets everything; the
// publisher never waits for either.
func TestSlowReaderCutOff(t *testing.T) {
	const n = 4000
	hub := NewHub(n)
	s := startSSE(t, hub, SSEOptions{MaxLag: n, WriteTimeout: 200 * time.Millisecond})

	slow := subscribeNotReading(t, s, 8<<10)

	fast := newReader(get(t, s, "/events", nil).Body) // subscribed: get returns with the response's headers
	got := make(chan string, 1)
	go func() {
		var seqs []string
		for len(seqs) < n {
			ev, err := fast.next()
			if err != nil {
				break
			}
			if ev.name != ":" {
				seqs = append(seqs, ev.id)
			}
		}
		got <- strings.Join(seqs, " ")
	}()
	// 64 MB: more than loopback's socket buffers (autotuned up to 32 MB
	// for receiving, 4 MB for sending) can hold for a reader that stops.
	pad := strings.Repeat("x", 16<<10)
	// Append is a ring write under a mutex: it cannot wait for readers,
	// which this loop finishing while one of them never reads shows.
	for i := uint64(1); i <= n; i++ {
		hub.Append(Event{Seq: i, Name: "e", JSON: fmt.Appendf(nil, `{"seq":%d,"pad":%q}`, i, pad)})
	}
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprint(i))
	}
	select {
	case g := <-got:
		if g != strings.Join(want, " ") {
			t.Errorf("the fast reader missed events (%d bytes of ids)", len(g))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the fast reader did not get everything")
	}
	// The slow connection is closed by the server: reading it to the end
	// finishes instead of waiting for more events forever.
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.Copy(io.Discard, slow); err != nil {
		t.Errorf("the slow reader was not disconnected: %v (read %d bytes)", err, n)
	}
}

func TestDownloads(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "staging")
	os.MkdirAll(filepath.Join(dir, "a/docs"), 0o755)
	os.WriteFile(filepath.Join(dir, "a/docs/r.md"), []byte("# hi"), 0o644)
	os.WriteFile(filepath.Join(base, "secret"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(base, "secret"), filepath.Join(dir, "a/link.md"))
	src := fakeSource{dir: dir, files: []File{{Path: "a/docs/r.md", Size: 4}, {Path: "a/link.md", Size: 6}}}
	s := startSSE(t, NewHub(4), SSEOptions{Source: src})

	resp := get(t, s, "/executions/ex_a/deliverables/a/docs/r.md", nil)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "# hi" {
		t.Errorf("download: %d %q", resp.StatusCode, b)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("download's X-Content-Type-Options = %q, want nosniff", got)
	}
	for _, p := range []string{"a/link.md", "a/../../secret", "%2e%2e/secret", "/etc/passwd", "a/docs"} {
		resp := get(t, s, "/executions/ex_a/deliverables/"+p, nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 || strings.Contains(string(b), "secret") && !strings.Contains(string(b), "deliverable") {
			t.Errorf("%s: %d %q", p, resp.StatusCode, b)
		}
	}
	if resp := get(t, s, "/executions/ex_nope/deliverables", nil); resp.StatusCode != 404 {
		t.Errorf("unknown execution: %d", resp.StatusCode)
	}
	var list struct{ Deliverables []File }
	json.NewDecoder(get(t, s, "/executions/ex_a/deliverables", nil).Body).Decode(&list)
	if len(list.Deliverables) != 2 {
		t.Errorf("list %+v", list)
	}
	// The zip stops at the file it cannot read, so the archive is
	// unreadable rather than silently incomplete; list only good files.
	s2 := startSSE(t, NewHub(4), SSEOptions{Source: fakeSource{dir: dir, files: src.files[:1]}})
	zresp := get(t, s2, "/executions/ex_a/deliverables.zip", nil)
	if got := zresp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("zip's X-Content-Type-Options = %q, want nosniff", got)
	}
	zb, _ := io.ReadAll(zresp.Body)
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "a/docs/r.md" {
		t.Fatalf("zip: %v %v", err, zr)
	}
	f, _ := zr.File[0].Open()
	if b, _ := io.ReadAll(f); string(b) != "# hi" {
		t.Errorf("zipped content %q", b)
	}
}

func TestDiscoveryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".mimir", "sidecar.json")
	if err := WriteDiscovery(path, Discovery{URL: "http://127.0.0.1:1", Token: "t", PID: 7}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v, want 0600", st.Mode(), err)
	}
	d, err := ReadDiscovery(path)
	if err != nil || d.Token != "t" || d.PID != 7 {
		t.Errorf("read back %+v %v", d, err)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	hub := NewHub(4)
	s, err := StartSSE(hub, SSEOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp := get(t, s, "/events", nil)
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("a stream outlived Close")
	}
}

// With a backlog (the journal), an id older than the hub holds, even one
// from before a restart, resumes exactly: backlog first, then live.
func TestResumeFromBacklog(t *testing.T) {
	hub := NewHub(4)
	s := startSSE(t, hub, SSEOptions{Backlog: newJournal(1, 10)})
	// The hub is empty, as after a restart; the journal has 1..10.
	r := newReader(get(t, s, "/events", map[string]string{"Last-Event-ID": "7"}).Body)
	if got := ids(r.events(t, 3)); got != "8 9 10" {
		t.Fatalf("from the backlog: %s", got)
	}
	publish(hub, 11, 12, "ex_a", "task-complete")
	if got := ids(r.events(t, 2)); got != "11 12" {
		t.Errorf("then live: %s", got)
	}
}

// journal is a Backlog in memory; err, when set, fails every read, and
// calls counts them.
type journal struct {
	mu     sync.Mutex
	events []Event
	err    error
	calls  int
	// failFrom, when set, fails reads after this seq or later: a journal
	// that breaks halfway through a replay.
	failFrom uint64
}

func newJournal(from, to uint64) *journal {
	j := &journal{}
	for s := from; s <= to; s++ {
		j.events = append(j.events, Event{Seq: s, ExecutionID: "ex_a", Name: "task-start", JSON: fmt.Appendf(nil, `{"seq":%d}`, s)})
	}
	return j
}

func (j *journal) Since(_ context.Context, after uint64, max int) ([]Event, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls++
	if j.err != nil {
		return nil, j.err
	}
	if j.failFrom > 0 && after >= j.failFrom {
		return nil, errors.New("disk I/O error")
	}
	var out []Event
	for _, e := range j.events {
		if e.Seq > after && len(out) < max {
			out = append(out, e)
		}
	}
	return out, nil
}

func (j *journal) Last(context.Context) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if len(j.events) == 0 {
		return 0, nil
	}
	return j.events[len(j.events)-1].Seq, nil
}

func (j *journal) reads() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.calls
}

// getCtx is get with a deadline on the whole exchange, so that a stream
// that never sends what the test waits for fails the test instead of
// hanging it.
func getCtx(t *testing.T, s *SSE, path string, header map[string]string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// When the ring has moved past the cursor and the journal cannot fill the
// gap (closed at shutdown, a disk error, or behind the hub after a failed
// commit), the stream says so and goes on from the oldest kept event
// instead of asking the journal again and again.
func TestLappedWithoutUsableBacklog(t *testing.T) {
	cases := []struct {
		name    string
		journal *journal
		want    string // ids before the reset
		asked   string
	}{
		{"journal fails", &journal{err: errors.New("sql: database is closed")}, "", `"lastEventId":2`},
		{"journal behind the hub", newJournal(3, 5), "3 4 5", `"lastEventId":5`},
		{"journal empty", &journal{}, "", `"lastEventId":2`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hub := NewHub(4)
			publish(hub, 1, 10, "ex_a", "task-start") // keeps 7..10
			s := startSSE(t, hub, SSEOptions{Backlog: tc.journal})
			r := newReader(getCtx(t, s, "/events", map[string]string{"Last-Event-ID": "2"}).Body)
			n := len(strings.Fields(tc.want))
			evs := r.events(t, n+5)
			if got := ids(evs[:n]); got != tc.want {
				t.Errorf("from the journal: %q, want %q", got, tc.want)
			}
			if reset := evs[n]; reset.name != "reset" || !strings.Contains(reset.data, tc.asked) || !strings.Contains(reset.data, `"resumesAt":7`) {
				t.Errorf("got %+v, want a reset saying %s and resumesAt 7", reset, tc.asked)
			}
			if got := ids(evs[n+1:]); got != "7 8 9 10" {
				t.Errorf("after the reset: %s", got)
			}
			publish(hub, 11, 11, "ex_a", "task-complete")
			if got := ids(r.events(t, 1)); got != "11" {
				t.Errorf("then live: %s", got)
			}
			// A spinning stream asks millions of times a second; this one
			// asked when it resumed and once more when the ring said it
			// had moved on.
			if calls := tc.journal.reads(); calls > 4 {
				t.Errorf("the journal was read %d times for one resume", calls)
			}
		})
	}
}

// A journal that breaks halfway through a replay: what it sent counts, the
// hub goes on from there without repeating any of it, and where neither
// can show that nothing was missed the stream says so.
func TestBacklogFailsMidway(t *testing.T) {
	hub := NewHub(100)
	publish(hub, 1, 600, "ex_a", "task-start") // keeps 501..600
	j := newJournal(1, 600)
	j.failFrom = 514 // the first page (3..514) comes, the second fails
	s := startSSE(t, hub, SSEOptions{Backlog: j})
	r := newReader(getCtx(t, s, "/events", map[string]string{"Last-Event-ID": "2"}).Body)
	evs := r.events(t, 598)
	var want []string
	for i := 3; i <= 600; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if got := ids(evs); got != strings.Join(want, " ") {
		t.Errorf("journal then hub: %d events, first %+v, want 3..600 once each", len(evs), evs[0])
	}

	// After a restart (an empty hub) with an unreadable journal, the stream
	// cannot tell what was missed: it says so before the next event.
	hub2 := NewHub(16)
	broken := newJournal(1, 10)
	broken.failFrom = 1 // it knows its last seq but cannot replay
	s2 := startSSE(t, hub2, SSEOptions{Backlog: broken})
	r2 := newReader(getCtx(t, s2, "/events", map[string]string{"Last-Event-ID": "7"}).Body)
	publish(hub2, 11, 11, "ex_a", "task-start")
	evs = r2.events(t, 2)
	// Whether the event came before or after the stream looked at the hub,
	// the reset says the journal could not fill the gap.
	if evs[0].name != "reset" || !strings.Contains(evs[0].data, `"lastEventId":7`) || !strings.Contains(evs[0].data, `"resumesAt":11`) ||
		!strings.Contains(evs[0].data, "journal") || evs[1].id != "11" {
		t.Errorf("restart with an unreadable journal: %+v", evs)
	}
}

// An id above every seq the sidecar has (its journal was replaced and seqs
// started over) gets a reset and the stream from the start of what is
// kept, not a drop after the first heartbeat.
func TestFutureIDWithBacklog(t *testing.T) {
	hub := NewHub(16)
	j := newJournal(1, 3)
	publish(hub, 1, 3, "ex_a", "task-start")
	s := startSSE(t, hub, SSEOptions{Backlog: j, Heartbeat: 20 * time.Millisecond})
	r := newReader(getCtx(t, s, "/events", map[string]string{"Last-Event-ID": "50"}).Body)
	evs := r.events(t, 4)
	if evs[0].name != "reset" || !strings.Contains(evs[0].data, `"lastEventId":50`) || !strings.Contains(evs[0].data, `"resumesAt":1`) {
		t.Errorf("first %+v, want a reset from 50 to 1", evs[0])
	}
	if got := ids(evs[1:]); got != "1 2 3" {
		t.Errorf("after the reset: %s", got)
	}
	// Heartbeats pass (each a chance for the old underflow to drop the
	// stream); the next event still arrives on the same connection.
	for range 3 {
		if ev, err := r.next(); err != nil || ev.name != ":" {
			t.Fatalf("waiting: %+v %v, want a heartbeat", ev, err)
		}
	}
	j.mu.Lock()
	j.events = append(j.events, Event{Seq: 4, Name: "task-start", JSON: []byte(`{"seq":4}`)})
	j.mu.Unlock()
	publish(hub, 4, 4, "ex_a", "task-start")
	if got := ids(r.events(t, 1)); got != "4" {
		t.Errorf("then live: %s", got)
	}

	// The hub empty after a restart and the id the journal's last: not
	// from the future, so no reset, just what comes next.
	hub2 := NewHub(16)
	s2 := startSSE(t, hub2, SSEOptions{Backlog: newJournal(1, 3)})
	r2 := newReader(getCtx(t, s2, "/events", map[string]string{"Last-Event-ID": "3"}).Body)
	publish(hub2, 4, 4, "ex_a", "task-start")
	if ev := r2.events(t, 1)[0]; ev.id != "4" {
		t.Errorf("after a restart, resuming at the journal's last: %+v, want event 4", ev)
	}
}

// A filtered stream stays alive while events it skips keep coming: the
// heartbeat counts from the last byte written, not the last event.
func TestHeartbeatOnFilteredStream(t *testing.T) {
	hub := NewHub(4096)
	// Events come every 2 ms, far more often than the heartbeat is due:
	// a heartbeat paced by events would never be sent.
	s := startSSE(t, hub, SSEOptions{Heartbeat: 300 * time.Millisecond})
	r := newReader(getCtx(t, s, "/events?event=qc-complete", nil).Body)
	stop := make(chan struct{})
	done := make(chan struct{})
	defer func() { close(stop); <-done }()
	go func() {
		defer close(done)
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				publish(hub, seq, seq, "ex_a", "task-start")
			}
		}
	}()
	ev, err := r.next()
	if err != nil || ev.name != ":" || ev.data != ": ping" {
		t.Errorf("first thing on a stream whose events are all filtered out: %+v %v, want a heartbeat", ev, err)
	}
}

func TestUnknownExecutionStream(t *testing.T) {
	s := startSSE(t, NewHub(4), SSEOptions{Source: fakeSource{}})
	resp := getCtx(t, s, "/executions/ex_nope/events", nil)
	var body struct{ Error string }
	err := json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" || err != nil || !strings.Contains(body.Error, `no execution "ex_nope"`) {
		t.Errorf("stream of an unknown execution: %d %s %+v %v", resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
	}
	if resp := getCtx(t, s, "/executions/ex_a/events", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("stream of a known execution: %d", resp.StatusCode)
	}
}

// subscribeNotReading subscribes to /events on a raw connection that then
// never reads, with a receive buffer of rcvbuf bytes so that the kernel
// cannot absorb much on its behalf. It returns once the subscription has
// started: the handler fixes where a stream starts before it answers, and
// its retry: line is the sign.
func subscribeNotReading(t *testing.T, s *SSE, rcvbuf int) net.Conn {
	t.Helper()
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { setRcvbuf(fd, rcvbuf) })
	}}
	addr := strings.TrimPrefix(s.URL(), "http://")
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, s.Token())
	if err := readThroughRetry(bufio.NewReader(conn)); err != nil {
		t.Fatalf("the response to a subscriber that stops reading: %v", err)
	}
	return conn
}

// readThroughRetry reads a raw SSE response up to its retry: line, which
// its handler writes once the subscription's start is fixed.
func readThroughRetry(r *bufio.Reader) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "retry:") {
			return nil
		}
	}
}

// The first event after a quiet spell goes out at once; what follows it
// within Coalesce waits to go out with the rest, in one write.
func TestWritesCoalesce(t *testing.T) {
	// Long, so that a test client starved of the CPU (a loaded CI
	// machine) for a moment does not read event 1 too late to tell.
	const coalesce = 2 * time.Second
	hub := NewHub(16)
	s := startSSE(t, hub, SSEOptions{Coalesce: coalesce})
	r := newReader(getCtx(t, s, "/events", nil).Body)
	publish(hub, 1, 1, "ex_a", "task-start")
	r.events(t, 1)
	first := time.Now()
	publish(hub, 2, 3, "ex_a", "task-start")
	if got := ids(r.events(t, 2)); got != "2 3" {
		t.Fatalf("got %s", got)
	}
	// A lower bound only: the server held them at least until Coalesce
	// after its write of event 1, which came before the client read it.
	if took := time.Since(first); took < coalesce/2 {
		t.Errorf("events 2 and 3 came %v after event 1, within the %v a subscriber's writes are apart", took, coalesce)
	}
}

// Close does not wait for a subscriber that stopped reading: its stuck
// write ends with the connection.
func TestCloseEndsAStuckWrite(t *testing.T) {
	hub := NewHub(64)
	s, err := StartSSE(hub, SSEOptions{WriteTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	subscribeNotReading(t, s, 4<<10)
	// 16 MB, more than the socket buffers hold: the server's write blocks.
	pad := strings.Repeat("x", 1<<20)
	for i := uint64(1); i <= 16; i++ {
		hub.Append(Event{Seq: i, Name: "e", JSON: fmt.Appendf(nil, `{"pad":%q}`, pad)})
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited for a write to a subscriber that does not read")
	}
}

// A new listener gets what happens from now on, also after a restart,
// when the hub is empty and only the journal has what came before.
func TestNewListenerAfterRestart(t *testing.T) {
	hub := NewHub(16)
	s := startSSE(t, hub, SSEOptions{Backlog: newJournal(1, 10)})
	r := newReader(getCtx(t, s, "/events", nil).Body)
	publish(hub, 11, 11, "ex_a", "task-start")
	if got := ids(r.events(t, 1)); got != "11" {
		t.Errorf("a new listener's first event: %s, want 11", got)
	}
}
