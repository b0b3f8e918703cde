package launcher

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// An agent's program is named as on the command line, without its
// extension: it is found on PATH through %PATHEXT%, as cmd.exe finds it.
func TestProgramFoundThroughPATHEXT(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prog := filepath.Join(dir, "agent-prog.exe")
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(prog)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	t.Setenv("PATH", dir)
	t.Setenv("PATHEXT", ".COM;.EXE;.BAT;.CMD")
	cmd, err := Command(context.Background(), Spec{Argv: []string{"agent-prog", "-test.run=^$"}, Dir: dir, Env: os.Environ()})
	if err != nil {
		t.Fatalf("agent-prog on PATH as agent-prog.exe: %v", err)
	}
	if err := cmd.Run(); err != nil {
		t.Errorf("run agent-prog: %v", err)
	}
	Finish(cmd)
}
