package launcher

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/proc"
)

func TestMain(m *testing.M) {
	Main()
	if role, ok := os.LookupEnv(roleKey); ok {
		os.Exit(playRole(role))
	}
	os.Exit(m.Run())
}

// roleKey makes the test binary, started again, play a part in a process
// tree: the same on every OS, where a shell script would not be.
const roleKey = "MIMIR_LAUNCHER_TEST_ROLE"

// playRole plays "sleep" (a process that lasts), or "parent-exits" or
// "parent-waits": start a sleeper, write its pid to the file named by
// MIMIR_LAUNCHER_TEST_PIDFILE, then exit or wait.
func playRole(role string) int {
	switch role {
	case "sleep":
		time.Sleep(5 * time.Minute)
		return 0
	case "sidecar":
		return playSidecar()
	}
	exe, err := os.Executable()
	if err != nil {
		return 3
	}
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), roleKey+"=sleep")
	if err := child.Start(); err != nil {
		return 3
	}
	pidFile := os.Getenv("MIMIR_LAUNCHER_TEST_PIDFILE")
	if err := os.WriteFile(pidFile+".tmp", []byte(strconv.Itoa(child.Process.Pid)+"\n"), 0o644); err != nil {
		return 3
	}
	if err := os.Rename(pidFile+".tmp", pidFile); err != nil {
		return 3
	}
	if role == "parent-waits" {
		_ = child.Wait()
	}
	return 0
}

// playSidecar starts a "parent-waits" command through the launcher, as the
// sidecar does, and waits for it: the test kills this process under it.
func playSidecar() int {
	exe, err := os.Executable()
	if err != nil {
		return 3
	}
	env := append(os.Environ(), roleKey+"=parent-waits")
	cmd, err := Command(context.Background(), Spec{Argv: []string{exe, "-test.run=^$"}, Dir: os.TempDir(), Env: env})
	if err != nil {
		return 3
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return 3
	}
	return 0
}

// A sidecar killed outright (it cannot clean up) takes its commands' trees
// with it: Linux's Pdeathsig, the Job Object's launcher watching the
// sidecar on Windows, the launcher watching its parent elsewhere.
func TestTreeDiesWithTheSidecar(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	sidecar := exec.Command(exe, "-test.run=^$")
	sidecar.Env = append(os.Environ(), roleKey+"=sidecar", "MIMIR_LAUNCHER_TEST_PIDFILE="+pidFile, "GORACE=atexit_sleep_ms=0")
	if err := sidecar.Start(); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, pidFile)
	if err := sidecar.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = sidecar.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for proc.Running(pid) {
		if time.Now().After(deadline) {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
			t.Fatalf("the command's child %d outlived the killed sidecar", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Whether the command exits or is cancelled, what it started ends with it,
// on every OS: Linux's launcher, the process group elsewhere on Unix,
// Windows's Job Object.
func TestTreeEndsWithItsCommand(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"parent-exits", "parent-waits"} {
		t.Run(role, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "pid")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env := append(os.Environ(), roleKey+"="+role, "MIMIR_LAUNCHER_TEST_PIDFILE="+pidFile, "GORACE=atexit_sleep_ms=0")
			cmd, err := Command(ctx, Spec{Argv: []string{exe, "-test.run=^$"}, Dir: dir, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := readPid(t, pidFile)
			if role == "parent-waits" {
				cancel()
			}
			err = cmd.Wait()
			Finish(cmd)
			if role == "parent-exits" && err != nil {
				t.Errorf("the command failed: %v", err)
			}
			if role == "parent-waits" && err == nil {
				t.Error("a cancelled command succeeded")
			}
			// Killed, it may take the OS a moment to end it.
			deadline := time.Now().Add(5 * time.Second)
			for proc.Running(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("the command's child %d outlived it", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
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
		if proc.Running(pid) {
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
