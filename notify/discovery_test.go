package notify

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A second mirror on a workspace does not take sidecar.json from a first
// that is still up, and neither removes a file that is not its own.
func TestDiscoveryKeepsTheLiveMirror(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), ".mimir", "sidecar.json")
	first := startSSE(t, NewHub(4), SSEOptions{})
	d1 := Discovery{URL: first.URL(), Token: first.Token(), PID: 1}
	if wrote, _, err := ClaimDiscovery(ctx, path, d1); err != nil || !wrote {
		t.Fatalf("first claim: %v %v", wrote, err)
	}
	second := startSSE(t, NewHub(4), SSEOptions{})
	d2 := Discovery{URL: second.URL(), Token: second.Token(), PID: 2}
	wrote, holder, err := ClaimDiscovery(ctx, path, d2)
	if err != nil || wrote || holder.Token != d1.Token {
		t.Fatalf("second claim while the first is up: wrote=%v holder=%+v %v", wrote, holder, err)
	}
	if err := RemoveDiscovery(path, d2); err != nil {
		t.Fatal(err)
	}
	if d, err := ReadDiscovery(path); err != nil || d.Token != d1.Token {
		t.Fatalf("after the second removed its (unwritten) file: %+v %v, want the first's", d, err)
	}
	if err := RemoveDiscovery(path, d1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the first's own file was not removed: %v", err)
	}
}

// A file left by a mirror that is gone, that answers to another token, or
// that points off this machine is replaced, and then is the new owner's.
func TestDiscoveryReplacesStaleFiles(t *testing.T) {
	ctx := context.Background()
	gone, err := StartSSE(NewHub(4), SSEOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	other := startSSE(t, NewHub(4), SSEOptions{})
	stale := []Discovery{
		{URL: gone.URL(), Token: gone.Token(), PID: 1},
		{URL: other.URL(), Token: "not-its-token", PID: 1},
		{URL: "http://192.0.2.1:80", Token: "t", PID: 1},
	}
	for _, old := range stale {
		path := filepath.Join(t.TempDir(), "sidecar.json")
		if err := WriteDiscovery(path, old); err != nil {
			t.Fatal(err)
		}
		me := Discovery{URL: "http://127.0.0.1:1", Token: "mine", PID: 2}
		if wrote, _, err := ClaimDiscovery(ctx, path, me); err != nil || !wrote {
			t.Errorf("over %s: wrote=%v %v, want it replaced", old.URL, wrote, err)
		}
		// The old owner, closing late, leaves the new file alone.
		if err := RemoveDiscovery(path, old); err != nil {
			t.Fatal(err)
		}
		if d, err := ReadDiscovery(path); err != nil || d.Token != "mine" {
			t.Errorf("the old owner removed the new file: %+v %v", d, err)
		}
	}
}
