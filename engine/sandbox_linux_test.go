package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// These tests run real commands under the kernel's fence (Landlock); they
// need a kernel with ABI 4 or later, as this project's CI machine has.

func needLandlock(t *testing.T) {
	t.Helper()
	if sandbox.Available() < 4 {
		t.Skipf("Landlock ABI %d: these tests need 4 or later", sandbox.Available())
	}
}

func attemptError(evs []Event) string {
	if i := index(evs, EventWorkerComplete, "t"); i >= 0 && evs[i].Data.OK != nil && !*evs[i].Data.OK {
		return evs[i].Data.Error
	}
	return ""
}

func TestFencedWorkerWritesItsFolder(t *testing.T) {
	needLandlock(t)
	ws := t.TempDir()
	ex, evs := runFenced(t, ws, &Workflow{Name: "w", Tasks: []*Task{shellTask(
		`set -e; echo hi > out.txt; mkdir -p sub; f=$(mktemp); echo x > "$f"; mv "$f" sub/moved; echo "$TMPDIR" > tmpdir`, "")}})
	if st := ex.Summary().Status; st != StatusCompleted {
		t.Fatalf("status %s: %s", st, attemptError(evs))
	}
	w := evs[index(evs, EventWorkerStart, "t")]
	if w.Data.Sandbox != "task-write" || w.Data.Network != "allow" {
		t.Errorf("worker-start says sandbox %q network %q", w.Data.Sandbox, w.Data.Network)
	}
	b, err := os.ReadFile(filepath.Join(ex.StagingDir(), "t", "tmpdir"))
	if err != nil {
		t.Fatal(err)
	}
	if tmp := strings.TrimSpace(string(b)); tmp == "" || strings.HasPrefix(tmp, ex.StagingDir()) {
		t.Errorf("TMPDIR %q", tmp)
	} else if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the private temp folder %s outlived its command: %v", tmp, err)
	}
}

func TestFencedWorkerCannotWriteOutside(t *testing.T) {
	needLandlock(t)
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	mark := "mimir-fence-test-" + strconv.Itoa(os.Getpid())
	outside := t.TempDir()
	for name, c := range map[string]struct{ script, target string }{
		"workspace root":  {`echo x > "$MIMIR_WORKSPACE/` + mark + `"`, ""},
		"home":            {`echo x > "$HOME/` + mark + `"`, filepath.Join(home, mark)},
		"tmp":             {`echo x > /tmp/` + mark, filepath.Join("/tmp", mark)},
		"planted symlink": {`ln -s "` + outside + `" out && echo x > out/` + mark, filepath.Join(outside, mark)},
		"forked child":    {`(echo x > "$HOME/` + mark + `") & wait $!`, filepath.Join(home, mark)},
		"setsid child":    {`setsid -w sh -c 'echo x > "$HOME/` + mark + `"'`, filepath.Join(home, mark)},
	} {
		t.Run(name, func(t *testing.T) {
			ws := t.TempDir()
			if c.target == "" {
				c.target = filepath.Join(ws, mark)
			}
			ex, evs := runFenced(t, ws, &Workflow{Name: "w", Tasks: []*Task{shellTask(c.script, "")}})
			if _, err := os.Lstat(c.target); !errors.Is(err, os.ErrNotExist) {
				os.Remove(c.target)
				t.Fatalf("the worker wrote %s", c.target)
			}
			if st := ex.Summary().Status; st != StatusFailed {
				t.Fatalf("status %s", st)
			}
			msg := attemptError(evs)
			dir := filepath.Join(ex.StagingDir(), "t")
			for _, want := range []string{"Permission denied", mark, "the sandbox (task-write) lets this task write only " + dir + " and its temp folder"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the attempt's error does not say %q:\n%s", want, msg)
				}
			}
			fail := evs[index(evs, EventTaskFail, "t")]
			if fail.Data.Gap == nil || !strings.Contains(fail.Data.Gap.Feedback, "the sandbox (task-write)") {
				t.Errorf("the gap does not say the sandbox refused: %+v", fail.Data.Gap)
			}
		})
	}
}

func TestFencedQCIsReadOnly(t *testing.T) {
	needLandlock(t)
	ws := t.TempDir()
	ex, evs := runFenced(t, ws, &Workflow{Name: "q", Tasks: []*Task{shellTask(`echo work > out.txt`, `cat out.txt && f=$(mktemp) && echo ok > "$f" && echo verdict > verdict.txt`)}})
	if st := ex.Summary().Status; st != StatusFailed {
		t.Fatalf("status %s", st)
	}
	q := evs[index(evs, EventQCStart, "t")]
	if q.Data.Sandbox != "read-only" {
		t.Errorf("qc-start says sandbox %q", q.Data.Sandbox)
	}
	if _, err := os.Stat(filepath.Join(ex.StagingDir(), "t", "verdict.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the QC command wrote the task's folder: %v", err)
	}
	qc := evs[index(evs, EventQCComplete, "t")]
	if qc.Data.Gap == nil || !strings.Contains(qc.Data.Gap.Feedback, "Permission denied") {
		t.Errorf("the QC gap does not say why: %+v", qc.Data.Gap)
	}
}

func TestFencedNetworkDeny(t *testing.T) {
	needLandlock(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dial := `python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5).close()' ` + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		network string
		ok      bool
	}{{"allow", true}, {"deny", false}} {
		t.Run(c.network, func(t *testing.T) {
			ex, evs := runFenced(t, t.TempDir(), &Workflow{Name: "n", Network: c.network, Tasks: []*Task{shellTask(dial, "")}})
			if ok := ex.Summary().Status == StatusCompleted; ok != c.ok {
				t.Fatalf("network %s: connected %v: %s", c.network, ok, attemptError(evs))
			}
			if msg := attemptError(evs); !c.ok && (!strings.Contains(msg, "PermissionError") || !strings.Contains(msg, "open no TCP connection")) {
				t.Errorf("not refused by the fence, or not said so: %s", msg)
			}
		})
	}
}

// BenchmarkAttemptFenced measures what the fence costs an attempt: a
// one-task execution whose worker and QC are `true`, fenced and not.
func BenchmarkAttemptFenced(b *testing.B) {
	for _, c := range []struct {
		name string
		mode string
	}{{"unsandboxed", "off"}, {"fenced", ""}} {
		b.Run(c.name, func(b *testing.B) {
			r := NewRunner(b.Context(), Options{Workspace: b.TempDir(), Agents: Agents{"exec": commandAgent()}, Sandbox: SandboxSettings{Mode: c.mode}})
			defer r.Close(context.Background())
			wf := &Workflow{Name: "bench", Tasks: []*Task{{ID: "t",
				Worker: &AgentSpec{Command: Command{Argv: []string{"true"}}},
				QC:     &AgentSpec{Command: Command{Argv: []string{"true"}}}}}}
			for b.Loop() {
				ex, err := r.Execute(wf, ExecOptions{})
				if err != nil {
					b.Fatal(err)
				}
				<-ex.Done()
				if st := ex.Summary().Status; st != StatusCompleted {
					b.Fatalf("status %s", st)
				}
			}
		})
	}
}

// A workflow's `sandbox: off` is the user's to allow: without their
// configuration saying so it runs fenced, with a warning; with it, not.
func TestWorkflowOffNeedsTheUsersConsent(t *testing.T) {
	needLandlock(t)
	outside := t.TempDir()
	wf := &Workflow{Name: "off", Sandbox: "off", Tasks: []*Task{shellTask(`echo x > "`+outside+`/x"`, "")}}
	ex, evs := runFenced(t, t.TempDir(), wf)
	if st := ex.Summary().Status; st != StatusFailed {
		t.Fatalf("without consent: status %s", st)
	}
	if i := index(evs, EventExecutionWarning, ""); i < 0 || evs[i].Data.Warning != WarningSandboxOffIgnored {
		t.Errorf("no sandbox-off-ignored warning: %v", names(evs, ""))
	}
	ex, evs = runFenced(t, t.TempDir(), wf, func(o *Options) { o.Sandbox.AllowWorkflowOff = true })
	if st := ex.Summary().Status; st != StatusCompleted {
		t.Fatalf("with consent: status %s: %s", st, attemptError(evs))
	}
	if w := evs[index(evs, EventWorkerStart, "t")]; w.Data.Sandbox != "off" {
		t.Errorf("worker-start says sandbox %q", w.Data.Sandbox)
	}
}
