package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Discovery is what <workspace>/.mimir/sidecar.json tells headless
// listeners: where the mirror is and its token.
type Discovery struct {
	URL       string `json:"url"`
	Token     string `json:"token"`
	PID       int    `json:"pid"`
	Workspace string `json:"workspace"`
}

// WriteDiscovery writes d to path, readable by the user only, replacing any
// old file atomically.
func WriteDiscovery(path string, d Discovery) error {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sidecar-*.json")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(append(data, '\n'))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadDiscovery reads a sidecar.json.
func ReadDiscovery(path string) (Discovery, error) {
	var d Discovery
	data, err := os.ReadFile(path)
	if err != nil {
		return d, fmt.Errorf("find the sidecar: %w (is a sidecar with its SSE mirror running for this workspace?)", err)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("read %s: %w", path, err)
	}
	return d, nil
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
	if errors.Is(err, os.ErrNotExist) {
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
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
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
