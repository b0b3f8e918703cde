// Package events joins the engine's events to notify's hub, both ways:
// Publish puts an engine event in the hub, encoded once, and Backlog makes
// the journal the hub's backlog, where a notify.Cursor reads the events the
// hub no longer holds. The stdio server and `run` go through it alike.
package events

import (
	"context"
	"fmt"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// Publish appends ev to hub, with the journal's encoding of it when the
// journal made one: an event is encoded once on its way to every listener.
// An event that cannot be encoded (a bug in the engine's types) is dropped
// rather than stop every listener.
func Publish(hub *notify.Hub, ev engine.Event) error {
	data, err := ev.Encode()
	if err != nil {
		return fmt.Errorf("publish event %d: %w", ev.Seq, err)
	}
	ev.Encoded = nil // the hub holds the bytes once, in its JSON
	hub.Append(notify.Event{Seq: ev.Seq, ExecutionID: ev.ExecutionID, Name: ev.Event, JSON: data, Value: ev})
	return nil
}

// Backlog returns j as the hub's backlog, or nil when there is no journal
// (a nil *journal.Journal in the interface would not be nil).
func Backlog(j *journal.Journal) notify.Backlog {
	if j == nil {
		return nil
	}
	return journalBacklog{j}
}

type journalBacklog struct{ j *journal.Journal }

func (b journalBacklog) Since(ctx context.Context, after uint64, max int) ([]notify.Event, error) {
	stored, err := b.j.Since(ctx, after, max)
	if err != nil {
		return nil, fmt.Errorf("replay events after %d: %w", after, err)
	}
	out := make([]notify.Event, len(stored))
	for i, e := range stored {
		out[i] = notify.Event{Seq: e.Seq, ExecutionID: e.ExecutionID, Name: e.Name, JSON: e.JSON}
	}
	return out, nil
}

func (b journalBacklog) Last(context.Context) (uint64, error) { return b.j.LastSeq() }
