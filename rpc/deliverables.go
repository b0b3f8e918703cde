package rpc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

type deliverablesResult struct {
	ExecutionID  string               `json:"executionId"`
	Deliverables []engine.Deliverable `json:"deliverables"`
}

func (s *server) deliverables(_ context.Context, p executionParams) (any, error) {
	ex, err := s.lookup(p.ExecutionID)
	if err != nil {
		return nil, err
	}
	return deliverablesResult{ExecutionID: ex.ID(), Deliverables: ex.Deliverables()}, nil
}

type saveParams struct {
	ExecutionID string   `json:"executionId"`
	Paths       []string `json:"paths,omitempty"`
	Target      string   `json:"target,omitempty"`
	Conflict    string   `json:"conflict,omitempty"`
}

type saveResult struct {
	ExecutionID string                 `json:"executionId"`
	Target      string                 `json:"target"`
	Saved       int                    `json:"saved"`
	Failed      int                    `json:"failed"`
	Results     []workspace.FileResult `json:"results"`
	Message     string                 `json:"message"`
}

func (s *server) saveDeliverables(ctx context.Context, p saveParams) (any, error) {
	ex, err := s.lookup(p.ExecutionID)
	if err != nil {
		return nil, err
	}
	policy, err := workspace.ParseConflict(p.Conflict)
	if err != nil {
		return nil, invalidParams("mimir/saveDeliverables", err)
	}
	if p.Target == "" {
		s.mu.Lock()
		p.Target = s.settings.DeliverablesFolder
		s.mu.Unlock()
	}
	res, err := s.save(ctx, ex, p.Paths, p.Target, policy)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// save copies deliverables (all when paths is empty) into target and
// reports it with a deliverables-saved event.
func (s *server) save(ctx context.Context, ex *engine.Execution, paths []string, target string, policy workspace.Conflict) (saveResult, error) {
	ws, _ := s.session()
	if _, err := ws.Rel(target); err != nil {
		return saveResult{}, rpcError(CodePathNotAllowed, &errorData{ExecutionID: ex.ID(), Path: target},
			"target folder %q: %v; choose a folder inside the workspace %s", target, err, ws.Dir())
	}
	have := ex.Deliverables()
	if len(paths) == 0 {
		paths = deliverablePaths(have)
	} else if missing := unknownPaths(paths, have); len(missing) > 0 {
		return saveResult{}, rpcError(CodeDeliverableNotFound, &errorData{ExecutionID: ex.ID(), Path: missing[0]},
			"execution %s has no deliverable %s: list them with mimir/deliverables", ex.ID(), strings.Join(missing, ", "))
	}
	report, err := ws.Save(ctx, ex.StagingDir(), paths, workspace.SaveOptions{Target: target, Conflict: policy})
	if err != nil {
		if ctx.Err() != nil {
			return saveResult{}, ctx.Err()
		}
		return saveResult{}, rpcError(CodePathNotAllowed, &errorData{ExecutionID: ex.ID(), Path: target}, "%v", err)
	}
	ex.RecordSaved(report.Target, report.Saved, report.Failed, report.Results)
	return saveResult{
		ExecutionID: ex.ID(),
		Target:      report.Target,
		Saved:       report.Saved,
		Failed:      report.Failed,
		Results:     report.Results,
		Message:     engine.SavedMessage(report.Saved, report.Failed, report.Target, report.Results),
	}, nil
}

func unknownPaths(paths []string, have []engine.Deliverable) []string {
	known := make(map[string]bool, len(have))
	for _, d := range have {
		known[d.Path] = true
	}
	var missing []string
	for _, p := range paths {
		if !known[p] {
			missing = append(missing, p)
		}
	}
	return missing
}

type readParams struct {
	ExecutionID string `json:"executionId"`
	Path        string `json:"path"`
	Offset      int64  `json:"offset,omitempty"`
	Limit       int    `json:"limit,omitempty"`
}

type readResult struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Offset    int64  `json:"offset"`
	Encoding  string `json:"encoding"`
	Content   string `json:"content"`
	Truncated bool   `json:"truncated"`
}

const (
	defaultReadLimit = 64 << 10
	maxReadLimit     = 1 << 20
)

// readDeliverable returns a bounded slice of a deliverable, for previews:
// UTF-8 text as is, anything else as base64.
func (s *server) readDeliverable(_ context.Context, p readParams) (any, error) {
	ex, err := s.lookup(p.ExecutionID)
	if err != nil {
		return nil, err
	}
	if len(unknownPaths([]string{p.Path}, ex.Deliverables())) > 0 {
		return nil, rpcError(CodeDeliverableNotFound, &errorData{ExecutionID: ex.ID(), Path: p.Path},
			"execution %s has no deliverable %q: list them with mimir/deliverables", ex.ID(), p.Path)
	}
	if p.Offset < 0 {
		return nil, invalidParams("mimir/readDeliverable", errors.New("offset must not be negative"))
	}
	limit := p.Limit
	if limit <= 0 {
		limit = defaultReadLimit
	}
	limit = min(limit, maxReadLimit)

	root, err := os.OpenRoot(ex.StagingDir())
	if err != nil {
		return nil, fmt.Errorf("read deliverable %s: %w", p.Path, err)
	}
	defer root.Close()
	f, st, err := safefile.OpenNoFollow(root, p.Path)
	if safefile.IsNotRegular(err) {
		return nil, rpcError(CodeDeliverableNotFound, &errorData{ExecutionID: ex.ID(), Path: p.Path},
			"read deliverable %s: %v (it was replaced after its task ended); only regular files are read", p.Path, err)
	}
	if err != nil {
		return nil, rpcError(CodeDeliverableNotFound, &errorData{ExecutionID: ex.ID(), Path: p.Path}, "read deliverable %s: %v", p.Path, err)
	}
	defer f.Close()
	buf := make([]byte, limit)
	n, err := f.ReadAt(buf, p.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read deliverable %s: %w", p.Path, err)
	}
	buf = buf[:n]
	truncated := p.Offset+int64(n) < st.Size()
	res := readResult{Path: p.Path, Size: st.Size(), Offset: p.Offset, Truncated: truncated}
	text := buf
	if truncated {
		text = trimPartialRune(buf)
	}
	if utf8.Valid(text) {
		res.Encoding, res.Content = "utf-8", string(text)
	} else {
		res.Encoding, res.Content = "base64", base64.StdEncoding.EncodeToString(buf)
	}
	return res, nil
}

// trimPartialRune drops a character cut in half by the read limit.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}
