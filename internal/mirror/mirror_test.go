package mirror

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// Two mirrors on one workspace: the file keeps naming the first while it
// runs; the second closing leaves it; the first closing removes it.
func TestSecondMirrorLeavesTheFirstsFile(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runner := engine.NewRunner(t.Context(), engine.Options{Workspace: ws.Dir(), StateDir: ws.StateDir()})
	t.Cleanup(func() { runner.Close(context.Background()) })
	hub := notify.NewHub(4)
	path := filepath.Join(ws.StateDir(), "sidecar.json")

	first, err := Options{}.Start(ws, hub, runner, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := Options{}.Start(ws, hub, runner, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := notify.ReadDiscovery(path); err != nil || d.Token != first.Token() {
		t.Fatalf("with two mirrors up, sidecar.json names %+v (%v), want the first", d, err)
	}
	if got, ok := first.DiscoveryFile(); !ok || got != path {
		t.Errorf("first.DiscoveryFile() = %q %v, want %s", got, ok, path)
	}
	if got, ok := second.DiscoveryFile(); ok {
		t.Errorf("second.DiscoveryFile() = %q, but the file names the first", got)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if d, err := notify.ReadDiscovery(path); err != nil || d.Token != first.Token() {
		t.Fatalf("after the second closed, sidecar.json: %+v %v, want the first's", d, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := notify.ReadDiscovery(path); err == nil {
		t.Errorf("sidecar.json outlived the mirror it names")
	}
}
