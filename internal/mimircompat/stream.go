package mimircompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// streamBatch is how many events a stream reads at a time.
const streamBatch = 128

// stream serves GET /api/execution-stream/:executionId: init, then the
// execution's events as Mimir names them, each with our seq as its id, until
// its last event. The whole execution is told, from its first event: a
// client that asks as soon as POST /api/execute-workflow answers must not
// miss what ran meanwhile (Mimir's own executor is slow to start; ours is
// not). Last-Event-ID resumes after that event.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	ex, ok := a.execution(w, r)
	if !ok {
		return
	}
	var after uint64
	if id := lastEventID(r); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Last-Event-ID must be the id of an event this stream sent", "executionId": ex.ID()})
			return
		}
		after = n
	}
	// The seq now, read before the state: a running execution's last
	// event is still to come, so a "last" event at or before this seq is
	// from a run before it was resumed.
	now := a.opts.Runner.Seq()
	s := &mimirStream{
		api: a, w: w, rc: http.NewResponseController(w), id: ex.ID(), after: after,
		st: newStreamState(ex.Info()),
	}
	s.earlierRun = s.st.info.Status == engine.StatusRunning
	s.now = now
	if err := s.run(r.Context()); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, notify.ErrClosed) {
		a.opts.Logger.Debug("Mimir stream ended", "execution", ex.ID(), "err", err)
	}
}

func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("lastEventId")
}

// mimirStream is one client's stream.
type mimirStream struct {
	api   *API
	w     http.ResponseWriter
	rc    *http.ResponseController
	id    string
	after uint64 // the last seq the client has
	st    *streamState
	// earlierRun and now: a last event at or before now ends an earlier
	// run of an execution running again (resumed), not this one.
	earlierRun bool
	now        uint64
	started    bool   // the head and init are written
	doneSeq    uint64 // the runner's seq once the execution was seen done
	// ended is set when the client already has the execution's last
	// event: there is nothing more to send.
	ended bool
	buf   bytes.Buffer
}

func (s *mimirStream) run(ctx context.Context) error {
	a := s.api
	cur := notify.NewCursor(ctx, a.opts.Hub, a.opts.Backlog, s.firstSeq(ctx)-1)
	batch := make([]notify.Event, 0, streamBatch)
	idle := time.NewTimer(a.opts.Heartbeat)
	defer idle.Stop()
	for {
		evs, gap, err := cur.Read(ctx, batch[:0], cap(batch))
		if gap != nil {
			a.opts.Logger.Warn("a Mimir stream missed events", "execution", s.id, "gap", gap.String())
		}
		for _, nev := range evs {
			if nev.ExecutionID != s.id {
				continue
			}
			done, err := s.tell(nev)
			if err != nil || done {
				return err
			}
		}
		clear(evs)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			continue
		}
		// Caught up: what the client has is all there is, for now.
		over := s.over(cur)
		if !s.started {
			if s.ended {
				// EventSource stops reconnecting on a 204.
				s.w.WriteHeader(http.StatusNoContent)
				return nil
			}
			s.start()
		}
		if err := s.flush(); err != nil || over {
			return err
		}
		select {
		case <-cur.Ready():
		case <-idle.C:
			s.buf.WriteString(": ping\n\n")
			if err := s.flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		idle.Reset(a.opts.Heartbeat)
	}
}

// firstSeq is the seq of the execution's first event in the journal, or 1
// when it cannot tell: the stream then reads from the start.
func (s *mimirStream) firstSeq(ctx context.Context) uint64 {
	if s.api.opts.Journal == nil {
		return 1
	}
	evs, err := s.api.opts.Journal.Events(ctx, 0, s.id, 1)
	if err != nil || len(evs) == 0 {
		return 1
	}
	var first struct {
		Seq uint64 `json:"seq"`
	}
	if json.Unmarshal(evs[0], &first) != nil || first.Seq == 0 {
		return 1
	}
	return first.Seq
}

// over reports whether the execution ended and the cursor is past its
// last event, which it did not find (the journal lost it): the stream then
// ends rather than wait for an event that will never come.
func (s *mimirStream) over(cur *notify.Cursor) bool {
	ex, ok := s.api.opts.Runner.Get(s.id)
	if !ok {
		return true
	}
	select {
	case <-ex.Done():
	default:
		return false
	}
	// Done closes once the last event is emitted, which may be before the
	// hub has it: the seq read now is at or after it.
	if s.doneSeq == 0 {
		s.doneSeq = s.api.opts.Runner.Seq()
	}
	return cur.Seq() >= s.doneSeq
}

// tell folds one event of the execution into the state and, past what the
// client has, writes it; done is set after the execution's last event.
func (s *mimirStream) tell(nev notify.Event) (done bool, err error) {
	m := s.api.events[nev.Name]
	if m == nil {
		return false, nil // an event newer than the table: ours only
	}
	ev, err := decodeEvent(nev.JSON, nev.Value)
	if err != nil {
		s.api.opts.Logger.Warn("a Mimir stream skipped an event it cannot read", "seq", nev.Seq, "err", err)
		return false, nil
	}
	s.st.observe(ev)
	last := m.Terminal && !(s.earlierRun && nev.Seq <= s.now)
	if ev.Event.Event == engine.EventExecutionStart {
		s.ended = false // a resumed execution runs again
	}
	if nev.Seq <= s.after {
		s.ended = s.ended || last
		return false, nil
	}
	if !s.started {
		s.start()
	}
	if m.Mimir != "" {
		data := compactJSON(m.payload(s.st, ev))
		s.buf.WriteString("id: ")
		s.buf.WriteString(strconv.FormatUint(nev.Seq, 10))
		s.buf.WriteString("\nevent: ")
		s.buf.WriteString(m.Mimir)
		s.buf.WriteString("\ndata: ")
		s.buf.Write(data)
		s.buf.WriteString("\n\n")
	}
	if last {
		return true, s.flush()
	}
	if s.buf.Len() >= 32<<10 {
		return false, s.flush()
	}
	return false, nil
}

// start writes the head and init: the state as it is now, as Mimir sends
// it on every connection.
func (s *mimirStream) start() {
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	s.buf.WriteString("event: ")
	s.buf.WriteString(s.api.init.Mimir)
	s.buf.WriteString("\ndata: ")
	s.buf.Write(s.api.init.payload(s.st, nil))
	s.buf.WriteString("\n\n")
}

func (s *mimirStream) flush() error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.api.opts.WriteTimeout))
	if s.buf.Len() > 0 {
		if _, err := s.w.Write(s.buf.Bytes()); err != nil {
			return err
		}
		s.buf.Reset()
	}
	return s.rc.Flush()
}

// compactJSON keeps a payload on one data: line.
func compactJSON(b []byte) []byte {
	if !bytes.ContainsAny(b, "\r\n") {
		return b
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return b
	}
	return out.Bytes()
}
