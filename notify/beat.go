package notify

import (
	"context"
	"sync"
	"time"
)

// A beat wakes a mirror's live subscribers together: at once for the first
// event after a quiet spell, then at most once a pace while events keep
// coming, and once a tick regardless, for each to see whether its
// heartbeat is due. A thousand subscribers waking for every event, each
// with timers of its own to pace its writes and its heartbeats, spent more
// on waking and timers than on writing; on the beat, what came between
// two beats goes out in one write, and a subscriber needs no timer.
type beat struct {
	mu    sync.Mutex
	seq   uint64        // the hub's last seq when it last fired
	next  chan struct{} // closed when it fires next
	ended bool
	ready chan struct{} // closed from the start
}

func newBeat() *beat {
	ready := make(chan struct{})
	close(ready)
	return &beat{next: make(chan struct{}), ready: ready}
}

// wait returns a channel that is closed on the first beat after a reader
// at seq: at once if one has fired for a later event, or the beat ended.
func (b *beat) wait(seq uint64) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended || b.seq > seq {
		return b.ready
	}
	return b.next
}

func (b *beat) fire(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq = seq
	close(b.next)
	b.next = make(chan struct{})
}

// end wakes every waiter for good.
func (b *beat) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ended {
		b.ended = true
		close(b.next)
	}
}

// run beats for hub's events until ctx is done or the hub closes.
func (b *beat) run(ctx context.Context, hub *Hub, pace, tick time.Duration) {
	defer b.end()
	ticker := time.NewTimer(tick)
	defer ticker.Stop()
	pacer := time.NewTimer(pace)
	defer pacer.Stop()
	seq := hub.Last()
	for {
		select {
		case <-hub.changed(seq):
		case <-ticker.C:
		case <-ctx.Done():
			return
		}
		if hub.isClosed() {
			return
		}
		seq = hub.Last()
		b.fire(seq)
		ticker.Reset(tick)
		pacer.Reset(pace)
		select {
		case <-pacer.C:
		case <-ctx.Done():
			return
		}
	}
}
