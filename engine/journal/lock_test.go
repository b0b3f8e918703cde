package journal

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
)

// holdEnv makes TestHoldJournal, in a copy of this test binary, hold the
// journal of the state folder it names until killed.
const holdEnv = "MIMIR_TEST_HOLD_JOURNAL"

func TestHoldJournal(t *testing.T) {
	state, ok := os.LookupEnv(holdEnv)
	if !ok {
		t.Skip("the journal holder of TestLockDiesWithItsHolder")
	}
	j, _, err := Open(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	os.Stdout.WriteString("held\n")
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
}

// A sidecar killed outright takes its lock with it (flock on Unix,
// LockFileEx on Windows): the next one opens the journal at once, and
// while the holder lived it was told who held it.
func TestLockDiesWithItsHolder(t *testing.T) {
	state := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(exe, "-test.run=^TestHoldJournal$")
	holder.Env = append(os.Environ(), holdEnv+"="+state)
	stdin, _ := holder.StdinPipe()
	defer stdin.Close()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "held\n" {
		t.Fatalf("the holder: %q %v", line, err)
	}
	if _, _, err := Open(state, nil); err == nil {
		t.Fatal("opened a journal another process holds")
	}
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	j, _, err := Open(state, nil)
	if err != nil {
		t.Fatalf("open after the holder was killed: %v", err)
	}
	j.Close()
}
