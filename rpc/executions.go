package rpc

import (
	"context"
	"encoding/json"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

type executionsResult struct {
	Executions []engine.Summary `json:"executions"`
}

func (s *server) executions(_ context.Context, _ struct{}) (executionsResult, error) {
	_, runner := s.session()
	return executionsResult{Executions: runner.List()}, nil
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
