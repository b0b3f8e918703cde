package proc

import (
	"os"
	"os/exec"
	"testing"
)

// This process runs; a child that has exited and been waited for does not.
func TestRunning(t *testing.T) {
	if !Running(os.Getpid()) {
		t.Error("this process is not running")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if Running(cmd.Process.Pid) {
		t.Errorf("process %d runs after it exited", cmd.Process.Pid)
	}
}

func TestCPUTime(t *testing.T) {
	d, err := CPUTime()
	if err != nil || d <= 0 {
		t.Errorf("CPUTime() = %v, %v", d, err)
	}
}
