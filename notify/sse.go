package notify

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// File is one downloadable file of an execution.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ErrNotFound is returned by a Source for an execution it does not know.
var ErrNotFound = errors.New("not found")

// Source is what the mirror serves besides events: the executions and
// their files. notify knows nothing of tasks; the sidecar adapts its engine.
type Source interface {
	// Executions is the list of executions, as JSON-encodable values.
	Executions() any
	// Deliverables returns an execution's files and the folder their paths
	// are relative to.
	Deliverables(id string) (dir string, files []File, err error)
}

// SSEOptions configure the mirror.
type SSEOptions struct {
	// Addr is where to listen: a loopback host and a port (0: any free one).
	Addr string
	// AllowOrigins are browser origins allowed to connect (exact match,
	// e.g. "http://127.0.0.1:5173"); every other Origin is refused.
	AllowOrigins []string
	// Heartbeat is the longest silence on a stream (default 15s).
	Heartbeat time.Duration
	// MaxLag is how many events a subscriber may fall behind before it is
	// cut off to resume later with Last-Event-ID (default 4096; bursts
	// larger than that are the ring's to absorb).
	MaxLag int
	// WriteTimeout bounds one write to a subscriber (default 10s).
	WriteTimeout time.Duration
	// Coalesce is the shortest time between two writes to a subscriber:
	// events closer together than that go out in one write (default
	// 10ms; the first event after a quiet spell goes out at once).
	Coalesce time.Duration
	Source   Source
	// Backlog, when set, serves a Last-Event-ID older than the hub keeps
	// (a journal of every event), so listeners resume across restarts.
	Backlog Backlog
	// Routes, when set, adds routes of another API to the mirror's, served
	// under the same guard (loopback Host, token, Origin). Their handlers'
	// request contexts end when the mirror stops.
	Routes func(mux *http.ServeMux)
	Logger *slog.Logger
}

// SSE is the mirror: every event on a local HTTP port, for listeners that
// are not the editor.
type SSE struct {
	hub     *Hub
	opts    SSEOptions
	token   string
	ln      net.Listener
	srv     *http.Server
	url     string
	origins map[string]bool

	// ctx ends every stream on Close; http.Server.Shutdown does not wait
	// for hijacked or streaming handlers on its own.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// streams are the event streams, which net/http forgets once they
	// take their connection over; none starts once stopping is set.
	mu       sync.Mutex
	stopping bool
	streams  sync.WaitGroup
	batches  sync.Pool // of *batch
	beat     *beat
}

// StartSSE listens on opts.Addr and serves the hub's events until Close.
func StartSSE(hub *Hub, opts SSEOptions) (*SSE, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = 4096
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Coalesce <= 0 {
		opts.Coalesce = 10 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("SSE address %q: %w (use host:port, e.g. 127.0.0.1:0)", opts.Addr, err)
	}
	if !loopbackName(host) {
		return nil, fmt.Errorf("SSE address %q: listen on a loopback address (127.0.0.1, localhost, [::1]); the mirror is for this machine only", opts.Addr)
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("start the SSE mirror: %w", err)
	}
	s := &SSE{hub: hub, opts: opts, token: token, ln: ln, origins: map[string]bool{}}
	s.batches.New = newBatch
	for _, o := range opts.AllowOrigins {
		s.origins[strings.TrimRight(o, "/")] = true
	}
	s.url = "http://" + ln.Addr().String()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.health)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /executions", s.executions)
	mux.HandleFunc("GET /executions/{id}/events", s.events)
	mux.HandleFunc("GET /executions/{id}/deliverables", s.deliverables)
	mux.HandleFunc("GET /executions/{id}/deliverables.zip", s.zip)
	mux.HandleFunc("GET /executions/{id}/deliverables/{path...}", s.download)
	if opts.Routes != nil {
		opts.Routes(mux)
	}
	s.srv = &http.Server{
		Handler:           s.guard(mux),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	s.beat = newBeat()
	s.wg.Go(func() { s.beat.run(s.ctx, hub, opts.Coalesce, opts.Heartbeat/4) })
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Warn("SSE mirror stopped", "err", err)
		}
	}()
	return s, nil
}

// URL is the mirror's base URL, e.g. http://127.0.0.1:41234.
func (s *SSE) URL() string { return s.url }

// Token is required on every request.
func (s *SSE) Token() string { return s.token }

// Shutdown ends every event stream at once and stops listening, then waits
// for the other requests under way (a download) until ctx is done, when it
// cuts their connections.
func (s *SSE) Shutdown(ctx context.Context) error {
	s.stopStreams()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("stop the SSE mirror: %w", err), s.srv.Close())
	}
	s.wg.Wait()
	s.streams.Wait()
	return err
}

// Close stops the mirror at once, downloads under way included.
func (s *SSE) Close() error {
	s.stopStreams()
	err := s.srv.Close()
	s.wg.Wait()
	s.streams.Wait()
	return err
}

// startStream counts a stream about to start, unless the mirror is
// stopping: a stream leaves net/http's hands, so the mirror waits for it
// itself.
func (s *SSE) startStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.streams.Add(1)
	return true
}

// stopStreams ends every stream and lets no new one start.
func (s *SSE) stopStreams() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.cancel()
}

func (s *SSE) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{"ok": true, "lastSeq": s.hub.Last()})
}

func (s *SSE) executions(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Source == nil {
		writeJSON(w, map[string]any{"executions": []any{}})
		return
	}
	writeJSON(w, map[string]any{"executions": s.opts.Source.Executions()})
}

func (s *SSE) files(w http.ResponseWriter, r *http.Request) (string, []File, bool) {
	if s.opts.Source == nil {
		writeError(w, http.StatusNotFound, "no executions here")
		return "", nil, false
	}
	id := r.PathValue("id")
	dir, files, err := s.opts.Source.Deliverables(id)
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no execution %q: list them at /executions", id))
		return "", nil, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("list the deliverables of %s: %v", id, err))
		return "", nil, false
	}
	return dir, files, true
}

func (s *SSE) deliverables(w http.ResponseWriter, r *http.Request) {
	if _, files, ok := s.files(w, r); ok {
		writeJSON(w, map[string]any{"executionId": r.PathValue("id"), "deliverables": files})
	}
}

// download serves one deliverable. Only paths the execution lists are
// served, read through os.Root on its folder: nothing else is reachable.
func (s *SSE) download(w http.ResponseWriter, r *http.Request) {
	dir, files, ok := s.files(w, r)
	if !ok {
		return
	}
	want := r.PathValue("path")
	listed := false
	for _, f := range files {
		listed = listed || f.Path == want
	}
	if !listed {
		writeError(w, http.StatusNotFound, fmt.Sprintf("execution %s has no deliverable %q: list them at /executions/%s/deliverables", r.PathValue("id"), want, r.PathValue("id")))
		return
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		writeError(w, http.StatusGone, "the execution's files are gone")
		return
	}
	defer root.Close()
	f, st, err := openDeliverable(root, want)
	if err != nil {
		writeDeliverableError(w, err)
		return
	}
	defer f.Close()
	// The type is sniffed from the bytes an agent wrote: the browser must
	// not sniff further (an .md that looks like HTML stays a download).
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", lastElem(want)))
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// zip streams every deliverable as one archive.
func (s *SSE) zip(w http.ResponseWriter, r *http.Request) {
	dir, files, ok := s.files(w, r)
	if !ok {
		return
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		writeError(w, http.StatusGone, "the execution's files are gone")
		return
	}
	defer root.Close()
	// Each file is checked before the answer starts, so that one that
	// cannot be zipped is an error naming it, not a truncated archive.
	for _, file := range files {
		f, _, err := openDeliverable(root, file.Path)
		if err != nil {
			writeDeliverableError(w, err)
			return
		}
		f.Close()
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", r.PathValue("id")+"-deliverables.zip"))
	zw := zip.NewWriter(w)
	for _, file := range files {
		if err := addToZip(zw, root, file.Path); err != nil {
			s.opts.Logger.Warn("zip deliverables", "file", file.Path, "err", err)
			return // a truncated archive fails to open: better than a silent gap
		}
	}
	_ = zw.Close()
}

// deliverableError is why one deliverable cannot be served.
type deliverableError struct {
	path   string
	status int
	err    error
}

func (e *deliverableError) Error() string {
	if safefile.IsNotRegular(e.err) {
		return fmt.Sprintf("cannot read deliverable %s: %v (it was replaced after its task ended); only regular files are served", e.path, e.err)
	}
	return fmt.Sprintf("cannot read deliverable %s: %v", e.path, e.err)
}

// openDeliverable opens a listed deliverable in its execution's folder: a
// regular file only, never a link followed nor a pipe waited on (an agent
// that outlived its task may have swapped one in).
func openDeliverable(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, st, err := safefile.OpenNoFollow(root, name)
	switch {
	case err == nil:
		return f, st, nil
	case safefile.IsNotRegular(err):
		return nil, nil, &deliverableError{path: name, status: http.StatusConflict, err: err}
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, &deliverableError{path: name, status: http.StatusNotFound, err: errors.New("it is gone")}
	}
	return nil, nil, &deliverableError{path: name, status: http.StatusInternalServerError, err: err}
}

func writeDeliverableError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var de *deliverableError
	if errors.As(err, &de) {
		status = de.status
	}
	writeError(w, status, err.Error())
}

func addToZip(zw *zip.Writer, root *os.Root, name string) error {
	f, st, err := openDeliverable(root, name)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr, err := zip.FileInfoHeader(st)
	if err != nil {
		return err
	}
	hdr.Name, hdr.Method = name, zip.Deflate
	out, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, f)
	return err
}

func lastElem(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with a status and {"error": msg}: scripts reading the
// JSON endpoints read their errors the same way.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<token>" reads better than "\u003ctoken\u003e"
	_ = enc.Encode(map[string]string{"error": msg})
}
