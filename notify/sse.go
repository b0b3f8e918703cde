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
	"strconv"
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
	Source       Source
	// Backlog, when set, serves a Last-Event-ID older than the hub keeps
	// (a journal of every event), so listeners resume across restarts.
	Backlog Backlog
	Logger  *slog.Logger
}

// Backlog is every event ever published (the journal), read when a
// listener asks for more than the hub keeps.
type Backlog interface {
	// Since returns up to max events with a seq above after, oldest first.
	Since(ctx context.Context, after uint64, max int) ([]Event, error)
	// Last is the newest seq it ever held, pruned events included (0 when
	// none). It may be ahead of the hub: events are kept before they are
	// published.
	Last(ctx context.Context) (uint64, error)
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
	ctx := r.Context()
	execID := r.PathValue("id")
	if execID != "" && s.opts.Source != nil {
		// Without this an unknown id would stream heartbeats forever: a
		// typo must fail at once, like the other per-execution endpoints.
		if _, _, err := s.opts.Source.Deliverables(execID); errors.Is(err, ErrNotFound) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no execution %q: list them at /executions", execID))
			return
		}
	}
	var only map[string]bool
	if names := r.URL.Query().Get("event"); names != "" {
		only = map[string]bool{}
		for _, n := range strings.Split(names, ",") {
			only[strings.TrimSpace(n)] = true
		}
	}
	after := s.hub.Last() // a new listener gets what happens from now on
	resuming := false
	if id := lastEventID(r); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Last-Event-ID must be the id (seq) of an event this stream sent")
			return
		}
		after, resuming = n, true
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// lastWrite paces the heartbeat: what keeps a proxy or a client from
	// timing the stream out is bytes on the wire, not events in the hub
	// (a filtered stream may skip every one of those).
	var lastWrite time.Time
	write := func(format string, args ...any) error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return err
		}
		lastWrite = time.Now()
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
	// A gap is told before the first event after it (so resumesAt is that
	// event's seq), even when the filter then skips that event.
	var gap *streamGap
	send := func(ev Event) {
		if gap != nil {
			if err := s.writeReset(write, gap.asked, ev.Seq, gap.why); err != nil {
				drop("write failed", "err", err)
			}
			gap = nil
		}
		if (execID != "" && ev.ExecutionID != execID) || (only != nil && !only[ev.Name]) {
			return
		}
		if err := write("id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Name, ev.JSON); err != nil {
			drop("write failed", "err", err)
		}
	}
	if resuming && s.fromTheFuture(ctx, after) {
		// The sidecar's seqs started over (it restarted without a journal,
		// or with a new one after the old was damaged): nothing after this
		// id will ever come, so the stream starts over with what is kept.
		gap = &streamGap{asked: after, why: "the sidecar restarted; events start over"}
		after = 0
	}
	// stuckAt is a cursor the backlog could not move past: asking it again
	// would only spin.
	stuckAt, stuck := uint64(0), false
	if resuming && s.opts.Backlog != nil {
		next, ok := s.replayBacklog(ctx, after, send)
		after = next
		if !ok {
			stuckAt, stuck = after, true
			// An empty hub (a restart) cannot show that nothing was missed;
			// a hub that has moved past the cursor says so below.
			if gap == nil && s.hub.Last() == 0 {
				gap = &streamGap{asked: after, why: "the journal cannot be read"}
			}
		}
	}

	// catchingUp lasts until the stream reaches the hub's head: until then
	// being lapped by the ring is the backlog's to fill (or a reset); after
	// it, being lapped means this reader cannot keep up.
	catchingUp := true
	batch := make([]Event, 0, 64)
	for {
		if ctx.Err() != nil {
			return
		}
		var reset bool
		batch, reset = s.hub.Read(batch[:0], after, cap(batch))
		if reset {
			if !catchingUp {
				// It resumes with Last-Event-ID and is told what was lost.
				drop("lapped by the ring", "at", after)
			}
			if s.opts.Backlog != nil && !(stuck && stuckAt == after) {
				next, ok := s.replayBacklog(ctx, after, send)
				if ctx.Err() != nil {
					return
				}
				if !ok || next == after {
					stuckAt, stuck = next, true
				}
				// What was sent moved the cursor, and the ring may have
				// moved on meanwhile: read it again from there.
				after = next
				continue
			}
			why := "older events are no longer kept"
			if s.opts.Backlog != nil {
				why = "older events are neither kept in memory nor readable from the journal"
			}
			if gap == nil {
				gap = &streamGap{asked: after, why: why}
			}
		}
		if last := s.hub.Last(); !catchingUp && last > after && last-after > uint64(s.opts.MaxLag) {
			drop("too far behind", "lag", last-after)
		}
		for _, ev := range batch {
			after = ev.Seq
			send(ev)
		}
		if len(batch) > 0 {
			if time.Since(lastWrite) >= s.opts.Heartbeat {
				if err := write(": ping\n\n"); err != nil {
					return
				}
			}
			continue
		}
		if gap == nil {
			catchingUp = false
		}
		// With a gap still to tell, nothing after the cursor is kept yet
		// (a restart, an empty journal): the reset goes out with the next
		// event, the first that can say where the stream resumes. Until
		// then the stream is still catching up, so that event's seq, past
		// the cursor, is not taken for the ring lapping a slow reader.
		idle := s.opts.Heartbeat - time.Since(lastWrite)
		if idle <= 0 {
			if err := write(": ping\n\n"); err != nil {
				return
			}
			continue
		}
		wait, cancel := context.WithTimeout(ctx, idle)
		err := s.hub.Wait(wait, after)
		cancel()
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
	}
}

// streamGap is a reset the stream owes its client.
type streamGap struct {
	asked uint64
	why   string
}

// fromTheFuture says whether a Last-Event-ID is above every seq this
// sidecar has (in the hub, or in the journal, which runs ahead of the hub
// and, after a restart, holds what the hub does not).
func (s *SSE) fromTheFuture(ctx context.Context, id uint64) bool {
	if id <= s.hub.Last() {
		return false
	}
	if s.opts.Backlog == nil {
		return true
	}
	last, err := s.opts.Backlog.Last(ctx)
	if err != nil {
		// Unknown: treat it as without a journal, which at worst replays
		// what is kept after a clear reset.
		s.opts.Logger.Warn("read the journal's last event id", "err", err)
		return true
	}
	return id > last
}

// replayBacklog sends everything the backlog holds after the cursor and
// returns the new cursor, and false when the backlog could not be read.
func (s *SSE) replayBacklog(ctx context.Context, after uint64, send func(Event)) (uint64, bool) {
	const page = 512
	for {
		if ctx.Err() != nil {
			return after, false
		}
		evs, err := s.opts.Backlog.Since(ctx, after, page)
		if err != nil {
			if ctx.Err() == nil {
				s.opts.Logger.Warn("replay events from the journal", "after", after, "err", err)
			}
			return after, false
		}
		for _, ev := range evs {
			if ev.Seq <= after {
				continue // a backlog out of order must not make the stream go back
			}
			after = ev.Seq
			send(ev)
		}
		if len(evs) < page {
			return after, true
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
