package launcher

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/proc"
)

// A launcher killed outright cannot clean up: what its command started
// comes to the sidecar, whose subreaper kills it. The sidecar's own
// children (other launchers) are left alone.
func TestSubreaperKillsWhatAKilledLauncherLeft(t *testing.T) {
	s, err := StartSubreaper()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)

	other, err := Command(context.Background(), Spec{Argv: []string{"sleep", "300"}, Dir: t.TempDir(), Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()

	dir := t.TempDir()
	cmd, err := Command(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", `setsid sleep 300 & echo $! > pid; wait`}, Dir: dir, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	orphan := readPid(t, dir+"/pid")
	defer syscall.Kill(orphan, syscall.SIGKILL)
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for proc.Running(orphan) {
		if time.Now().After(deadline) {
			t.Fatalf("the orphan %d of a killed launcher still runs", orphan)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !proc.Running(other.Process.Pid) {
		t.Error("the subreaper killed a launcher of the sidecar's")
	}
}
