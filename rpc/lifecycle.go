package rpc

//lint:file-ignore SA1019 workspaceDir reads rootUri and rootPath: older clients send only those

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// initOptions are the client's initializationOptions.
type initOptions struct {
	// Toasts is which window/showMessage toasts to send: all, failures, none.
	Toasts string `json:"toasts"`
	// Progress false turns work-done progress off.
	Progress *bool `json:"progress"`
	// AutoSave saves each completed execution's deliverables.
	AutoSave           bool   `json:"autoSave"`
	DeliverablesFolder string `json:"deliverablesFolder"`
}

const (
	toastsAll      = "all"
	toastsFailures = "failures"
	toastsNone     = "none"
)

type sseInfo struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

type mimirInfo struct {
	ProtocolVersion string   `json:"protocolVersion"`
	Workspace       string   `json:"workspace"`
	SSE             *sseInfo `json:"sse,omitempty"`
}

func (s *server) initialize(ctx context.Context, params json.RawMessage) (any, error) {
	growStack(0)
	var p protocol.InitializeParams
	if err := protocol.Unmarshal(params, &p); err != nil {
		return nil, invalidParams("initialize", err)
	}
	opts := initOptions{Toasts: toastsAll, DeliverablesFolder: "deliverables"}
	if len(p.InitializationOptions) > 0 && string(p.InitializationOptions) != "null" {
		if err := json.Unmarshal(p.InitializationOptions, &opts); err != nil {
			return nil, invalidParams("initialize", fmt.Errorf("initializationOptions: %w", err))
		}
	}
	switch opts.Toasts {
	case toastsAll, toastsFailures, toastsNone:
	case "":
		opts.Toasts = toastsAll
	default:
		return nil, invalidParams("initialize", fmt.Errorf("initializationOptions.toasts %q: use all, failures or none", opts.Toasts))
	}
	if opts.DeliverablesFolder == "" {
		opts.DeliverablesFolder = "deliverables"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != uninitialized {
		return nil, rpcError(jsonrpc2.InvalidRequest, &errorData{Method: "initialize"}, "initialize was already called")
	}
	dir := workspaceDir(&p, s.opts.DefaultWorkspace)
	ws, err := workspace.Open(dir)
	if err != nil {
		return nil, rpcError(CodePathNotAllowed, &errorData{Path: dir}, "open the workspace: %v", err)
	}
	if _, err := ws.Rel(opts.DeliverablesFolder); err != nil {
		return nil, invalidParams("initialize", fmt.Errorf("initializationOptions.deliverablesFolder: %w", err))
	}
	agents, err := s.opts.Agents(ws)
	if err != nil {
		return nil, rpcError(jsonrpc2.InternalError, &errorData{Path: ws.Dir()}, "set up the agents for %s: %v", ws.Dir(), err)
	}
	var fence engine.SandboxSettings
	var fenceWarnings []string
	if s.opts.Sandbox != nil {
		if fence, fenceWarnings, err = s.opts.Sandbox(ws); err != nil {
			return nil, rpcError(jsonrpc2.InternalError, &errorData{Path: ws.Dir()}, "read the sandbox settings for %s: %v", ws.Dir(), err)
		}
	}
	journal, warnings := s.openJournal(ws)
	warnings = append(warnings, fenceWarnings...)
	// The client hears of what happens from here on: the events of this
	// session, the first of which (executions a crash interrupted) the
	// runner records as it starts.
	var from uint64
	if journal != nil {
		if last, err := journal.LastSeq(); err == nil {
			from = last
		}
	}
	runOpts := engine.Options{
		Workspace: ws.Dir(),
		StateDir:  ws.StateDir(),
		Agents:    agents,
		Logger:    s.log,
		Sandbox:   fence,
		Sink:      eventSink{s},
	}
	if journal != nil { // a nil *journal.Journal would be a journal, not none
		runOpts.Journal = journal
		// A configuration that cannot be read removes nothing.
		retention, retentionWarnings, err := engine.LoadRetention(ws.Dir())
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("⚠️ Mimir keeps every past execution for now: %v", err))
		} else {
			runOpts.Retention = &retention
		}
		warnings = append(warnings, retentionWarnings...)
	}
	if s.opts.Dispatcher != nil {
		d, msgs, err := s.opts.Dispatcher(ctx, ws)
		warnings = append(warnings, msgs...)
		if err != nil {
			if journal != nil {
				_ = journal.Close() // and its lock, so that initialize can be tried again
			}
			return nil, rpcError(jsonrpc2.InternalError, &errorData{Path: ws.Dir()}, "connect to the workers: %v (start the sidecar without --nats to run attempts here)", err)
		}
		if d != nil {
			runOpts.Dispatcher, s.dispatcher = d, d
		}
	}
	runner := engine.NewRunner(s.ctx, runOpts)
	info := mimirInfo{ProtocolVersion: ProtocolVersion, Workspace: ws.Dir()}
	if s.opts.StartMirror != nil {
		m, err := s.opts.StartMirror(ws, s.hub, runner, journal)
		if err != nil {
			// Let go of the journal (and its lock) so that initialize can
			// be tried again.
			_ = runner.Close(ctx)
			return nil, rpcError(jsonrpc2.InternalError, nil, "start the SSE mirror: %v (start the sidecar with --no-sse to run without it)", err)
		}
		s.mirror = m
		info.SSE = &sseInfo{URL: m.URL(), Token: m.Token()}
	}
	s.ws, s.runner, s.settings = ws, runner, opts
	s.progress = p.Capabilities.Window != nil && p.Capabilities.Window.WorkDoneProgress != nil &&
		*p.Capabilities.Window.WorkDoneProgress && (opts.Progress == nil || *opts.Progress)
	s.state = running
	// Diagnostics are notifications, which LSP allows only once the client
	// has the answer to initialize.
	s.journal = journal
	if id, ok := ctx.Value(requestIDKey{}).(jsonrpc2.ID); ok {
		s.stream.afterResponse(id, func() {
			s.startForwarding(from)
			s.startDiagnostics(ws)
			for _, w := range warnings {
				s.warn(w)
			}
		})
	}
	s.log.Info("initialized", "workspace", ws.Dir(), "client", p.ClientInfo.Name)

	result := protocol.InitializeResult{
		Capabilities: protocol.ServerCapabilities{
			ExecuteCommandProvider: protocol.ExecuteCommandOptions{Commands: commandNames()},
			TextDocumentSync: &protocol.TextDocumentSyncOptions{
				OpenClose: ptr(true),
				Change:    ptr(protocol.TextDocumentSyncKindFull),
			},
		},
		ServerInfo: protocol.ServerInfo{Name: "mimir-sidecar", Version: protocol.NewOptional(s.opts.Version)},
	}
	return withMember(result, "mimir", info)
}

// withMember encodes an LSP result and adds a member of our own, which
// clients that do not know it ignore.
func withMember(v any, name string, member any) (jsonrpc2.RawMessage, error) {
	base, err := protocol.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(base, &obj); err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	if obj[name], err = json.Marshal(member); err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return encode(obj)
}

// workspaceDir picks the first workspace folder, else rootUri, else
// rootPath, else the default. The deprecated fields are read on purpose:
// older clients (Neovim 0.7's among them) send only those.
func workspaceDir(p *protocol.InitializeParams, def string) string {
	if folders, ok := p.WorkspaceFolders.Get(); ok && len(folders) > 0 {
		return uri.URI(folders[0].URI).FsPath()
	}
	if p.RootURI != nil && *p.RootURI != "" {
		return p.RootURI.FsPath()
	}
	if root, ok := p.RootPath.Get(); ok && root != "" {
		return root
	}
	if def != "" {
		return def
	}
	wd, _ := os.Getwd()
	return wd
}

func (s *server) initialized(context.Context, json.RawMessage) (any, error) { return nil, nil }

// shutdown stops the running executions before it answers: an editor may
// kill the sidecar as soon as it has the answer (Emacs' jsonrpc does), and
// their commands must not be left behind. The wait ends with ctx, or past
// StopTimeout.
func (s *server) shutdown(ctx context.Context, _ json.RawMessage) (any, error) {
	s.mu.Lock()
	s.state = shutDown
	runner := s.runner
	s.mu.Unlock()
	if runner == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.StopTimeout)
	defer cancel()
	var stopping []*engine.Execution
	for _, ex := range runner.Running() {
		if ex.Cancel("the editor shut the sidecar down") == engine.StatusCancelling {
			stopping = append(stopping, ex)
		}
	}
	for _, ex := range stopping {
		select {
		case <-ex.Done():
		case <-ctx.Done():
			s.log.Warn("executions did not stop before the answer to shutdown", "err", ctx.Err())
			return nil, nil
		}
	}
	return nil, nil
}

func (s *server) exit(context.Context, json.RawMessage) (any, error) {
	s.exitOnce.Do(func() { close(s.exited) })
	return nil, nil
}
