package notify

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
