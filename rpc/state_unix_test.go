//go:build unix

package rpc

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/mirror"
)

func isWarningToast(m map[string]any) bool {
	p, _ := m["params"].(map[string]any)
	return m["method"] == "window/showMessage" && p["type"] == float64(2)
}

// A .mimir planted as a link out of the workspace is refused: initialize
// answers, the user is told what was found and what to do, nothing is
// made outside, and execute fails with the same clear reason.
func TestLinkedStateFolderIsRefusedAndToasted(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(ws, ".mimir")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ws, "ok.yaml"), []byte("name: ok\ntasks:\n  - {id: a, worker: {command: 'echo hi > out.txt'}}\n"), 0o644)
	c := startServer(t, Options{StartMirror: MirrorFunc(mirror.Options{}.Start)})
	r := c.initialize(ws, nil)
	if r["mimir"].(map[string]any)["sse"] == nil {
		t.Error("the mirror did not start without a state folder")
	}
	got := c.until(isWarningToast)
	msg := got[len(got)-1]["params"].(map[string]any)["message"].(string)
	if !strings.Contains(msg, "is a symbolic link") || !strings.Contains(msg, "remove "+filepath.Join(ws, ".mimir")) {
		t.Errorf("toast: %q, want it to say .mimir is a link and to remove it", msg)
	}
	resp, _ := c.call("mimir/execute", map[string]any{"workflow": "ok.yaml"})
	if !strings.Contains(errorMessage(resp), "is a symbolic link") {
		t.Errorf("execute with a refused state folder: %v", resp)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("files were made outside the workspace: %v", ents)
	}
}

// A sidecar.json that is a link to /dev/zero or a FIFO is refused at once:
// initialize answers promptly (it read 1.5 GB, or hung, before).
func TestDiscoveryFileThatIsNoFileDoesNotHoldUpInitialize(t *testing.T) {
	for name, plant := range map[string]func(string) error{
		"/dev/zero": func(p string) error { return os.Symlink("/dev/zero", p) },
		"a FIFO":    func(p string) error { return syscall.Mkfifo(p, 0o600) },
	} {
		t.Run(name, func(t *testing.T) {
			ws := t.TempDir()
			os.Mkdir(filepath.Join(ws, ".mimir"), 0o755)
			if err := plant(filepath.Join(ws, ".mimir", "sidecar.json")); err != nil {
				t.Fatal(err)
			}
			c := startServer(t, Options{StartMirror: MirrorFunc(mirror.Options{}.Start)})
			start := time.Now()
			r := c.initialize(ws, map[string]any{"toasts": "none"})
			if r["mimir"].(map[string]any)["sse"] == nil {
				t.Error("no mirror")
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("initialize took %s", d)
			}
			st, err := os.Lstat(filepath.Join(ws, ".mimir", "sidecar.json"))
			if err != nil || !st.Mode().IsRegular() {
				t.Errorf("sidecar.json was not replaced by the mirror's: %v %v", st, err)
			}
		})
	}
}

// A journal.lock planted as a link: the file it points to is not
// truncated, the user is told what to remove, and workflows still run.
func TestLinkedJournalLockIsToastedAndLeftAlone(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	precious := filepath.Join(outside, "precious")
	os.WriteFile(precious, []byte("the user's file"), 0o644)
	os.Mkdir(filepath.Join(ws, ".mimir"), 0o755)
	lock := filepath.Join(ws, ".mimir", "journal.lock")
	if err := os.Symlink(precious, lock); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ws, "ok.yaml"), []byte("name: ok\ntasks:\n  - {id: a, worker: {command: 'true'}}\n"), 0o644)
	c := startServer(t, Options{})
	c.initialize(ws, nil)
	got := c.until(isWarningToast)
	msg := got[len(got)-1]["params"].(map[string]any)["message"].(string)
	if !strings.Contains(msg, lock+" is a symbolic link") || !strings.Contains(msg, "remove "+lock) {
		t.Errorf("toast: %q", msg)
	}
	c.result("mimir/execute", map[string]any{"workflow": "ok.yaml"})
	c.until(isEvent("execution-complete"))
	if b, _ := os.ReadFile(precious); string(b) != "the user's file" {
		t.Errorf("the file journal.lock pointed to now holds %q", b)
	}
}
