package notify

import (
	"cmp"
	"context"
	"fmt"
)

// Backlog is every event ever published (the journal), read when a
// listener needs more than the hub keeps.
type Backlog interface {
	// Since returns up to max events with a seq above after, oldest first.
	Since(ctx context.Context, after uint64, max int) ([]Event, error)
	// Last is the newest seq it ever held, pruned events included (0 when
	// none). It may be ahead of the hub: events are kept before they are
	// published.
	Last(ctx context.Context) (uint64, error)
}

// A Gap is events a reader missed that neither the hub nor the backlog
// could give it. It is reported with the first event after it.
type Gap struct {
	// After is the last seq read before the gap.
	After uint64
	// ResumesAt is the seq of the first event after the gap.
	ResumesAt uint64
	// Reason says why the events are gone, for a person.
	Reason string
}

func (g *Gap) String() string {
	return fmt.Sprintf("events after %d are not available (%s); the stream continues at %d", g.After, g.Reason, g.ResumesAt)
}

// backlogPage is how many events a Cursor reads from the backlog at a time.
const backlogPage = 512

// A Cursor reads a hub's events in order from a seq on, at its reader's
// pace: from the hub while it holds them, from the backlog when the hub
// has moved on (or, after a restart, never had them), and with a Gap where
// neither has them. It is the one way every listener reads events: the
// editor's notifications, `run`'s printer and the SSE mirror.
//
// A Cursor is used by one goroutine.
type Cursor struct {
	hub     *Hub
	backlog Backlog // nil: what the hub drops is gone
	after   uint64  // the last seq read
	// replay is set while the backlog has events after the cursor that
	// the hub may not: they are read from it first.
	replay bool
	// gap is owed to the reader, with the next event.
	gap *Gap
}

// NewCursor returns a cursor that reads the events with a seq above after.
// An after above every seq the hub and the backlog know is from before the
// sidecar's seqs started over (it restarted without its journal): the
// cursor then reads from the start, after a Gap that says so.
func NewCursor(ctx context.Context, hub *Hub, backlog Backlog, after uint64) *Cursor {
	c := &Cursor{hub: hub, backlog: backlog, after: after}
	inHub := after <= hub.Last()
	stored, known := uint64(0), false
	if backlog != nil {
		last, err := backlog.Last(ctx)
		stored, known = last, err == nil
		// A backlog whose end cannot be read may still replay: try it.
		c.replay = !known || last > after
	}
	if !inHub && (backlog == nil || (known && after > stored)) {
		c.gap = &Gap{After: after, Reason: "the sidecar restarted; events start over"}
		c.after = 0
		c.replay = backlog != nil
	}
	return c
}

// Read appends to dst up to max events after the cursor, and moves the
// cursor past them, without waiting: none when there are none yet. gap,
// when not nil, is what was lost just before the first of them. err is the
// ctx's, or ErrClosed once the hub is closed and everything it held is
// read.
func (c *Cursor) Read(ctx context.Context, dst []Event, max int) ([]Event, *Gap, error) {
	start := len(dst)
	if c.replay {
		if dst, _ = c.readBacklog(ctx, dst, max); len(dst) > start {
			return c.deliver(dst, start)
		}
	}
	dst, lapped := c.hub.Read(dst, c.after, max)
	if lapped {
		lost := "older events are no longer kept"
		if c.backlog != nil {
			// The ring moved past the cursor: the backlog has what it
			// dropped. Only if it has nothing is the hub read from its
			// oldest, after a gap.
			var why string
			if dst, why = c.readBacklog(ctx, dst[:start], max); len(dst) > start {
				return c.deliver(dst, start)
			}
			lost = cmp.Or(why, "older events are neither kept in memory nor in the journal")
			dst, _ = c.hub.Read(dst, c.after, max)
		}
		if c.gap == nil {
			c.gap = &Gap{After: c.after, Reason: lost}
		}
	}
	if err := ctx.Err(); err != nil {
		return dst[:start], nil, err
	}
	if len(dst) == start {
		if c.hub.isClosed() {
			return dst, nil, ErrClosed
		}
		return dst, nil, nil
	}
	return c.deliver(dst, start)
}

// Next is Read that waits for at least one event, until ctx is done or the
// hub is closed and drained.
func (c *Cursor) Next(ctx context.Context, dst []Event, max int) ([]Event, *Gap, error) {
	for {
		evs, gap, err := c.Read(ctx, dst, max)
		if err != nil || len(evs) > len(dst) {
			return evs, gap, err
		}
		select {
		case <-c.Ready():
		case <-ctx.Done():
			return dst, nil, ctx.Err()
		}
	}
}

// Ready returns a channel that is closed when Read may have something
// new: an event after the cursor, or the hub closing.
func (c *Cursor) Ready() <-chan struct{} {
	if c.replay {
		return c.hub.ready
	}
	return c.hub.changed(c.after)
}

// Seq is the seq of the last event read (or the cursor's start).
func (c *Cursor) Seq() uint64 { return c.after }

// Lag is how many events the hub has published past the cursor.
func (c *Cursor) Lag() uint64 {
	if last := c.hub.Last(); last > c.after {
		return last - c.after
	}
	return 0
}

// readBacklog appends the backlog's next page after the cursor. It returns
// why the backlog could not give what it lacks: a read error, said for a
// person, or "" when it just had nothing more.
func (c *Cursor) readBacklog(ctx context.Context, dst []Event, max int) ([]Event, string) {
	evs, err := c.backlog.Since(ctx, c.after, min(max, backlogPage))
	if err != nil {
		c.replay = false
		return dst, fmt.Sprintf("the journal cannot be read: %v", err)
	}
	after := c.after
	for _, ev := range evs {
		// A backlog out of order must not take the reader back.
		if ev.Seq > after {
			dst = append(dst, ev)
			after = ev.Seq
		}
	}
	c.replay = len(evs) == min(max, backlogPage)
	return dst, ""
}

// deliver moves the cursor past dst[start:], framing what the backlog gave
// (the hub's events are framed as they enter it), and hands over the gap
// owed before them.
func (c *Cursor) deliver(dst []Event, start int) ([]Event, *Gap, error) {
	for i := start; i < len(dst); i++ {
		dst[i] = dst[i].framed()
	}
	c.after = dst[len(dst)-1].Seq
	gap := c.gap
	if gap != nil {
		gap.ResumesAt = dst[start].Seq
		c.gap = nil
	}
	return dst, gap, nil
}
