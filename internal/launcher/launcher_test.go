package launcher

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/proctest"
)

func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}

// run starts argv through Command and waits for it.
func run(t *testing.T, ctx context.Context, argv ...string) (string, error) {
	t.Helper()
	cmd, err := Command(ctx, Spec{Argv: argv, Dir: t.TempDir(), Env: os.Environ()})
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	err = cmd.Wait()
	Finish(cmd)
	return out.String(), err
}

// What the command says, where it runs and how it ends is what the caller
// sees, as if there were no launcher.
func TestCommandStatusPassesThrough(t *testing.T) {
	out, err := run(t, context.Background(), "/bin/sh", "-c", `pwd; echo "$HOME"; echo err >&2`)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || lines[1] != os.Getenv("HOME") || lines[2] != "err" {
		t.Errorf("output %q", out)
	}
	if _, err := run(t, context.Background(), "/bin/sh", "-c", "exit 7"); err == nil || err.Error() != "exit status 7" {
		t.Errorf("exit 7: %v", err)
	}
	for sig, want := range map[string]string{"KILL": "signal: killed", "SEGV": "signal: segmentation fault", "TERM": "signal: terminated"} {
		if _, err := run(t, context.Background(), "/bin/sh", "-c", "kill -"+sig+" $$"); err == nil || err.Error() != want {
			t.Errorf("killed by SIG%s: %v, want %s", sig, err, want)
		}
	}
	if _, err := run(t, context.Background(), "no-such-program-here"); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("a missing program: %v", err)
	}
}

// Cancelling stops the command and everything it started within a
// second, even a process that ignores SIGTERM and holds the output open.
func TestCancelStopsTheWholeTree(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := Command(ctx, Spec{Argv: []string{"/bin/sh", "-c", `trap '' TERM; setsid sh -c 'trap "" TERM; sleep 300' & echo $! > pid; exec sleep 300`}, Dir: dir, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, dir+"/pid")
	start := time.Now()
	cancel()
	err = cmd.Wait()
	Finish(cmd)
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancel took %v", took)
	}
	if err == nil {
		t.Error("a cancelled command succeeded")
	}
	if runtime.GOOS == "linux" {
		if proctest.Running(pid) {
			t.Errorf("the setsid'ed grandchild %d survived the cancel", pid)
		}
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && strings.HasSuffix(string(b), "\n") {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A binary that uses Command without calling Main would run itself as the
// command, and that copy its own commands, without end: it is refused.
func TestMissingHookIsRefused(t *testing.T) {
	t.Setenv(envKey, "{}")
	if _, err := Command(context.Background(), Spec{Argv: []string{"true"}}); !errors.Is(err, errNoHook) {
		t.Errorf("Command inside a launcher: %v", err)
	}
}
