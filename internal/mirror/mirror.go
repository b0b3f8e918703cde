// Package mirror wires the SSE mirror of a workspace's events: notify's
// SSE server fed by the engine's hub, runner and journal, and the
// workspace's sidecar.json that tells headless listeners where it is. The
// stdio server (rpc) and `run --sse` both start it from here.
package mirror

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/internal/events"
	"github.com/mimir-sidecar/mimir-sidecar/internal/mimircompat"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// Options configure the SSE mirror.
type Options struct {
	Addr         string
	AllowOrigins []string
	// HTTPExecute enables Mimir's POST /api/execute-workflow and
	// /api/cancel-execution (see internal/mimircompat): off unless the user
	// asks, as they run and stop agents.
	HTTPExecute bool
	Logger      *slog.Logger
}

// Start starts the SSE mirror of a workspace's events (replaying from
// journal, when there is one, what the hub no longer holds) and writes
// <workspace>/.mimir/sidecar.json (mode 0600) so headless listeners find
// it, unless that file names another sidecar's mirror that is still up;
// Close removes the file if it is still this mirror's.
func (o Options) Start(ws *workspace.Workspace, hub *notify.Hub, runner *engine.Runner, jr *journal.Journal) (*Mirror, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// A refused state folder (told to the user as the journal opens) costs
	// the headless listeners their sidecar.json, not the editor its mirror.
	stateErr := ws.EnsureStateDir()
	backlog := events.Backlog(jr)
	compat := mimircompat.Options{Runner: runner, Hub: hub, Backlog: backlog, Execute: o.HTTPExecute, Logger: o.Logger.With("api", "mimir")}
	if jr != nil { // a nil *journal.Journal would be a journal, not none
		compat.Journal = jr
	}
	s, err := notify.StartSSE(hub, notify.SSEOptions{
		Addr:         o.Addr,
		AllowOrigins: o.AllowOrigins,
		Source:       runnerSource{runner},
		Backlog:      backlog,
		// Mimir's API, beside ours, under the same guard.
		Routes: mimircompat.New(compat).Mount,
		Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	path := filepath.Join(ws.StateDir(), "sidecar.json")
	own := notify.Discovery{URL: s.URL(), Token: s.Token(), PID: os.Getpid(), Workspace: ws.Dir()}
	if stateErr != nil {
		o.Logger.Warn("the SSE mirror is not written to sidecar.json: the state folder is refused", "err", stateErr)
		return &Mirror{SSE: s, discovery: path, own: own}, nil
	}
	wrote, holder, err := notify.ClaimDiscovery(context.Background(), path, own)
	if err != nil {
		o.Logger.Warn("the SSE mirror is not written to sidecar.json", "err", err)
		return &Mirror{SSE: s, discovery: path, own: own}, nil
	}
	if !wrote {
		o.Logger.Info("another sidecar's SSE mirror is in sidecar.json and still up; this one's address is only in initialize (mimir/sse)",
			"file", path, "pid", holder.PID, "url", holder.URL)
	}
	return &Mirror{SSE: s, discovery: path, own: own, wrote: wrote}, nil
}

// Mirror is a running SSE mirror.
type Mirror struct {
	*notify.SSE
	discovery string
	own       notify.Discovery
	wrote     bool // whether sidecar.json was this mirror's to write

	closeOnce sync.Once
	closeErr  error
}

// DiscoveryFile is the sidecar.json that names m, and false when m did not
// write one (another sidecar's mirror holds the workspace's): `run --sse`
// must not point people at a file that names someone else.
func (m *Mirror) DiscoveryFile() (string, bool) {
	if m.wrote {
		return m.discovery, true
	}
	return "", false
}

// Shutdown stops the mirror (see notify.SSE.Shutdown) and removes its
// sidecar.json, only if the file still names this mirror: another sidecar
// may have replaced it since (after this one stopped answering), and
// removing theirs would hide them. Later calls, and Close, do nothing (run
// stops it before the journal, and again on its way out).
func (m *Mirror) Shutdown(ctx context.Context) error {
	return m.stop(func() error { return m.SSE.Shutdown(ctx) })
}

// Close is Shutdown that does not wait for downloads under way.
func (m *Mirror) Close() error { return m.stop(m.SSE.Close) }

func (m *Mirror) stop(stopSSE func() error) error {
	m.closeOnce.Do(func() {
		var err error
		if m.wrote {
			err = notify.RemoveDiscovery(m.discovery, m.own)
		}
		m.closeErr = errors.Join(err, stopSSE())
	})
	return m.closeErr
}

// runnerSource shows the engine's executions to the mirror.
type runnerSource struct{ r *engine.Runner }

// Executions is the newest page of the history: what a dashboard shows,
// not all of it.
func (s runnerSource) Executions() any {
	page, err := s.r.ListPage(context.Background(), 0, mirrorPage)
	if err != nil {
		return []engine.Summary{}
	}
	return page.Executions
}

// mirrorPage is how many executions the mirror lists.
const mirrorPage = 100

func (s runnerSource) Deliverables(id string) (string, []notify.File, error) {
	ex, ok := s.r.Get(id)
	if !ok {
		return "", nil, notify.ErrNotFound
	}
	ds := ex.Deliverables()
	files := make([]notify.File, len(ds))
	for i, d := range ds {
		files[i] = notify.File{Path: d.Path, Size: d.Size, SHA256: d.SHA256}
	}
	return ex.StagingDir(), files, nil
}
