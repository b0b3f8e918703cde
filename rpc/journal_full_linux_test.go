package rpc

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// TestJournalFullDiskTold runs an execution whose worker fills the disk
// the workspace (and its journal) is on: the client is told, once, by a
// journal-error event and a warning saying what to do; no event reaches it
// before the journal holds it; once space is freed the held events come,
// and the journal has every event the client saw.
func TestJournalFullDiskTold(t *testing.T) {
	ws := t.TempDir()
	if err := syscall.Mount("tmpfs", ws, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(ws, syscall.MNT_DETACH) })
	wf := "name: full\ntasks:\n  - {id: a, worker: {command: 'dd if=/dev/zero of=\"$MIMIR_WORKSPACE/fill\" bs=64k 2>/dev/null; echo done > a.txt; true'}}\n"
	if err := os.WriteFile(filepath.Join(ws, "full.yaml"), []byte(wf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The worker fills the disk from outside its task's folder, which the
	// user's configuration lets it write, as a user would allow a folder.
	writeWorkspace := func(*workspace.Workspace) (engine.SandboxSettings, []string, error) {
		return engine.SandboxSettings{Write: []string{ws}}, nil, nil
	}
	c := startServer(t, Options{Sandbox: writeWorkspace})
	c.initialize(ws, nil)
	c.request("mimir/execute", map[string]any{"workflow": "full.yaml"})

	seen := map[float64]bool{}
	var told map[string]any
	for told == nil {
		m := c.next()
		switch p, _ := m["params"].(map[string]any); {
		case isEvent("journal-error")(m):
			told = p
		case m["method"] == "mimir/event":
			seen[p["seq"].(float64)] = true
			if p["event"] == "execution-complete" {
				t.Fatal("the execution completed on a full disk without the client being told the journal could not write")
			}
		}
	}
	data, _ := told["data"].(map[string]any)
	if msg, _ := data["message"].(string); !strings.Contains(msg, "free disk space") || data["error"] == "" || told["seq"] != 0.0 {
		t.Errorf("journal-error = %v", told)
	}
	warned := c.until(func(m map[string]any) bool { return m["method"] == "window/showMessage" })
	warning := warned[len(warned)-1]["params"].(map[string]any)
	if warning["type"] != float64(levelWarning) || !strings.Contains(warning["message"].(string), "free disk space") {
		t.Errorf("warning = %v", warning)
	}

	if err := os.Remove(filepath.Join(ws, "fill")); err != nil {
		t.Fatal(err)
	}
	notices := 0
	for _, m := range c.until(isEvent("execution-complete")) {
		if isEvent("journal-error")(m) {
			notices++
		}
		if m["method"] == "mimir/event" {
			p := m["params"].(map[string]any)
			if p["seq"] != 0.0 {
				seen[p["seq"].(float64)] = true
			}
		}
	}
	if notices > 0 {
		t.Errorf("told %d more times of the same failure", notices)
	}
	journal := c.result("mimir/events", map[string]any{"since": 0})
	held := map[float64]bool{}
	for _, e := range journal["events"].([]any) {
		held[e.(map[string]any)["seq"].(float64)] = true
	}
	for seq := range seen {
		if !held[seq] {
			t.Errorf("the client saw event %v, which the journal does not hold", seq)
		}
	}
}
