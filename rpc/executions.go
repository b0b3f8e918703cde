package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

type executionsParams struct {
	// Cursor is the nextCursor of the page before ("" for the newest).
	Cursor string `json:"cursor,omitempty"`
	// Limit is how many executions the page holds at most.
	Limit int `json:"limit,omitempty"`
}

type executionsResult struct {
	Executions []engine.Summary `json:"executions"`
	// NextCursor asks for the page after this one; absent on the last.
	NextCursor string `json:"nextCursor,omitempty"`
}

// defaultExecutionsPage is a page when the client does not say: what an
// editor's list shows at once, not the whole history.
const defaultExecutionsPage = 100

// executions lists the history a page at a time, newest first.
func (s *server) executions(ctx context.Context, p executionsParams) (executionsResult, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultExecutionsPage
	}
	if limit > engine.MaxPage {
		return executionsResult{}, invalidParams("mimir/executions", fmt.Errorf("limit %d is more than a page holds (%d)", limit, engine.MaxPage))
	}
	var before uint64
	if p.Cursor != "" {
		// The cursor is the seq the next page's executions began before.
		n, err := strconv.ParseUint(p.Cursor, 10, 64)
		if err != nil || n == 0 {
			return executionsResult{}, invalidParams("mimir/executions", fmt.Errorf("cursor %.40q is not one mimir/executions gave: pass its nextCursor as it is", p.Cursor))
		}
		before = n
	}
	_, runner := s.session()
	page, err := runner.ListPage(ctx, before, limit)
	if err != nil {
		return executionsResult{}, err
	}
	out := executionsResult{Executions: page.Executions}
	if out.Executions == nil {
		out.Executions = []engine.Summary{}
	}
	if page.Next != 0 {
		out.NextCursor = strconv.FormatUint(page.Next, 10)
	}
	return out, nil
}

type executionParams struct {
	ExecutionID string `json:"executionId"`
}

func (s *server) execution(_ context.Context, p executionParams) (any, error) {
	ex, err := s.lookup(p.ExecutionID)
	if err != nil {
		return nil, err
	}
	return ex.Info(), nil
}

type eventsParams struct {
	Since       uint64 `json:"since"`
	ExecutionID string `json:"executionId,omitempty"`
	Limit       int    `json:"limit,omitempty"`
}

type eventsResult struct {
	Events []json.RawMessage `json:"events"`
	// Reset says events after Since are no longer all kept: the list starts
	// at the oldest one kept.
	Reset bool `json:"reset"`
}

const (
	maxEventsPerRequest = 10000
	maxEventsScanned    = 1 << 20
)

// events returns the events after a seq, for a client catching up.
func (s *server) events(ctx context.Context, p eventsParams) (eventsResult, error) {
	if p.ExecutionID != "" {
		if _, err := s.lookup(p.ExecutionID); err != nil {
			return eventsResult{}, err
		}
	}
	limit := p.Limit
	if limit <= 0 || limit > maxEventsPerRequest {
		limit = maxEventsPerRequest
	}
	s.mu.Lock()
	journaled := s.journal != nil
	s.mu.Unlock()
	if journaled {
		return s.eventsFromJournal(ctx, p, limit)
	}
	scan := 0
	if last := s.hub.Last(); last > p.Since {
		scan = int(min(last-p.Since, maxEventsScanned))
	}
	evs, reset := s.hub.Read(make([]notify.Event, 0, 64), p.Since, scan)
	out := eventsResult{Events: make([]json.RawMessage, 0, len(evs)), Reset: reset}
	for _, ev := range evs {
		if p.ExecutionID != "" && ev.ExecutionID != p.ExecutionID {
			continue
		}
		if len(out.Events) == limit {
			break
		}
		out.Events = append(out.Events, ev.JSON)
	}
	return out, nil
}
