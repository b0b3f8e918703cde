package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/fileuri"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// Workflow files get live diagnostics: every problem the validator finds,
// at its line and column, as the user types (didOpen/didChange) and when
// the file changes on disk (the watcher). Any LSP editor shows them.

type workflowInfo struct {
	Path     string           `json:"path"`
	Name     string           `json:"name,omitempty"`
	Tasks    int              `json:"tasks"`
	Valid    bool             `json:"valid"`
	Problems []engine.Problem `json:"problems"`
}

// workflowsResult answers mimir/workflows.
type workflowsResult struct {
	Workflows []workflowInfo `json:"workflows"`
}

// workflows lists the workspace's workflow files, each validated.
func (s *server) workflows(ctx context.Context, _ struct{}) (workflowsResult, error) {
	ws, _ := s.session()
	paths, err := ws.FindWorkflows(ctx)
	if err != nil {
		return workflowsResult{}, err
	}
	out := make([]workflowInfo, 0, len(paths))
	for _, rel := range paths {
		info := workflowInfo{Path: rel, Problems: []engine.Problem{}}
		wf, err := readWorkflow(ws, rel)
		var invalid *engine.ValidationError
		switch {
		case errors.As(err, &invalid):
			info.Problems = invalid.Problems
		case err != nil:
			info.Problems = []engine.Problem{{File: rel, Message: err.Error()}}
		default:
			info.Name, info.Tasks, info.Valid = wf.Name, len(wf.Tasks), true
		}
		out = append(out, info)
	}
	return workflowsResult{Workflows: out}, nil
}

// readWorkflow reads a workflow file of the workspace (a path as
// workspace.Rel takes it) through the workspace's root and parses it: a
// link out of the workspace, a named pipe or a file too large to be a
// workflow is refused with an error that quotes none of its text.
func readWorkflow(ws *workspace.Workspace, path string) (*engine.Workflow, error) {
	data, err := ws.ReadFile(path, engine.MaxWorkflowSize)
	if err != nil {
		return nil, err
	}
	rel, err := ws.Rel(path)
	if err != nil {
		return nil, err
	}
	return engine.ParseWorkflowFile(filepath.Join(ws.Dir(), filepath.FromSlash(rel)), data)
}

// startDiagnostics validates every workflow on disk once and then whenever
// one changes; it runs until the connection ends.
func (s *server) startDiagnostics(ws *workspace.Workspace) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		watch := func(changed func(rel string)) (io.Closer, error) { return ws.Watch(s.log, changed) }
		diagnose := func(rel string) { s.diagnoseFile(ws, rel) }
		w := watchThenScan(s.ctx, s.log, watch, ws.FindWorkflows, diagnose)
		if w == nil {
			return
		}
		<-s.ctx.Done()
		w.Close()
	}()
}

// watchThenScan starts the watcher before it lists the workflows on disk:
// the other way round, a file created between the listing and the
// watcher's start is never diagnosed. A file that both report while the
// listing runs is diagnosed once, and diagnoses run one at a time, so an
// older reading of a file never overwrites a newer one. It returns the
// running watcher, or nil when the workspace cannot be watched.
func watchThenScan(ctx context.Context, log *slog.Logger,
	watch func(changed func(rel string)) (io.Closer, error),
	scan func(context.Context) ([]string, error),
	diagnose func(rel string)) io.Closer {
	var (
		mu       sync.Mutex // held while diagnosing
		scanning = true
		changed  []string // reported by the watcher while the listing runs
	)
	w, err := watch(func(rel string) {
		mu.Lock()
		defer mu.Unlock()
		if scanning {
			changed = append(changed, rel)
			return
		}
		diagnose(rel)
	})
	if err != nil {
		log.Warn("cannot watch the workspace for workflow changes", "err", err)
		w = nil
	}
	paths, err := scan(ctx)
	if err != nil {
		log.Debug("find workflows", "err", err)
	}
	mu.Lock()
	defer mu.Unlock()
	scanning = false
	done := make(map[string]bool, len(paths)+len(changed))
	for _, rel := range append(paths, changed...) {
		if !done[rel] {
			done[rel] = true
			diagnose(rel)
		}
	}
	return w
}

// diagnoseFile validates a workflow as it is on disk, unless the editor
// has it open: then the editor's text is the truth.
func (s *server) diagnoseFile(ws *workspace.Workspace, rel string) {
	path := filepath.Join(ws.Dir(), filepath.FromSlash(rel))
	uri := fileURI(path)
	s.mu.Lock()
	_, open := s.openDocs[uri]
	s.mu.Unlock()
	if open {
		return
	}
	data, err := ws.ReadFile(rel, engine.MaxWorkflowSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.publishDiagnostics(uri, nil, nil)
	case err != nil:
		// Why it cannot be checked (a link out of the workspace, a named
		// pipe) is itself the file's problem.
		s.publishDiagnostics(uri, nil, []engine.Problem{{File: rel, Line: 1, Column: 1, Message: err.Error()}})
	default:
		s.diagnoseText(uri, path, data)
	}
}

func (s *server) diagnoseText(uri, path string, text []byte) {
	_, err := engine.ParseWorkflow(filepath.Base(path), text)
	var invalid *engine.ValidationError
	if errors.As(err, &invalid) {
		s.publishDiagnostics(uri, text, invalid.Problems)
		return
	}
	s.publishDiagnostics(uri, text, nil)
}

type position struct {
	Line      int `json:"line"`
	Character int `json:"character"`
}

type diagnostic struct {
	Range struct {
		Start position `json:"start"`
		End   position `json:"end"`
	} `json:"range"`
	Severity int    `json:"severity"`
	Source   string `json:"source"`
	Message  string `json:"message"`
}

// publishDiagnostics sends the problems (none clears them) with LSP's
// zero-based positions, each spanning to the end of its line.
func (s *server) publishDiagnostics(uri string, text []byte, problems []engine.Problem) {
	lines := strings.Split(string(text), "\n")
	diags := make([]diagnostic, 0, len(problems))
	for _, p := range problems {
		var d diagnostic
		line := max(p.Line-1, 0)
		d.Range.Start = position{Line: line, Character: max(p.Column-1, 0)}
		end := d.Range.Start.Character + 1
		if line < len(lines) {
			end = max(end, utf16Len(strings.TrimRight(lines[line], "\r")))
		}
		d.Range.End = position{Line: line, Character: end}
		d.Severity, d.Source, d.Message = 1, "mimir", p.Message
		diags = append(diags, d)
	}
	params, err := encode(map[string]any{"uri": uri, "diagnostics": diags})
	if err == nil {
		s.notify("textDocument/publishDiagnostics", params)
	}
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func fileURI(path string) string { return fileuri.FromPath(path) }

// workflowURI turns a file URI back into the path of a workflow inside the
// workspace; false for any other URI.
func (s *server) workflowURI(uri string) (string, bool) {
	path, ok := fileuri.ToPath(uri)
	if !ok {
		return "", false
	}
	ws, _ := s.session()
	rel, err := ws.Rel(path)
	if err != nil || !workspace.IsWorkflowFile(rel) {
		return "", false
	}
	return filepath.Join(ws.Dir(), filepath.FromSlash(rel)), true
}

type textDocument struct {
	URI  string `json:"uri"`
	Text string `json:"text"`
}

func (s *server) didOpen(_ context.Context, params json.RawMessage) (any, error) {
	var p struct {
		TextDocument textDocument `json:"textDocument"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, err
	}
	return nil, s.documentText(p.TextDocument.URI, p.TextDocument.Text)
}

func (s *server) didChange(_ context.Context, params json.RawMessage) (any, error) {
	var p struct {
		TextDocument   textDocument `json:"textDocument"`
		ContentChanges []struct {
			Text string `json:"text"`
		} `json:"contentChanges"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, err
	}
	if n := len(p.ContentChanges); n > 0 {
		// Full sync: the last change is the whole document.
		return nil, s.documentText(p.TextDocument.URI, p.ContentChanges[n-1].Text)
	}
	return nil, nil
}

func (s *server) didClose(_ context.Context, params json.RawMessage) (any, error) {
	var p struct {
		TextDocument textDocument `json:"textDocument"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.openDocs, p.TextDocument.URI)
	s.mu.Unlock()
	if path, ok := s.workflowURI(p.TextDocument.URI); ok {
		ws, _ := s.session()
		rel, _ := filepath.Rel(ws.Dir(), path)
		s.diagnoseFile(ws, filepath.ToSlash(rel))
	}
	return nil, nil
}

func (s *server) documentText(uri, text string) error {
	path, ok := s.workflowURI(uri)
	if !ok {
		return nil // not a workflow: not ours to judge
	}
	s.mu.Lock()
	s.openDocs[uri] = true
	s.mu.Unlock()
	s.diagnoseText(uri, path, []byte(text))
	return nil
}
