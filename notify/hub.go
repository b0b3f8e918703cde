// Package notify fans events out to any number of listeners, in order, without
// ever making the publisher wait: the stdio notifications, the SSE mirror and
// the terminal printer all read from one Hub, each through a Cursor.
//
// A Hub keeps the most recent events in a ring. Each listener reads with its
// own Cursor (the last seq it saw) at its own pace. A cursor that the ring has
// lapped reads what it missed from a Backlog (the journal), and when neither
// has it, says so with a Gap before the next event. The publisher never
// blocks on a listener.
package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ErrClosed is returned once the hub is closed and a reader has read
// everything it still held.
var ErrClosed = errors.New("notify: hub closed")

// Hub is an ordered, bounded event log with many readers.
type Hub struct {
	// mu is read-locked by every reader at once (a publish wakes them
	// all) and locked by the publisher only for a ring slot's write.
	mu sync.RWMutex
	// ring grows to max events as they come (an idle sidecar holds none),
	// then wraps.
	ring   []Event
	max    int
	next   int // where the next event goes in ring
	count  int // events in ring
	last   uint64
	wake   chan struct{} // closed on every publish, then replaced
	closed bool
	// ready is closed from the start: what changed returns when there is
	// something to read already.
	ready chan struct{}
}

// NewHub returns a hub that remembers the last capacity events.
func NewHub(capacity int) *Hub {
	ready := make(chan struct{})
	close(ready)
	return &Hub{max: max(capacity, 1), wake: make(chan struct{}), ready: ready}
}

// Publish encodes envelope as JSON and appends it, with envelope as the
// event's Value. Seqs must increase.
func (h *Hub) Publish(seq uint64, executionID, name string, envelope any) error {
	data, err := json.Marshal(envelope)
	if err != nil {
		return fmt.Errorf("notify: encode %s event %d: %w", name, seq, err)
	}
	h.Append(Event{Seq: seq, ExecutionID: executionID, Name: name, JSON: data, Value: envelope})
	return nil
}

// Append adds an encoded event and wakes every waiting reader. Its SSE
// frame is built here, before the lock, once for every subscriber. An event
// whose seq is not above the last one's is dropped.
func (h *Hub) Append(ev Event) {
	ev = ev.framed()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || ev.Seq <= h.last {
		return
	}
	if len(h.ring) < h.max {
		h.ring = append(h.ring, ev)
	} else {
		h.ring[h.next] = ev
	}
	h.next = (h.next + 1) % h.max
	h.count = min(h.count+1, h.max)
	h.last = ev.Seq
	close(h.wake)
	h.wake = make(chan struct{})
}

// Read appends to dst, in order, up to max events with a seq above after. It
// reports lapped when events just after after are no longer kept: the reader
// has missed some and the first event returned is the oldest kept. Most
// readers want a Cursor, which fills such a gap from the journal.
func (h *Hub) Read(dst []Event, after uint64, max int) (_ []Event, lapped bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.count == 0 || after >= h.last {
		return dst, false
	}
	oldest := h.ring[h.index(0)].Seq
	// Seqs are increasing but need not be contiguous in the hub (a hub may
	// carry a subset), so find the first event after the cursor.
	i := 0
	if after >= oldest {
		i = h.search(after)
	} else if after+1 < oldest {
		lapped = true
	}
	for ; i < h.count && max > 0; i++ {
		dst = append(dst, h.ring[h.index(i)])
		max--
	}
	return dst, lapped
}

// Last is the seq of the newest event (0 when none).
func (h *Hub) Last() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.last
}

// changed returns a channel that is closed once there is an event with a
// seq above after, or the hub is closed (at once, if either is so now).
// Waiting on it allocates nothing: a reader's idle wait is a select.
func (h *Hub) changed(after uint64) <-chan struct{} {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed || h.last > after {
		return h.ready
	}
	return h.wake
}

func (h *Hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// Close wakes every reader; they read what is kept, then get ErrClosed.
// Later events are dropped.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.wake)
	}
}

// index maps the i-th oldest kept event to its slot.
func (h *Hub) index(i int) int {
	start := h.next - h.count
	if start < 0 {
		start += len(h.ring)
	}
	return (start + i) % len(h.ring)
}

// search returns the position of the first kept event with a seq above
// after; h.mu is held.
func (h *Hub) search(after uint64) int {
	lo, hi := 0, h.count
	for lo < hi {
		mid := (lo + hi) / 2
		if h.ring[h.index(mid)].Seq <= after {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
