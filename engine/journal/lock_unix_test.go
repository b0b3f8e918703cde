//go:build unix

package journal

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A lock left with a child of a sidecar that died (between its fork and its
// exec) is waited for, not reported as another sidecar.
func TestLockOfADeadSidecarIsWaitedFor(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("needs util-linux's flock")
	}
	state := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(state, "journal.lock")
	if err := os.WriteFile(lock, []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The "child" holds the lock until it is told to let go, as exec
	// would close it; the open must wait for that rather than give up.
	holder := exec.Command("flock", "-x", lock, "sh", "-c", "echo held; read _")
	release, _ := holder.StdinPipe()
	held, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	if _, err := held.Read(make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, func() { release.Close() })
	j, _, err := Open(state, nil)
	if err != nil {
		t.Fatalf("open while a dead sidecar's child held the lock: %v", err)
	}
	j.Close()
}
