// Package mimircompat serves Mimir's HTTP API beside the mirror's own, so
// that listeners, dashboards and scripts written against Mimir work with
// the sidecar: its execution stream (Mimir's event names and top-level
// payload fields, made from ours by one table, eventTable), its
// deliverables routes, and, only when enabled, POST /api/execute-workflow
// with Mimir's task definitions. It knows both our events and Mimir's
// shapes; notify stays payload-agnostic and engine knows no HTTP. Its
// routes are mounted on the mirror's server (notify.SSEOptions.Routes), so
// the mirror's guard (loopback Host, token, Origin) covers them.
package mimircompat

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// Options configure the API.
type Options struct {
	Runner *engine.Runner
	Hub    *notify.Hub
	// Backlog is the journal, read when a stream needs events the hub no
	// longer holds (nil: none).
	Backlog notify.Backlog
	// Journal, when set, finds where an execution's events begin, so that
	// a stream does not read the events of every execution before it.
	Journal Journal
	// Execute enables POST /api/execute-workflow. Off by default: it runs
	// the agents, and through them commands, on a request.
	Execute bool
	// Heartbeat is the longest silence on a stream (default 15s).
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a stream (default 10s).
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

// Journal is the journal as a stream uses it (*journal.Journal is one).
type Journal interface {
	// Events returns up to limit envelopes of one execution with a seq
	// above since, oldest first.
	Events(ctx context.Context, since uint64, executionID string, limit int) ([]json.RawMessage, error)
}

// API is Mimir's HTTP API over a runner.
type API struct {
	opts   Options
	events map[string]*eventMap
	init   *eventMap
}

// New returns the API; Mount serves it.
func New(opts Options) *API {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{opts: opts, events: map[string]*eventMap{}}
	table := eventTable()
	for i := range table {
		m := &table[i]
		if m.Ours == connectEvent {
			a.init = m
			continue
		}
		a.events[m.Ours] = m
	}
	return a
}

// Mount adds Mimir's routes to mux.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/execution-stream/{id}", a.stream)
	mux.HandleFunc("GET /api/execution-deliverables/{id}", a.deliverables)
	mux.HandleFunc("GET /api/execution-deliverable/{id}/{filename...}", a.deliverable)
	mux.HandleFunc("GET /api/deliverables/{id}", a.summary)
	mux.HandleFunc("GET /api/deliverables/{id}/download", a.zip)
	mux.HandleFunc("GET /api/execution-state/{id}", a.state)
	mux.HandleFunc("POST /api/execute-workflow", a.execute)
	mux.HandleFunc("POST /api/cancel-execution/{id}", a.cancel)
}

// execution is the execution a route names, or false once the answer (a
// 404 as Mimir words it) is written.
func (a *API) execution(w http.ResponseWriter, r *http.Request) (*engine.Execution, bool) {
	id := r.PathValue("id")
	ex, ok := a.opts.Runner.Get(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Execution not found", "executionId": id})
		return nil, false
	}
	return ex, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
