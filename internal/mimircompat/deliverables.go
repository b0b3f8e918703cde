package mimircompat

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"slices"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// listedDeliverable is a deliverable in GET /api/execution-deliverables.
type listedDeliverable struct {
	deliverable
	DownloadURL string `json:"downloadUrl"`
}

// deliverables serves GET /api/execution-deliverables/:executionId.
func (a *API) deliverables(w http.ResponseWriter, r *http.Request) {
	ex, ok := a.execution(w, r)
	if !ok {
		return
	}
	ds := mimirDeliverables(ex.Deliverables())
	list := make([]listedDeliverable, len(ds))
	for i, d := range ds {
		// Mimir's encodeURIComponent: the path's slashes are escaped too,
		// and the route takes the name back whole.
		list[i] = listedDeliverable{d, "/api/execution-deliverable/" + ex.ID() + "/" + url.PathEscape(d.Filename)}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"executionId":  ex.ID(),
		"status":       mimirStatus(ex.Summary().Status),
		"deliverables": list,
	})
}

// summary serves GET /api/deliverables/:executionId: the list with the
// execution's times. Mimir's taskExecutionIds name nodes of its graph
// database; there are none here.
func (a *API) summary(w http.ResponseWriter, r *http.Request) {
	ex, ok := a.execution(w, r)
	if !ok {
		return
	}
	info := ex.Info()
	ds := mimirDeliverables(info.DeliverableList)
	meta := map[string]any{"startTime": info.StartedAt.UnixMilli(), "endTime": nil, "duration": nil, "totalTasks": info.Tasks}
	if info.FinishedAt != nil {
		meta["endTime"] = info.FinishedAt.UnixMilli()
		meta["duration"] = info.FinishedAt.Sub(info.StartedAt).Milliseconds()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"executionId":       ex.ID(),
		"status":            mimirStatus(info.Status),
		"taskExecutionIds":  []string{},
		"deliverables":      ds,
		"totalDeliverables": len(ds),
		"metadata":          meta,
	})
}

// deliverable serves GET /api/execution-deliverable/:executionId/:filename.
// Only a name the execution lists is served, read through its staging
// folder's os.Root with the safe opener: nothing else is reachable, and a
// link or pipe an agent left in its place is refused.
func (a *API) deliverable(w http.ResponseWriter, r *http.Request) {
	ex, ok := a.execution(w, r)
	if !ok {
		return
	}
	name := r.PathValue("filename")
	ds := ex.Deliverables()
	i := slices.IndexFunc(ds, func(d engine.Deliverable) bool { return d.Path == name })
	if i < 0 {
		available := make([]string, len(ds))
		for j, d := range ds {
			available[j] = d.Path
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Deliverable not found", "executionId": ex.ID(), "filename": name, "availableFiles": available})
		return
	}
	root, err := os.OpenRoot(ex.StagingDir())
	if err != nil {
		writeJSON(w, http.StatusGone, map[string]any{"error": "The execution's files are gone", "executionId": ex.ID()})
		return
	}
	defer root.Close()
	f, st, err := safefile.OpenNoFollow(root, name)
	if err != nil {
		writeOpenError(w, ex.ID(), name, err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", mimeType(name))
	// The bytes are an agent's: a browser must take them as a download,
	// never run them as a page of this origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("Content-Disposition", attachment(baseName(name)))
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// zip serves GET /api/deliverables/:executionId/download: every deliverable
// in one archive, streamed as it is made.
func (a *API) zip(w http.ResponseWriter, r *http.Request) {
	ex, ok := a.execution(w, r)
	if !ok {
		return
	}
	ds := ex.Deliverables()
	if len(ds) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "No deliverables found for this execution", "executionId": ex.ID()})
		return
	}
	root, err := os.OpenRoot(ex.StagingDir())
	if err != nil {
		writeJSON(w, http.StatusGone, map[string]any{"error": "The execution's files are gone", "executionId": ex.ID()})
		return
	}
	defer root.Close()
	// Every file is checked before the answer starts, so that one that
	// cannot be read is an error naming it, not a truncated archive; each
	// is opened again as it is zipped (never all at once: a task may have
	// written thousands).
	for _, d := range ds {
		f, _, err := safefile.OpenNoFollow(root, d.Path)
		if err != nil {
			writeOpenError(w, ex.ID(), d.Path, err)
			return
		}
		f.Close()
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", attachment("execution-"+ex.ID()+"-deliverables.zip"))
	zw := zip.NewWriter(w)
	for _, d := range ds {
		if err := addToZip(zw, root, d.Path); err != nil {
			// A truncated archive fails to open: better than a silent gap.
			a.opts.Logger.Warn("zip the deliverables", "execution", ex.ID(), "file", d.Path, "err", err)
			return
		}
	}
	if err := zw.Close(); err != nil {
		a.opts.Logger.Warn("zip the deliverables", "execution", ex.ID(), "err", err)
	}
}

func addToZip(zw *zip.Writer, root *os.Root, name string) error {
	f, st, err := safefile.OpenNoFollow(root, name)
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	defer f.Close()
	hdr, err := zip.FileInfoHeader(st)
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	hdr.Name, hdr.Method = name, zip.Deflate
	out, err := zw.CreateHeader(hdr)
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	if _, err := io.Copy(out, f); err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	return nil
}

func writeOpenError(w http.ResponseWriter, id, name string, err error) {
	status, msg := http.StatusInternalServerError, fmt.Sprintf("cannot read deliverable %s: %v", name, err)
	switch {
	case safefile.IsNotRegular(err):
		status, msg = http.StatusConflict, fmt.Sprintf("cannot read deliverable %s: it was replaced after its task ended (%v); only regular files are served", name, err)
	case errors.Is(err, fs.ErrNotExist):
		status, msg = http.StatusNotFound, fmt.Sprintf("deliverable %s is gone from the execution's folder", name)
	}
	writeJSON(w, status, map[string]any{"error": msg, "executionId": id, "filename": name})
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// attachment is a Content-Disposition naming a download; the name is an
// agent's, so it is quoted and its non-ASCII given as RFC 8187 asks.
func attachment(name string) string {
	return fmt.Sprintf("attachment; filename=%q; filename*=UTF-8''%s", asciiOnly(name), url.PathEscape(name))
}

func asciiOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b[i] = '_'
		}
	}
	return string(b)
}
