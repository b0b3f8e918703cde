package engine

import (
	"context"
	"fmt"
	"time"
)

// A Download is one save of an execution's deliverables into the
// workspace, as its deliverables-saved event recorded it: the history of
// what was saved where, and what became of each file.
type Download struct {
	// Seq is the deliverables-saved event's.
	Seq         uint64    `json:"seq"`
	ExecutionID string    `json:"executionId"`
	Time        time.Time `json:"time"`
	// Target is the folder saved into.
	Target string `json:"target"`
	Saved  int    `json:"saved"`
	Failed int    `json:"failed"`
	// Error is why the whole save failed, when it did.
	Error   string `json:"error,omitempty"`
	Message string `json:"message"`
	// Files are the outcomes file by file (workspace.FileResult's shape:
	// path, savedAs, status, error).
	Files any `json:"files"`
}

// DownloadPage is a page of the saves, newest first; Next is the cursor
// of the page after (0: none).
type DownloadPage struct {
	Downloads []Download
	Next      uint64
}

// namedEvents is a journal that can list one kind of event across
// executions (package journal's does).
type namedEvents interface {
	EventsNamed(ctx context.Context, name string, before uint64, limit int) ([]Event, error)
}

// Downloads lists up to limit saves (at most MaxPage) made before the
// cursor before (0: the newest), newest first. A runner without a journal
// has no history of them.
func (r *Runner) Downloads(ctx context.Context, before uint64, limit int) (DownloadPage, error) {
	limit = min(max(limit, 1), MaxPage)
	r.mu.Lock()
	j, ok := r.journal.(namedEvents)
	r.mu.Unlock()
	if !ok {
		return DownloadPage{Downloads: []Download{}}, nil
	}
	evs, err := j.EventsNamed(ctx, EventDeliverablesSaved, before, limit)
	if err != nil {
		return DownloadPage{}, fmt.Errorf("list the saves: %w", err)
	}
	page := DownloadPage{Downloads: make([]Download, 0, len(evs))}
	for _, ev := range evs {
		d := ev.Data
		dl := Download{Seq: ev.Seq, ExecutionID: ev.ExecutionID, Time: ev.Time, Target: d.Target, Error: d.Error, Message: d.Message, Files: d.Results}
		if d.Saved != nil {
			dl.Saved = *d.Saved
		}
		if d.Failed != nil {
			dl.Failed = *d.Failed
		}
		if dl.Files == nil {
			dl.Files = []any{}
		}
		page.Downloads = append(page.Downloads, dl)
	}
	if len(evs) == limit {
		page.Next = evs[len(evs)-1].Seq
	}
	return page, nil
}
