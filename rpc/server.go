// Package rpc is the sidecar's stdio JSON-RPC server: the LSP lifecycle, the
// mimir/* methods, and the engine's events turned into notifications
// (mimir/event, $/progress, window/showMessage). It is a thin layer: the work
// is done by the engine, notify and workspace packages.
//
// Every method is one line of methodTable (server.go): its handler takes
// its params decoded and returns its result (see typed), and the
// workspace/executeCommand commands are read off the same table. One file
// per method group: lifecycle.go, execute.go, executions.go,
// deliverables.go, commands.go; notifications.go and toasts.go for what the
// server sends unasked, with the work-done progress in internal/progress.
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"go.lsp.dev/jsonrpc2"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/acp"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// ProtocolVersion is the version of docs/protocol.md this server speaks.
const ProtocolVersion = "1.0"

// DefaultMaxMessage bounds one incoming message.
const DefaultMaxMessage = 64 << 20

// Mirror is a running SSE mirror of the events.
type Mirror interface {
	URL() string
	Token() string
	Shutdown(ctx context.Context) error
}

// MirrorFunc adapts a function starting a mirror of a concrete type (such
// as internal/mirror's Options.Start) to Options.StartMirror.
func MirrorFunc[M Mirror](start func(*workspace.Workspace, *notify.Hub, *engine.Runner, *journal.Journal) (M, error)) func(*workspace.Workspace, *notify.Hub, *engine.Runner, *journal.Journal) (Mirror, error) {
	return func(ws *workspace.Workspace, hub *notify.Hub, runner *engine.Runner, journal *journal.Journal) (Mirror, error) {
		m, err := start(ws, hub, runner, journal)
		if err != nil {
			return nil, err // not m: a nil *T in the interface would not be nil
		}
		return m, nil
	}
}

// Options configure a server.
type Options struct {
	Version string
	Logger  *slog.Logger
	// MaxMessage bounds one incoming message's body (default 64 MiB).
	MaxMessage int
	// MaxUnanswered bounds the requests read and not yet answered
	// (default DefaultMaxUnanswered): past it the server reads nothing
	// more until the client takes its answers.
	MaxUnanswered int
	// DefaultWorkspace is used when the client names no workspace.
	DefaultWorkspace string
	// Agents gives the agent types available in a workspace; default
	// the exec agent alone.
	Agents func(ws *workspace.Workspace) (engine.Agents, error)
	// Sandbox gives the user's sandbox settings for a workspace and
	// warnings to show; default: the zero settings (fence where the
	// kernel can).
	Sandbox func(ws *workspace.Workspace) (engine.SandboxSettings, []string, error)
	// Dispatcher, when set, gives the workspace's Dispatcher (nil: attempts
	// run here) and messages for the user.
	Dispatcher func(ctx context.Context, ws *workspace.Workspace) (Dispatcher, []string, error)
	// StartMirror starts the SSE mirror for a workspace; nil runs none.
	StartMirror func(ws *workspace.Workspace, hub *notify.Hub, runner *engine.Runner, journal *journal.Journal) (Mirror, error)
	// StopTimeout is the one deadline for stopping once the editor goes
	// away: the running executions, the editor being sent their last
	// events, and the writes still under way all share it (default 1.5s,
	// inside LSP's usual 2s). A client that closed its end gets as long
	// again to read the answers it is still owed.
	StopTimeout time.Duration
}

// Dispatcher runs attempts elsewhere (engine/remote's), closed once the
// runner has stopped.
type Dispatcher interface {
	engine.Dispatcher
	Close() error
}

type lifecycle int

const (
	uninitialized lifecycle = iota
	running
	shutDown
)

// server serves one editor connection.
type server struct {
	opts Options
	log  *slog.Logger
	hub  *notify.Hub

	stream *stream
	conn   jsonrpc2.Conn

	// ctx lives as long as the connection; background work hangs off it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	exited chan struct{}
	// The event forwarder starts once the client has initialize's answer
	// (LSP allows no notification before it); forwarded is closed when it
	// has returned, or at stop if it never started.
	forwardOnce sync.Once
	forwarded   chan struct{}

	mu           sync.Mutex
	state        lifecycle
	exitOnce     sync.Once
	ws           *workspace.Workspace
	runner       *engine.Runner
	mirror       Mirror
	dispatcher   Dispatcher
	settings     initOptions
	progress     bool              // the client can show work-done progress
	methods      map[string]method // by name, from methodTable
	inflight     sync.Map          // request id (JSON) → context.CancelFunc
	execSettings map[string]execSettings
	openDocs     map[string]bool  // workflow documents the editor has open, by URI
	journal      *journal.Journal // nil when another sidecar keeps the workspace's
	noticing     atomic.Bool      // a journal notice is on its way to the client
}

// method is one line of methodTable.
type method struct {
	name   string
	handle handler
	// async methods run concurrently with later requests; the lifecycle
	// ones run in wire order.
	async bool
	// command is set for the methods a generic LSP client may also run as
	// workspace/executeCommand "mimir.<name>"; a lone string argument
	// fills the params field it names (stringArg).
	command   bool
	stringArg string
}

// methodTable is every method the server answers, one line each: the
// executeCommand commands derive from it too.
func methodTable() []method {
	return []method{
		{name: "initialize", handle: raw((*server).initialize)},
		{name: "initialized", handle: raw((*server).initialized)},
		{name: "shutdown", handle: raw((*server).shutdown)},
		{name: "exit", handle: raw((*server).exit)},
		{name: "window/workDoneProgress/cancel", handle: raw((*server).progressCancel)},
		{name: "workspace/executeCommand", handle: raw((*server).executeCommand), async: true},
		{name: "mimir/execute", handle: typed((*server).execute), command: true, stringArg: "workflow"},
		{name: "mimir/cancel", handle: typed((*server).cancelExecution), async: true, command: true, stringArg: "executionId"},
		{name: "mimir/executions", handle: typed((*server).executions), async: true, command: true},
		{name: "mimir/execution", handle: typed((*server).execution), async: true, command: true, stringArg: "executionId"},
		{name: "mimir/deliverables", handle: typed((*server).deliverables), async: true, command: true, stringArg: "executionId"},
		{name: "mimir/saveDeliverables", handle: typed((*server).saveDeliverables), async: true, command: true},
		{name: "mimir/downloads", handle: typed((*server).downloads), async: true, command: true},
		{name: "mimir/readDeliverable", handle: typed((*server).readDeliverable), async: true, command: true},
		{name: "mimir/applyChanges", handle: typed((*server).applyChanges), async: true, command: true, stringArg: "executionId"},
		{name: "mimir/discardChanges", handle: typed((*server).discardChanges), async: true, command: true, stringArg: "executionId"},
		{name: "mimir/events", handle: typed((*server).events), async: true, command: true},
		{name: "mimir/sse", handle: typed((*server).sse), async: true, command: true},
		{name: "mimir/workflows", handle: typed((*server).workflows), async: true, command: true},
		{name: "mimir/resume", handle: typed((*server).resume), command: true, stringArg: "executionId"},
		{name: "mimir/prune", handle: typed((*server).prune), async: true, command: true},
		{name: "textDocument/didOpen", handle: raw((*server).didOpen)},
		{name: "textDocument/didChange", handle: raw((*server).didChange)},
		{name: "textDocument/didClose", handle: raw((*server).didClose)},
	}
}

// commandName is the executeCommand name of a command method:
// mimir/execute is mimir.execute.
func commandName(method string) string { return strings.Replace(method, "/", ".", 1) }

// commandNames lists the executeCommand commands, in table order.
func commandNames() []string {
	var names []string
	for _, m := range methodTable() {
		if m.command {
			names = append(names, commandName(m.name))
		}
	}
	return names
}

// handler answers one request or notification of the method called name,
// which its errors name.
type handler func(s *server, ctx context.Context, name string, params json.RawMessage) (any, error)

// typed adapts a method that takes its params decoded (strictly, see
// decode) and returns its result, which is encoded as the answer.
func typed[P, R any](f func(*server, context.Context, P) (R, error)) handler {
	return func(s *server, ctx context.Context, name string, params json.RawMessage) (any, error) {
		var p P
		if err := decode(name, params, &p); err != nil {
			return nil, err
		}
		r, err := f(s, ctx, p)
		if err != nil {
			return nil, err
		}
		return encode(r)
	}
}

// raw adapts a method that reads its params itself: LSP's own methods,
// read as leniently as LSP clients expect.
func raw(f func(*server, context.Context, json.RawMessage) (any, error)) handler {
	return func(s *server, ctx context.Context, _ string, params json.RawMessage) (any, error) {
		return f(s, ctx, params)
	}
}

func (s *server) registerMethods() {
	table := methodTable()
	s.methods = make(map[string]method, len(table))
	for _, m := range table {
		s.methods[m.name] = m
	}
}

// Serve speaks JSON-RPC on in/out until the client sends exit or closes its
// end, then stops every execution and returns the process exit status: 0
// after shutdown, 1 without.
func Serve(ctx context.Context, in io.ReadCloser, out io.Writer, opts Options) int {
	s := newServer(opts)
	return s.serve(ctx, in, out)
}

func newServer(opts Options) *server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = DefaultMaxMessage
	}
	if opts.MaxUnanswered <= 0 {
		opts.MaxUnanswered = DefaultMaxUnanswered
	}
	if opts.Agents == nil {
		opts.Agents = func(*workspace.Workspace) (engine.Agents, error) {
			return engine.Agents{"exec": exec.Agent(), "acp": acp.AgentWith(acp.Options{Logger: opts.Logger.With("component", "acp")})}, nil
		}
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 1500 * time.Millisecond
	}
	s := &server{
		opts:         opts,
		log:          opts.Logger,
		hub:          notify.NewHub(8192),
		exited:       make(chan struct{}),
		forwarded:    make(chan struct{}),
		execSettings: map[string]execSettings{},
		openDocs:     map[string]bool{},
	}
	s.registerMethods()
	return s
}

func (s *server) serve(ctx context.Context, in io.ReadCloser, out io.Writer) int {
	s.ctx, s.cancel = context.WithCancel(ctx)
	defer s.cancel()
	s.stream = newStream(in, out, in, s.opts.MaxMessage, s.opts.MaxUnanswered)
	s.conn = jsonrpc2.NewConn(s.stream, jsonrpc2.WithPreempter(preempter{s.cancelRequest}))
	s.conn.Go(s.ctx, s.handle)

	select {
	case <-s.conn.Done():
		s.log.Info("the editor closed the connection")
	case <-s.stream.inputEnded:
		// conn.Done waits for every answer to be written: a client that
		// closed its end but still reads gets them, one that has stopped
		// reading would hold the server up for ever.
		owed, cancel := context.WithTimeout(ctx, s.opts.StopTimeout)
		select {
		case <-s.conn.Done():
		case <-owed.Done():
			if ctx.Err() == nil {
				s.log.Warn("the editor closed its end without reading the answers still owed; they are given up")
			}
		}
		cancel()
		s.log.Info("the editor closed the connection")
	case <-s.exited:
	case <-ctx.Done():
	}
	// The caller's ctx may be what ended the connection (a signal): the
	// stop keeps its values, not its cancellation, and has a deadline of
	// its own.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.StopTimeout)
	defer cancel()
	s.stop(stopCtx)

	s.mu.Lock()
	code := 1
	if s.state == shutDown {
		code = 0
	}
	s.mu.Unlock()
	return code
}

// startForwarding starts sending the hub's events after seq from to the
// client. Called once initialize's answer is out.
func (s *server) startForwarding(from uint64) {
	s.forwardOnce.Do(func() {
		go func() {
			defer close(s.forwarded)
			s.forwardEvents(s.ctx, from)
		}()
	})
}

// stop cancels running executions and waits for them to record their
// end, then lets every goroutine go, all before ctx's deadline: the
// executions first, then the editor being sent their last events, then the
// writes still under way, each taking what the one before left.
func (s *server) stop(ctx context.Context) {
	s.mu.Lock()
	runner, mirror, dispatcher := s.runner, s.mirror, s.dispatcher
	s.mu.Unlock()
	if runner != nil {
		if err := runner.Close(ctx); err != nil {
			s.log.Warn("executions did not stop in time", "err", err)
		}
	}
	if dispatcher != nil {
		if err := dispatcher.Close(); err != nil {
			s.log.Warn("disconnect from NATS", "err", err)
		}
	}
	if mirror != nil {
		if err := mirror.Shutdown(ctx); err != nil {
			s.log.Warn("stop the SSE mirror", "err", err)
		}
	}
	// The executions' last events (execution-cancelled) are in the hub; a
	// closed hub lets the forwarder send what it holds, then return.
	s.hub.Close()
	s.forwardOnce.Do(func() { close(s.forwarded) }) // if it never started
	select {
	case <-s.forwarded:
	case <-ctx.Done():
		s.log.Warn("the editor did not read the last events in time")
	}
	s.inflight.Range(func(_, cancel any) bool {
		cancel.(context.CancelFunc)()
		return true
	})
	s.cancel()
	// Answers still owed are given up: conn.Close waits for their
	// handlers, which wait on a client that may never read.
	s.stream.abandonWrites()
	_ = s.conn.Close()
	// A client that stops reading must not keep the process alive: bound
	// the wait for writers stuck on its pipe.
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		<-s.forwarded
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("gave up waiting for writes to the editor")
	}
}

// handle dispatches one request or notification. A panic in a method is
// answered as an internal error and the connection carries on.
func (s *server) handle(reqCtx context.Context, req *jsonrpc2.Request) (result any, err error) {
	// The method name points into the read buffer, which the reader reuses
	// once an async handler has released it.
	name := strings.Clone(req.Method())
	isCall := req.IsCall()
	// The request's own context is pooled and recycled when the handler
	// returns, so nothing may derive from it; methods get a context of the
	// connection's that $/cancelRequest cancels by id.
	ctx, cancel := context.WithCancel(jsonrpc2.DetachContext(reqCtx))
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("method panicked", "method", name, "panic", p, "stack", string(debug.Stack()))
			result, err = nil, internalError(name, p)
		}
		if !isCall {
			// A notification's error would close the connection; log it.
			if err != nil {
				s.log.Warn("notification failed", "method", name, "err", err)
			}
			result, err = nil, nil
			return
		}
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = rpcError(codeRequestCancelled, &errorData{Method: name}, "%s was cancelled by the client", name)
		}
	}()

	m, ok := s.methods[name]
	if !ok {
		if isCall {
			return nil, rpcError(jsonrpc2.MethodNotFound, &errorData{Method: name},
				"unknown method %q: see docs/protocol.md for the methods mimir-sidecar answers", name)
		}
		return nil, nil // unknown notifications ($/setTrace, …) are ignored, as LSP asks
	}
	if err := s.admit(name, isCall); err != nil {
		return nil, err
	}
	params := json.RawMessage(bytes.Clone(req.Params()))
	if isCall {
		id := req.ID()
		key := idKey(id)
		s.inflight.Store(key, cancel)
		defer s.inflight.Delete(key)
		ctx = context.WithValue(ctx, requestIDKey{}, id)
	}
	if m.async {
		jsonrpc2.Async(reqCtx)
	}
	return m.handle(s, ctx, name, params)
}

// cancelRequest is $/cancelRequest: it cancels the method's context, and
// the method answers RequestCancelled.
func (s *server) cancelRequest(id jsonrpc2.ID) {
	if cancel, ok := s.inflight.Load(idKey(id)); ok {
		cancel.(context.CancelFunc)()
	}
}

// admit enforces the LSP lifecycle.
func (s *server) admit(name string, isCall bool) error {
	s.mu.Lock()
	state := s.state
	s.mu.Unlock()
	switch {
	case name == "exit":
		return nil
	case state == uninitialized && name != "initialize":
		if !isCall {
			return nil // dropped by the handler: nothing to answer
		}
		return rpcError(jsonrpc2.ServerNotInitialized, &errorData{Method: name},
			"%s before initialize: send initialize first", name)
	case state == shutDown:
		return rpcError(jsonrpc2.InvalidRequest, &errorData{Method: name},
			"%s after shutdown: the server is shutting down, only exit is accepted", name)
	}
	return nil
}

// preempter sees $/cancelRequest before the request it cancels, even when
// that request is queued behind others.
type preempter struct{ cancel func(jsonrpc2.ID) }

func (p preempter) Preempt(_ context.Context, req *jsonrpc2.Request) (any, error) {
	if req.Method() != "$/cancelRequest" {
		return nil, jsonrpc2.ErrNotHandled
	}
	var params struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(req.Params(), &params); err == nil {
		var n int64
		var str string
		switch {
		case json.Unmarshal(params.ID, &n) == nil:
			p.cancel(jsonrpc2.NewNumberID(n))
		case json.Unmarshal(params.ID, &str) == nil:
			p.cancel(jsonrpc2.NewStringID(str))
		}
	}
	return true, nil
}

// decode reads params strictly: an unknown field is usually a typo the
// caller wants to hear about.
func decode(method string, params json.RawMessage, v any) error {
	// No params, null, or an empty array (what Neovim sends for an empty
	// Lua table) all mean "nothing given".
	if t := bytes.TrimSpace(params); len(t) == 0 || string(t) == "null" || string(t) == "[]" {
		params = json.RawMessage("{}")
	}
	// JSON v2 matches names exactly: "executionID" is a typo to report,
	// not an alias of "executionId" as encoding/json would take it.
	if err := jsonv2.Unmarshal(params, v, jsonv2.RejectUnknownMembers(true)); err != nil {
		return invalidParams(method, paramsProblem(err, v))
	}
	return nil
}

// encode answers with encoding/json, the encoding the events use too.
func encode(v any) (jsonrpc2.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return b, nil
}

// notify sends a notification; a failure means the client is gone, which
// the connection notices by itself.
func (s *server) notify(method string, params jsonrpc2.RawMessage) {
	if err := s.stream.Notify(method, params); err != nil && s.ctx.Err() == nil {
		s.log.Debug("notify", "method", method, "err", err)
	}
}

// session returns the workspace and runner, set by initialize.
func (s *server) session() (*workspace.Workspace, *engine.Runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ws, s.runner
}

func (s *server) lookup(id string) (*engine.Execution, error) {
	_, runner := s.session()
	if id == "" {
		return nil, rpcError(jsonrpc2.InvalidParams, nil, "executionId is required: list executions with mimir/executions")
	}
	ex, ok := runner.Get(id)
	if !ok {
		return nil, unknownExecution(id)
	}
	return ex, nil
}
