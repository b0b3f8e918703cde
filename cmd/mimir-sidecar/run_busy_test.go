package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
)

// A run beside a sidecar that keeps the workspace's journal runs without
// one, and says so.
func TestRunBesideASidecarThatKeepsTheJournal(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: busy\ntasks:\n  - {id: a, worker: {command: \"true\"}}\n"), 0o644)
	j, _, err := journal.Open(filepath.Join(ws, ".mimir"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	out, stderr, code := runBin(t, ws, "run", "wf.yaml", "--json")
	if code != 0 || !strings.Contains(stderr, "not kept in the workspace's history") {
		t.Fatalf("exit %d, stderr %q, want 0 and a warning that the run is not kept", code, stderr)
	}
	if evs := parseEvents(t, out); evs[len(evs)-1].Data.Status != "completed" {
		t.Errorf("last event %+v", evs[len(evs)-1])
	}
}
