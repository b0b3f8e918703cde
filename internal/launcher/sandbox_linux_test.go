package launcher

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// The fence is in place before the command starts: it writes its folder
// and its temp folder only, and so does what it starts with setsid.
func TestSandboxFencesTheCommandAndItsDescendants(t *testing.T) {
	if sandbox.Available() == 0 {
		t.Skip("this kernel has no Landlock")
	}
	dir, temp, outside := t.TempDir(), t.TempDir(), t.TempDir()
	pol := &sandbox.Policy{Mode: sandbox.TaskWrite, Dir: dir, Temp: temp}
	script := `echo in > in.txt && echo tmp > "$T/t.txt" || exit 3
echo out > "$O/direct.txt" && exit 4
setsid sh -c 'echo out > "$O/setsid.txt"' ; [ -e "$O/setsid.txt" ] && exit 5
exit 0`
	cmd, err := Command(context.Background(), Spec{Argv: []string{"/bin/sh", "-c", script}, Dir: dir, Env: append(os.Environ(), "T="+temp, "O="+outside), Sandbox: pol})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Permission denied") {
		t.Errorf("no refusal in the output: %q", out.String())
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("written outside: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(dir, "in.txt")); err != nil {
		t.Error(err)
	}
}
