// Package backlog makes the engine's journal the hub's backlog: where a
// notify.Cursor reads the events the hub no longer holds. The editor's
// notifications, `run`'s printer and the SSE mirror all read it this way.
package backlog

import (
	"context"
	"fmt"

	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// Journal returns j as a backlog, or nil when there is no journal (a nil
// *journal.Journal in the interface would not be nil).
func Journal(j *journal.Journal) notify.Backlog {
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
