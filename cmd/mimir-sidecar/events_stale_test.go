package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// A sidecar.json left by a sidecar that was killed names a process that is
// gone: events says so and exits, instead of retrying forever.
func TestEventsSaysTheSidecarIsGone(t *testing.T) {
	ws := t.TempDir()
	dead := exec.Command(bin, "version")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing answers there any more
	pid := dead.Process.Pid
	if err := notify.WriteDiscovery(filepath.Join(ws, ".mimir", "sidecar.json"), notify.Discovery{URL: url, Token: "t", PID: pid, Workspace: ws}); err != nil {
		t.Fatal(err)
	}
	_, errs, code := eventsBin(t, ws)
	want := "the sidecar that wrote .mimir/sidecar.json (pid " + strconv.Itoa(pid) + ") is no longer running; start one"
	if code == 0 || !strings.Contains(errs, want) {
		t.Errorf("events on a stale sidecar.json: exit %d, stderr %q; want %q", code, errs, want)
	}
	if _, err := os.Stat(filepath.Join(ws, ".mimir", "sidecar.json")); err != nil {
		t.Errorf("the file is the user's to remove: %v", err)
	}
}
