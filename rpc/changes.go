package rpc

import (
	"context"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

type applyParams struct {
	ExecutionID string   `json:"executionId"`
	Tasks       []string `json:"tasks,omitempty"`
	// Branch commits the change on a new branch instead of applying it to
	// the working tree.
	Branch string `json:"branch,omitempty"`
}

type applyResult struct {
	ExecutionID string `json:"executionId"`
	workspace.ApplyReport
	Message string `json:"message"`
}

// applyChanges applies the changes of an execution's isolated tasks to the
// working tree (or commits them on a branch) and reports it with a
// changes-applied event. Conflicts are a result, not an error: nothing was
// written and the result says why, per file.
func (s *server) applyChanges(ctx context.Context, p applyParams) (any, error) {
	ex, err := s.lookup(p.ExecutionID)
	if err != nil {
		return nil, err
	}
	cs, err := ex.ChangeSet(p.Tasks)
	if err != nil {
		return nil, rpcError(CodeNoChanges, &errorData{ExecutionID: ex.ID()}, "%v", err)
	}
	ws, _ := s.session()
	rep, err := ws.ApplyChanges(ctx, workspace.Change(cs), workspace.ApplyOptions{Branch: p.Branch})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, rpcError(CodeApplyFailed, &errorData{ExecutionID: ex.ID()}, "%v", err)
	}
	ex.RecordApplied(ctx, rep.Status, rep.Branch, rep.Applied, rep.Conflicts, rep.Files)
	return applyResult{
		ExecutionID: ex.ID(),
		ApplyReport: rep,
		Message:     engine.AppliedMessage(rep.Status, rep.Branch, rep.Applied, rep.Conflicts),
	}, nil
}

// discardChanges removes an execution's worktrees.
func (s *server) discardChanges(ctx context.Context, p executionParams) (any, error) {
	ex, err := s.lookup(p.ExecutionID)
	if err != nil {
		return nil, err
	}
	if err := ex.DiscardChanges(ctx); err != nil {
		return nil, rpcError(CodeApplyFailed, &errorData{ExecutionID: ex.ID()}, "%v", err)
	}
	return struct {
		ExecutionID string `json:"executionId"`
	}{ex.ID()}, nil
}
