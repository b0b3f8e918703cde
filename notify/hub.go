// Package notify fans events out to any number of listeners, in order, without
// ever making the publisher wait: the stdio notifications, the SSE mirror and
// the terminal printer all read from one Hub.
//
// A Hub keeps the most recent events in a ring. Each listener reads with its
// own cursor (the last seq it saw) at its own pace; a listener that falls so
// far behind that the ring has moved past its cursor is told so (Read's
// reset) and must catch up from elsewhere (the journal) or start over. The
// publisher never blocks on a listener.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Event is one event as the hub carries it: its envelope encoded once, for
// every listener.
type Event struct {
	Seq         uint64
	ExecutionID string
	Name        string
	JSON        []byte
}

// ErrClosed is returned by Wait once the hub is closed.
var ErrClosed = errors.New("notify: hub closed")

// Hub is an ordered, bounded event log with many readers.
type Hub struct {
	mu     sync.Mutex
	ring   []Event
	next   int // where the next event goes in ring
	count  int // events in ring
	last   uint64
	wake   chan struct{} // closed on every publish, then replaced
	closed bool
}

// NewHub returns a hub that remembers the last capacity events.
func NewHub(capacity int) *Hub {
	if capacity < 1 {
		capacity = 1
	}
	return &Hub{ring: make([]Event, capacity), wake: make(chan struct{})}
}

// Publish encodes envelope as JSON and appends it. Seqs must increase.
func (h *Hub) Publish(seq uint64, executionID, name string, envelope any) error {
	data, err := json.Marshal(envelope)
	if err != nil {
		return fmt.Errorf("notify: encode %s event %d: %w", name, seq, err)
	}
	h.Append(Event{Seq: seq, ExecutionID: executionID, Name: name, JSON: data})
	return nil
}

// Append adds an already encoded event and wakes every waiting reader.
func (h *Hub) Append(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || ev.Seq <= h.last {
		return
	}
	h.ring[h.next] = ev
	h.next = (h.next + 1) % len(h.ring)
	h.count = min(h.count+1, len(h.ring))
	h.last = ev.Seq
	close(h.wake)
	h.wake = make(chan struct{})
}

// Read appends to dst, in order, up to max events with a seq above after. It
// reports reset when events just after after are no longer kept: the reader
// has missed some and the first event returned is the oldest kept.
func (h *Hub) Read(dst []Event, after uint64, max int) (_ []Event, reset bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
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
		reset = true
	}
	for ; i < h.count && max > 0; i++ {
		dst = append(dst, h.ring[h.index(i)])
		max--
	}
	return dst, reset
}

// Last is the seq of the newest event (0 when none).
func (h *Hub) Last() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Wait blocks until an event with a seq above after exists, ctx is done, or
// the hub is closed.
func (h *Hub) Wait(ctx context.Context, after uint64) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	if h.last > after {
		h.mu.Unlock()
		return nil
	}
	wake := h.wake
	h.mu.Unlock()
	select {
	case <-wake:
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if closed {
			return ErrClosed
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close wakes every reader with ErrClosed; later events are dropped.
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

// Follow calls fn with every event after the cursor, in order, as they
// come, until ctx is done, the hub closes, or fn returns an error (which
// Follow returns). reset is true for the first event after a gap the ring no
// longer holds. Events still in the ring when the hub closes are delivered
// before Follow returns ErrClosed.
func (h *Hub) Follow(ctx context.Context, after uint64, fn func(ev Event, reset bool) error) error {
	batch := make([]Event, 0, 64)
	for {
		var reset bool
		batch, reset = h.Read(batch[:0], after, cap(batch))
		for i, ev := range batch {
			if err := fn(ev, reset && i == 0); err != nil {
				return err
			}
			after = ev.Seq
		}
		if len(batch) > 0 {
			continue
		}
		if err := h.Wait(ctx, after); err != nil {
			if errors.Is(err, ErrClosed) {
				if batch, _ = h.Read(batch[:0], after, 1); len(batch) > 0 {
					continue
				}
			}
			return err
		}
	}
}
