package journal

import (
	"context"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// EventsNamed returns up to limit journaled events called name with a seq
// below before (0: the newest), newest first: the history of one kind of
// event across executions, such as every save of deliverables.
func (j *Journal) EventsNamed(ctx context.Context, name string, before uint64, limit int) ([]engine.Event, error) {
	q := "SELECT seq, execution_id, name, envelope FROM events WHERE name = ?"
	args := []any{name}
	if before != 0 {
		q += " AND seq < ?"
		args = append(args, before)
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, limit)
	var out []engine.Event
	err := j.replay(ctx, q, args, func(_ Stored, ev *engine.Event) { out = append(out, *ev) })
	return out, err
}
