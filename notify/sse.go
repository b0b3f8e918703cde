package notify

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
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
	Source       Source
	// Backlog, when set, serves a Last-Event-ID older than the hub keeps
	// (a journal of every event), so listeners resume across restarts.
	Backlog func(ctx context.Context, after uint64, max int) ([]Event, error)
	Logger  *slog.Logger
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
	s.srv = &http.Server{
		Handler:           s.guard(mux),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
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

// Close ends every stream and stops listening.
func (s *SSE) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.wg.Wait()
	return err
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

// events streams events: all, or one execution's (path), optionally only
// some names (?event=a,b), resuming after Last-Event-ID when given.
func (s *SSE) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	execID := r.PathValue("id")
	var only map[string]bool
	if names := r.URL.Query().Get("event"); names != "" {
		only = map[string]bool{}
		for _, n := range strings.Split(names, ",") {
			only[strings.TrimSpace(n)] = true
		}
	}
	last := s.hub.Last()
	after := last // a new listener gets what happens from now on
	resuming := false
	if id := lastEventID(r); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			http.Error(w, "Last-Event-ID must be the id (seq) of an event this stream sent", http.StatusBadRequest)
			return
		}
		after, resuming = n, true
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(format string, args ...any) error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return err
		}
		return rc.Flush()
	}
	// drop ends a stream so that the client sees the connection go and
	// reconnects with Last-Event-ID; returning would leave a keep-alive
	// connection open and the client waiting. ErrAbortHandler is net/http's
	// way to do that: the server recovers it and closes the connection.
	drop := func(why string, args ...any) {
		s.opts.Logger.Info("SSE subscriber disconnected: "+why, append([]any{"remote", r.RemoteAddr}, args...)...)
		panic(http.ErrAbortHandler)
	}
	if err := write("retry: 2000\n\n"); err != nil {
		return
	}
	ctx := r.Context()
	send := func(ev Event) {
		if (execID != "" && ev.ExecutionID != execID) || (only != nil && !only[ev.Name]) {
			return
		}
		if err := write("id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Name, ev.JSON); err != nil {
			drop("write failed", "err", err)
		}
	}
	if resuming && s.opts.Backlog != nil {
		after = s.replayBacklog(ctx, after, send)
	} else if resuming && after > last {
		// An id from the future: the sidecar restarted without a journal.
		if err := s.writeReset(write, after, 0, "the sidecar restarted; events start over"); err != nil {
			return
		}
		after = 0
	}

	batch := make([]Event, 0, 64)
	first := true
	for {
		var reset bool
		batch, reset = s.hub.Read(batch[:0], after, cap(batch))
		if reset && first && s.opts.Backlog != nil {
			// The ring moved on during the replay: the journal has the rest.
			after = s.replayBacklog(ctx, after, send)
			continue
		}
		if reset {
			if !first {
				// Lapped while streaming: this reader is too slow. It
				// resumes with Last-Event-ID and is told what was lost.
				drop("lapped by the ring", "at", after)
			}
			if err := s.writeReset(write, after, batch[0].Seq, "older events are no longer kept"); err != nil {
				return
			}
		}
		first = false
		if lag := s.hub.Last() - after; lag > uint64(s.opts.MaxLag) && !resuming {
			drop("too far behind", "lag", lag)
		}
		for _, ev := range batch {
			after = ev.Seq
			send(ev)
		}
		if len(batch) > 0 {
			continue
		}
		resuming = false // caught up: from here on the lag limit holds
		wait, cancel := context.WithTimeout(ctx, s.opts.Heartbeat)
		err := s.hub.Wait(wait, after)
		cancel()
		switch {
		case ctx.Err() != nil, errors.Is(err, ErrClosed):
			return
		case errors.Is(err, context.DeadlineExceeded):
			if err := write(": ping\n\n"); err != nil {
				return
			}
		}
	}
}

// replayBacklog sends everything the backlog holds after the cursor and
// returns the new cursor.
func (s *SSE) replayBacklog(ctx context.Context, after uint64, send func(Event)) uint64 {
	const page = 512
	for {
		evs, err := s.opts.Backlog(ctx, after, page)
		if err != nil {
			s.opts.Logger.Warn("replay from the journal", "err", err)
			return after
		}
		for _, ev := range evs {
			after = ev.Seq
			send(ev)
		}
		if len(evs) < page {
			return after
		}
	}
}

func (s *SSE) writeReset(write func(string, ...any) error, asked, from uint64, why string) error {
	data, _ := json.Marshal(map[string]any{
		"lastEventId": asked,
		"resumesAt":   from,
		"message":     fmt.Sprintf("events after %d are not available (%s); the stream continues at %d", asked, why, from),
	})
	return write("event: reset\ndata: %s\n\n", data)
}

func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("lastEventId")
}

func (s *SSE) files(w http.ResponseWriter, r *http.Request) (string, []File, bool) {
	if s.opts.Source == nil {
		http.Error(w, "no executions here", http.StatusNotFound)
		return "", nil, false
	}
	id := r.PathValue("id")
	dir, files, err := s.opts.Source.Deliverables(id)
	if errors.Is(err, ErrNotFound) {
		http.Error(w, fmt.Sprintf("no execution %q: list them at /executions", id), http.StatusNotFound)
		return "", nil, false
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
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
		http.Error(w, fmt.Sprintf("execution %s has no deliverable %q: list them at /executions/%s/deliverables", r.PathValue("id"), want, r.PathValue("id")), http.StatusNotFound)
		return
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		http.Error(w, "the execution's files are gone", http.StatusGone)
		return
	}
	defer root.Close()
	f, err := root.Open(want)
	if err != nil {
		http.Error(w, "cannot read "+want, http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, "cannot read "+want, http.StatusNotFound)
		return
	}
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
		http.Error(w, "the execution's files are gone", http.StatusGone)
		return
	}
	defer root.Close()
	w.Header().Set("Content-Type", "application/zip")
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

func addToZip(zw *zip.Writer, root *os.Root, name string) error {
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
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
