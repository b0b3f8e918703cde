package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// subscription is what a client asked /events for.
type subscription struct {
	execID string          // only this execution's events, when set
	only   map[string]bool // only these event names, when set
	after  uint64          // the last seq the client has
}

func (sub *subscription) wants(ev *Event) bool {
	return (sub.execID == "" || ev.ExecutionID == sub.execID) && (sub.only == nil || sub.only[ev.Name])
}

// subscribe reads a request for events: all, or one execution's (path),
// optionally only some names (?event=a,b), resuming after Last-Event-ID
// when given, else from now on.
func (s *SSE) subscribe(r *http.Request) (subscription, int, error) {
	sub := subscription{execID: r.PathValue("id"), after: s.now(r.Context())}
	if sub.execID != "" && s.opts.Source != nil {
		// Without this an unknown id would stream heartbeats forever: a
		// typo must fail at once, like the other per-execution endpoints.
		if _, _, err := s.opts.Source.Deliverables(sub.execID); errors.Is(err, ErrNotFound) {
			return sub, http.StatusNotFound, fmt.Errorf("no execution %q: list them at /executions", sub.execID)
		}
	}
	if names := r.URL.Query().Get("event"); names != "" {
		sub.only = map[string]bool{}
		for n := range strings.SplitSeq(names, ",") {
			sub.only[strings.TrimSpace(n)] = true
		}
	}
	if id := lastEventID(r); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return sub, http.StatusBadRequest, errors.New("Last-Event-ID must be the id (seq) of an event this stream sent")
		}
		sub.after = n
	}
	return sub, 0, nil
}

// now is the seq a new listener starts after, to get what happens from now
// on: the hub's last, or after a restart, before anything was published,
// the journal's.
func (s *SSE) now(ctx context.Context) uint64 {
	last := s.hub.Last()
	if last == 0 && s.opts.Backlog != nil {
		if stored, err := s.opts.Backlog.Last(ctx); err == nil {
			return stored
		}
	}
	return last
}

func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("lastEventId")
}

// errTooSlow ends the stream of a subscriber that fell too far behind.
var errTooSlow = errors.New("too far behind")

// events serves an event stream on a connection of its own. It takes the
// connection from net/http so that a batch of ready frames goes out in one
// writev with one deadline, with no chunked encoding to wrap each, and so
// that ending a stream (a subscriber too slow, the mirror closing) closes
// the connection: the client sees it go and resumes with Last-Event-ID.
func (s *SSE) events(w http.ResponseWriter, r *http.Request) {
	sub, status, err := s.subscribe(r)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	head := w.Header() // what guard set: CORS
	head.Set("Content-Type", "text/event-stream")
	head.Set("Cache-Control", "no-cache")
	head.Set("X-Accel-Buffering", "no")
	head.Set("Connection", "close")
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	_ = head.Write(&b)
	b.WriteString("\r\nretry: 2000\n\n")
	if !s.startStream() {
		writeError(w, http.StatusServiceUnavailable, "the mirror is stopping")
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.streams.Done()
		writeError(w, http.StatusInternalServerError, "event streams need HTTP/1.1: "+err.Error())
		return
	}
	// The stream goes on in a goroutine of the mirror's, and this handler
	// returns: net/http then lets go of what it held for the request (its
	// buffers, this goroutine's grown stack), which a thousand idle
	// subscribers would otherwise keep.
	remote := r.RemoteAddr // not r: the goroutine must not keep the request alive
	go func() {
		defer s.streams.Done()
		s.serveStream(conn, b.Bytes(), sub, remote)
	}()
}

// serveStream runs one subscriber's stream until the mirror closes, the
// hub closes, or the stream ends, and closes its connection.
func (s *SSE) serveStream(conn net.Conn, head []byte, sub subscription, remote string) {
	defer conn.Close()
	// Closing the connection is what ends a write stuck on a client that
	// stopped reading, so that Close does not wait WriteTimeout for it.
	stop := context.AfterFunc(s.ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Time{}) // net/http's read deadline is for the request
	err := s.stream(s.ctx, conn, head, sub)
	switch {
	case err == nil, errors.Is(err, ErrClosed):
	case errors.Is(err, errTooSlow):
		s.opts.Logger.Info("SSE subscriber disconnected: too far behind (it resumes with Last-Event-ID)", "remote", remote)
	default:
		s.opts.Logger.Debug("SSE subscriber gone", "remote", remote, "err", err)
	}
}

// stream writes the response head, then the subscription's events as they
// come, until ctx is done (the mirror closes), the hub closes, a write
// fails, or the subscriber falls further behind than MaxLag.
func (s *SSE) stream(ctx context.Context, conn net.Conn, head []byte, sub subscription) error {
	if err := s.write(conn, net.Buffers{head}); err != nil {
		return err
	}
	cur := NewCursor(ctx, s.hub, s.opts.Backlog, sub.after)
	// live is set once the stream has reached the hub's head: until then
	// being behind is catching up, after it, this reader's slowness.
	live := false
	// The heartbeat is paced by bytes on the wire, not events in the hub:
	// what keeps a proxy or a client from timing the stream out is the
	// former (a filtered stream may skip every event). The beat ticks every
	// quarter heartbeat, so a ping sent once three quarters have passed
	// keeps every silence under a whole one.
	pingAfter := s.opts.Heartbeat - s.opts.Heartbeat/4
	lastWrite := time.Now()
	for {
		n, wrote, err := s.sendBatch(ctx, conn, cur, &sub)
		if wrote {
			lastWrite = time.Now()
		}
		switch {
		case err != nil:
			return err
		case n > 0:
			if live && cur.Lag() > uint64(s.opts.MaxLag) {
				return errTooSlow
			}
			continue
		}
		live = true
		if time.Since(lastWrite) >= pingAfter {
			if err := s.write(conn, net.Buffers{[]byte(": ping\n\n")}); err != nil {
				return err
			}
			lastWrite = time.Now()
		}
		select {
		case <-s.beat.wait(cur.Seq()):
		case <-ctx.Done():
			return nil
		}
	}
}

// sendBatch reads what the cursor has now and writes the frames the
// subscription wants, with the gap before them if there is one, in one
// write. It returns how many events it read and whether it wrote.
func (s *SSE) sendBatch(ctx context.Context, conn net.Conn, cur *Cursor, sub *subscription) (int, bool, error) {
	// The arrays are borrowed for the batch only, so that a thousand idle
	// subscribers hold none.
	b := s.batches.Get().(*batch)
	defer s.batches.Put(b)
	evs, gap, err := cur.Read(ctx, b.events[:0], cap(b.events))
	frames := b.frames[:0]
	if gap != nil {
		frames = append(frames, resetFrame(gap))
	}
	for i := range evs {
		if sub.wants(&evs[i]) {
			frames = append(frames, evs[i].Frame)
		}
	}
	wrote := len(frames) > 0
	if wrote {
		if werr := s.write(conn, frames); werr != nil {
			err = werr
		}
	}
	// The events are the hub's, shared by every subscriber: a pooled
	// array must not keep them alive.
	clear(evs)
	clear(b.frames[:cap(b.frames)])
	return len(evs), wrote, err
}

// write sends frames in one writev, with one deadline for all of them.
func (s *SSE) write(conn net.Conn, frames net.Buffers) error {
	_ = conn.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	_, err := frames.WriteTo(conn)
	return err
}

func resetFrame(g *Gap) []byte {
	data, _ := json.Marshal(map[string]any{
		"lastEventId": g.After,
		"resumesAt":   g.ResumesAt,
		"message":     g.String(),
	})
	return fmt.Appendf(nil, "event: reset\ndata: %s\n\n", data)
}

// batchSize is how many events a subscriber reads, and writes, at a time.
const batchSize = 128

// batch is the arrays one subscriber's batch is read and written from.
type batch struct {
	events []Event
	frames net.Buffers
}

func newBatch() any {
	return &batch{events: make([]Event, 0, batchSize), frames: make(net.Buffers, 0, batchSize+1)}
}
