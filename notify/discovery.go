package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Discovery is what <workspace>/.mimir/sidecar.json tells headless
// listeners: where the mirror is and its token.
type Discovery struct {
	URL       string `json:"url"`
	Token     string `json:"token"`
	PID       int    `json:"pid"`
	Workspace string `json:"workspace"`
}

// maxDiscovery bounds what is read of a sidecar.json: the file comes with
// the workspace, and may be a link to /dev/zero or a pipe.
const maxDiscovery = 64 << 10

// WriteDiscovery writes d to path, readable by the user only, replacing any
// old file atomically (a link or pipe there is replaced, never written
// through).
func WriteDiscovery(path string, d Discovery) error {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	state, err := statedir.Ensure(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer state.Close()
	return state.WriteFile(filepath.Base(path), append(data, '\n'), 0o600)
}

// ReadDiscovery reads a sidecar.json: a regular file in a state folder
// that is not a link, of at most 64 KiB.
func ReadDiscovery(path string) (Discovery, error) {
	var d Discovery
	data, err := readDiscovery(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, fmt.Errorf("find the sidecar: %w (is a sidecar with its SSE mirror running for this workspace?)", err)
	}
	if err != nil {
		return d, fmt.Errorf("find the sidecar: %w", err)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("read %s: %w", path, err)
	}
	return d, nil
}

func readDiscovery(path string) ([]byte, error) {
	state, err := statedir.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer state.Close()
	return state.ReadFile(filepath.Base(path), maxDiscovery)
}

// ClaimDiscovery writes d to path unless the file already names a mirror
// that still answers with its token: a second sidecar (or a `run --sse`)
// on the same workspace must not hide the first from the listeners that
// follow it. It reports whether d was written and, when it was not, the
// mirror the file names; the second mirror is then reachable only through
// its own initialize result or output. A file naming a mirror that is gone
// (a crash left it) is replaced.
func ClaimDiscovery(ctx context.Context, path string, d Discovery) (written bool, holder Discovery, err error) {
	if old, err := ReadDiscovery(path); err == nil && old.Token != d.Token && answers(ctx, old) {
		return false, old, nil
	}
	if err := WriteDiscovery(path, d); err != nil {
		return false, Discovery{}, err
	}
	return true, d, nil
}

// RemoveDiscovery removes path if it still names d (same pid and token):
// a file another sidecar has since written is theirs to remove.
func RemoveDiscovery(path string, d Discovery) error {
	old, err := ReadDiscovery(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Unreadable: not provably ours, and harmless to leave (listeners
		// report it and claims replace it).
		return nil
	}
	if old.PID != d.PID || old.Token != d.Token {
		return nil
	}
	state, err := statedir.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	defer state.Close()
	return state.Remove(filepath.Base(path))
}

// answers says whether the mirror d names is up: its health check accepts
// its token. Only loopback URLs are tried, so that a sidecar.json planted
// in a cloned workspace cannot make the sidecar send its requests (and
// that file's token) elsewhere.
func answers(ctx context.Context, d Discovery) bool {
	u, err := url.Parse(d.URL)
	if err != nil || u.Scheme != "http" || !loopbackName(u.Hostname()) {
		return false
	}
	// A live mirror answers in microseconds; a stopped or wedged process
	// must not hold up this sidecar's start for long.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.JoinPath("healthz").String(), nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	// Not DefaultClient: no proxy from the environment (loopback only).
	client := http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
