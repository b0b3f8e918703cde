package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/internal/age"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// openJournal opens the workspace's journal. A second sidecar on the same
// workspace (another editor window) runs without one rather than refusing:
// it works, and says its executions will not outlive it.
func (s *server) openJournal(ws *workspace.Workspace) (*journal.Journal, []string) {
	if err := ws.EnsureStateDir(); err != nil {
		return nil, []string{fmt.Sprintf("⚠️ Mimir keeps no history for this workspace: %v", err)}
	}
	j, status, err := journal.Open(ws.StateDir(), s.log)
	var warnings []string
	if status.Damaged != "" {
		warnings = append(warnings, fmt.Sprintf("⚠️ Mimir's execution history was damaged (%v); a copy is kept at %s and a new history started.", status.Err, status.Damaged))
	}
	switch {
	case errors.Is(err, journal.ErrJournalBusy):
		warnings = append(warnings, fmt.Sprintf("⚠️ %v: this window's executions run, but are not kept after it closes.", err))
		return nil, warnings
	case err != nil:
		warnings = append(warnings, fmt.Sprintf("⚠️ Mimir keeps no history for this workspace: %v", err))
		return nil, warnings
	}
	return j, warnings
}

func (s *server) warn(text string) {
	params, err := protocol.Marshal(&protocol.ShowMessageParams{Type: protocol.MessageTypeWarning, Message: text})
	if err == nil {
		s.notify("window/showMessage", params)
	}
}

// eventsFromJournal serves mimir/events from the journal, which holds
// every event, across restarts.
func (s *server) eventsFromJournal(ctx context.Context, p eventsParams, limit int) (eventsResult, error) {
	// Events emitted before this request (the execution-interrupted ones
	// recorded at start, say) may still be on their way to the disk.
	_, runner := s.session()
	if err := runner.Flush(); err != nil {
		return eventsResult{}, fmt.Errorf("read the journal: %w", err)
	}
	evs, err := s.journal.Events(ctx, p.Since, p.ExecutionID, limit)
	if err != nil {
		return eventsResult{}, err
	}
	if evs == nil {
		evs = []json.RawMessage{}
	}
	return eventsResult{Events: evs}, nil
}

func (s *server) resume(ctx context.Context, p executionParams) (any, error) {
	if _, err := s.lookup(p.ExecutionID); err != nil {
		return nil, err
	}
	_, runner := s.session()
	ex, err := runner.Resume(p.ExecutionID)
	if err != nil {
		return nil, rpcError(jsonrpc2.InvalidParams, &errorData{ExecutionID: p.ExecutionID}, "%v", err)
	}
	s.launch(ctx, ex, nil)
	return cancelResult{ExecutionID: ex.ID(), Status: engine.StatusRunning}, nil
}

type pruneParams struct {
	OlderThan string `json:"olderThan,omitempty"`
	Keep      int    `json:"keep,omitempty"`
}

func (s *server) prune(_ context.Context, p pruneParams) (any, error) {
	maxAge, err := age.Parse(p.OlderThan)
	if err != nil {
		return nil, invalidParams("mimir/prune", err)
	}
	if maxAge == 0 && p.Keep <= 0 {
		return nil, invalidParams("mimir/prune", errors.New(`say what to remove: olderThan (like "7d") and/or keep (how many of the newest to keep)`))
	}
	_, runner := s.session()
	removed, err := runner.Prune(maxAge, p.Keep)
	if removed == nil {
		removed = []string{}
	}
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return map[string]any{"removed": removed}, nil
}
