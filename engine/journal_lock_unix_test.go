//go:build unix

package engine

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
	// The "child" holds the lock a moment, then lets go, as exec would.
	holder := exec.Command("flock", "-x", lock, "sleep", "0.3")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := exec.Command("flock", "-n", lock, "true").Run(); err != nil {
			break // held now
		}
		if time.Now().After(deadline) {
			t.Fatal("flock did not take the lock within 5s")
		}
	}
	j, _, err := OpenJournal(state, nil)
	if err != nil {
		t.Fatalf("open while a dead sidecar's child held the lock: %v", err)
	}
	j.Close()
}
