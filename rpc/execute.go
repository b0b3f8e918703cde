package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"go.lsp.dev/jsonrpc2"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

type executeParams struct {
	// Workflow is a path inside the workspace.
	Workflow string `json:"workflow,omitempty"`
	// Inline is the workflow itself: YAML or JSON text, or a JSON object.
	Inline      json.RawMessage `json:"inline,omitempty"`
	AutoSave    *bool           `json:"autoSave,omitempty"`
	Parallelism int             `json:"parallelism,omitempty"`
}

type executeResult struct {
	ExecutionID string `json:"executionId"`
	Workflow    string `json:"workflow"`
	Tasks       int    `json:"tasks"`
}

// execSettings are what one execution was started with.
type execSettings struct {
	autoSave bool
}

type requestIDKey struct{}

// execute prepares the execution and starts it only once the answer
// carrying its id has been written: a client never sees an event for an
// execution it has not heard of.
func (s *server) execute(ctx context.Context, p executeParams) (any, error) {
	ws, runner := s.session()
	wf, err := s.loadWorkflow(ws, p)
	if err != nil {
		return nil, err
	}
	ex, err := runner.Prepare(wf, engine.ExecOptions{Parallelism: p.Parallelism})
	var agentErr *engine.AgentError
	switch {
	case errors.As(err, &agentErr):
		return nil, rpcError(CodeAgentUnavailable, &errorData{Path: wf.Path, TaskID: agentErr.TaskID}, "start workflow %s: %v", wf.Name, err)
	case errors.Is(err, engine.ErrSandboxUnavailable):
		return nil, rpcError(CodeSandboxUnavailable, &errorData{Path: wf.Path}, "start workflow %s: %v", wf.Name, err)
	case err != nil:
		return nil, rpcError(jsonrpc2.InternalError, &errorData{Path: wf.Path}, "start workflow %s: %v", wf.Name, err)
	}
	s.launch(ctx, ex, p.AutoSave)
	return executeResult{ExecutionID: ex.ID(), Workflow: wf.Name, Tasks: len(wf.Tasks)}, nil
}

// launch starts a prepared execution, fresh or resumed, once the answer to
// the request that made it is written, and saves its deliverables when it
// completes if autoSave (else the session's setting) says so.
func (s *server) launch(ctx context.Context, ex *engine.Execution, autoSave *bool) {
	s.mu.Lock()
	save := s.settings.AutoSave
	if autoSave != nil {
		save = *autoSave
	}
	s.execSettings[ex.ID()] = execSettings{autoSave: save}
	s.mu.Unlock()

	if id, ok := ctx.Value(requestIDKey{}).(jsonrpc2.ID); ok {
		s.stream.afterResponse(id, ex.Start)
	} else {
		ex.Start()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.afterExecution(ex)
	}()
}

func (s *server) loadWorkflow(ws *workspace.Workspace, p executeParams) (*engine.Workflow, error) {
	var (
		wf  *engine.Workflow
		err error
	)
	switch {
	case p.Workflow != "" && len(p.Inline) > 0:
		return nil, invalidParams("mimir/execute", errors.New("give either workflow (a path) or inline, not both"))
	case p.Workflow != "":
		rel, rerr := ws.Rel(p.Workflow)
		if rerr != nil {
			return nil, rpcError(CodePathNotAllowed, &errorData{Path: p.Workflow}, "workflow %q: %v", p.Workflow, rerr)
		}
		path := filepath.Join(ws.Dir(), filepath.FromSlash(rel))
		wf, err = readWorkflow(ws, rel)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, rpcError(CodeWorkflowNotFound, &errorData{Path: path}, "workflow %s does not exist: give a path inside the workspace %s", rel, ws.Dir())
		case errors.Is(err, workspace.ErrOutside):
			return nil, rpcError(CodePathNotAllowed, &errorData{Path: path}, "workflow %v", err)
		}
	case len(p.Inline) > 0:
		text := []byte(p.Inline)
		var s string
		if json.Unmarshal(p.Inline, &s) == nil {
			text = []byte(s)
		}
		wf, err = engine.ParseWorkflow("<inline>", text)
		if err == nil {
			wf.Dir = ws.Dir()
		}
	default:
		return nil, invalidParams("mimir/execute", errors.New("give workflow (a path inside the workspace) or inline (the workflow's YAML or JSON)"))
	}
	var invalid *engine.ValidationError
	if errors.As(err, &invalid) {
		return nil, rpcError(CodeInvalidWorkflow, &errorData{Path: p.Workflow, Problems: invalid.Problems}, "%v", err)
	}
	if err != nil {
		return nil, rpcError(CodeWorkflowNotFound, &errorData{Path: p.Workflow}, "%v", err)
	}
	return wf, nil
}

// afterExecution saves the deliverables of a completed execution when the
// client asked for that.
func (s *server) afterExecution(ex *engine.Execution) {
	select {
	case <-ex.Done():
	case <-s.ctx.Done():
		return
	}
	s.mu.Lock()
	settings := s.execSettings[ex.ID()]
	delete(s.execSettings, ex.ID())
	folder := s.settings.DeliverablesFolder
	s.mu.Unlock()
	if !settings.autoSave || ex.Summary().Status != engine.StatusCompleted {
		return
	}
	_, err := s.save(s.ctx, ex, nil, folder, workspace.KeepBoth)
	if err == nil || s.ctx.Err() != nil {
		return
	}
	// Nobody waits for an answer here: the failure is told the way a
	// save is, as a deliverables-saved event (and its error toast).
	s.log.Warn("auto-save deliverables", "execution", ex.ID(), "err", err)
	ws, _ := s.session()
	report := ws.FailedSave(folder, deliverablePaths(ex.Deliverables()), err.Error())
	ex.RecordSaveFailed(report.Target, report.Failed, report.Results, err.Error())
}

func deliverablePaths(ds []engine.Deliverable) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Path
	}
	return out
}

type cancelParams struct {
	ExecutionID string `json:"executionId"`
}

type cancelResult struct {
	ExecutionID string `json:"executionId"`
	Status      string `json:"status"`
}

func (s *server) cancelExecution(_ context.Context, p cancelParams) (cancelResult, error) {
	return s.cancelByID(p.ExecutionID)
}

func (s *server) cancelByID(id string) (cancelResult, error) {
	ex, err := s.lookup(id)
	if err != nil {
		return cancelResult{}, err
	}
	// Cancel decides under the engine's lock: "cancelling" promises an
	// execution-cancelled, a finished execution answers its final status.
	return cancelResult{ExecutionID: id, Status: ex.Cancel("cancelled by the user")}, nil
}

// progressCancel is the editor's cancel button on an execution's progress.
func (s *server) progressCancel(_ context.Context, params json.RawMessage) (any, error) {
	var p struct {
		Token json.RawMessage `json:"token"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, invalidParams("window/workDoneProgress/cancel", err)
	}
	var token string
	if err := json.Unmarshal(p.Token, &token); err != nil || !strings.HasPrefix(token, progressPrefix) {
		return nil, fmt.Errorf("progress token %s is not one of this sidecar's", p.Token)
	}
	_, err := s.cancelByID(strings.TrimPrefix(token, progressPrefix))
	return nil, err
}
