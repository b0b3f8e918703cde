package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/git/gittest"
)

// worktreeCount is how many worktrees besides its own a repository lists.
func worktreeCount(t *testing.T, args ...string) int {
	t.Helper()
	out := gittest.Run(t, "", append(args, "worktree", "list", "--porcelain")...)
	return strings.Count(out, "worktree ") - 1
}

// The example a new user runs: a failing test, fixed in a worktree on the
// second attempt, checked by QC running the tests, applied.
func TestFixAFailingTestExample(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	t.Setenv("HOME", t.TempDir())
	work := t.TempDir()
	cmd := exec.Command("sh", "../../examples/fix-a-failing-test/try.sh", work)
	cmd.Env = append(os.Environ(), "MIMIR_SIDECAR="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("try.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"QC failed (Score: 40/100)", "✅ Applied the changes to 1 file", `ok   slugify "  Many   spaces  " = many-spaces`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if n := worktreeCount(t, "-C", work); n != 0 {
		t.Errorf("the project's repository lists %d worktrees", n)
	}
	gits, _ := filepath.Glob(filepath.Join(work, ".mimir", "executions", "*", "git"))
	if len(gits) != 1 {
		t.Fatalf("execution repositories: %v", gits)
	}
	if n := worktreeCount(t, "--git-dir="+gits[0]); n != 0 {
		t.Errorf("the applied execution still has %d worktrees", n)
	}
}

const isolatedWorkflow = `name: isolated
isolation: worktree
tasks:
  - id: a
    worker:
      command: 'echo "a was here" >> a.txt; while [ ! -e "$MIMIR_WORKSPACE/go" ]; do sleep 0.05; done'
`

// A sidecar killed while an isolated task runs leaves its worktree behind;
// the resumed task gets a fresh one, and once the change is applied no
// worktree is left, in the user's repository or the execution's.
func TestKilledSidecarLeavesNoStaleWorktree(t *testing.T) {
	ws := gittest.Repo(t, map[string]string{"a.txt": "start\n", "iso.yaml": isolatedWorkflow})
	first := startSidecar(t, ws)
	res, _ := first.call("mimir/execute", map[string]any{"workflow": "iso.yaml"})
	id := res["executionId"].(string)
	for {
		if ev, ok := eventOf(first.next()); ok && ev.Event == engine.EventWorkerStart {
			break
		}
	}
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.cmd.Wait()

	second := startSidecar(t, ws)
	if err := os.WriteFile(filepath.Join(ws, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	second.call("mimir/resume", map[string]any{"executionId": id})
	for {
		if ev, ok := eventOf(second.next()); ok && ev.Event == engine.EventExecutionComplete {
			if ev.Data.Status != "completed" {
				t.Fatalf("resumed execution ended %+v", ev.Data)
			}
			break
		}
	}
	applied, _ := second.call("mimir/applyChanges", map[string]any{"executionId": id})
	if applied["status"] != "applied" || applied["applied"] != float64(1) {
		t.Fatalf("apply: %v", applied)
	}
	if got, _ := os.ReadFile(filepath.Join(ws, "a.txt")); string(got) != "start\na was here\n" {
		t.Errorf("a.txt = %q: the resumed task must start from a fresh worktree", got)
	}
	if n := worktreeCount(t, "-C", ws); n != 0 {
		t.Errorf("the user's repository lists %d worktrees", n)
	}
	if n := worktreeCount(t, "--git-dir="+filepath.Join(ws, ".mimir", "executions", id, "git")); n != 0 {
		t.Errorf("the execution's repository lists %d worktrees after the apply", n)
	}
}

// mimir-sidecar apply: on a branch first (the working tree untouched),
// then to the working tree, the user's unrelated edit kept.
func TestApplyCommand(t *testing.T) {
	ws := gittest.Repo(t, map[string]string{"a.txt": "a\n", "b.txt": "b\n", "wf.yaml": "name: w\nisolation: worktree\ntasks:\n  - id: t\n    worker: {command: echo more >> a.txt}\n"})
	out, stderr, code := runBin(t, ws, "run", "wf.yaml", "--json", "--no-save")
	if code != 0 {
		t.Fatalf("run: %d\n%s", code, stderr)
	}
	id := parseEvents(t, out)[0].ExecutionID
	if err := os.WriteFile(filepath.Join(ws, "b.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	status := gittest.Run(t, ws, "status", "--porcelain")

	out, stderr, code = runBin(t, ws, "apply", id, "--branch", "mimir/more")
	if code != 0 || !strings.Contains(out, "on branch mimir/more") {
		t.Fatalf("apply --branch: %d\n%s%s", code, out, stderr)
	}
	if got := gittest.Run(t, ws, "status", "--porcelain"); got != status {
		t.Errorf("apply --branch changed the working tree: %q, was %q", got, status)
	}
	if got := gittest.Run(t, ws, "show", "mimir/more:a.txt"); got != "a\nmore" {
		t.Errorf("the branch's a.txt = %q", got)
	}

	out, stderr, code = runBin(t, ws, "apply", id, "--discard")
	if code != 0 || worktreeCount(t, "--git-dir="+filepath.Join(ws, ".mimir", "executions", id, "git")) != 0 {
		t.Fatalf("apply --discard: %d\n%s%s", code, out, stderr)
	}

	// Discarded worktrees: the change is still recorded, and applies.
	out, stderr, code = runBin(t, ws, "apply", id)
	if code != 0 || !strings.Contains(out, "a.txt (modified, applied)") {
		t.Fatalf("apply: %d\n%s%s", code, out, stderr)
	}
	for name, want := range map[string]string{"a.txt": "a\nmore\n", "b.txt": "mine\n"} {
		if got, _ := os.ReadFile(filepath.Join(ws, name)); string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, stderr, code = runBin(t, ws, "apply", "ex_nope"); code != 1 || !strings.Contains(stderr, "no execution") {
		t.Errorf("apply of an unknown execution: %d %s", code, stderr)
	}
}

// Two tasks that ran side by side, each editing its own file, both apply;
// and nothing the workspace's repository configures to run (fsmonitor, a
// hook on every event git has, a filter) ever runs, through the whole run,
// the apply and a branch.
func TestParallelChangesApplyInAHostileRepository(t *testing.T) {
	ws := gittest.Repo(t, map[string]string{"a.txt": "a\n", "b.txt": "b\n", ".gitattributes": "* filter=evil\n",
		"wf.yaml": "name: w\nisolation: worktree\ntasks:\n  - id: x\n    worker: {command: echo x >> a.txt}\n  - id: y\n    worker: {command: echo y >> b.txt}\n"})
	marker := filepath.Join(t.TempDir(), "ran")
	evil := filepath.Join(t.TempDir(), "evil.sh")
	if err := os.WriteFile(evil, []byte("#!/bin/sh\necho \"$0 $*\" >> "+marker+"\ncat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"post-checkout", "reference-transaction", "pre-commit", "post-commit", "post-index-change", "pre-auto-gc"} {
		if err := os.WriteFile(filepath.Join(ws, ".git", "hooks", h), []byte("#!/bin/sh\necho "+h+" >> "+marker+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range [][2]string{{"core.fsmonitor", evil}, {"filter.evil.clean", evil}, {"filter.evil.smudge", evil}, {"filter.evil.required", "true"}, {"commit.gpgSign", "true"}, {"gpg.program", evil}} {
		gittest.Run(t, ws, "config", kv[0], kv[1])
	}
	if _, err := os.Stat(marker); err == nil {
		os.Remove(marker) // set-up's own git commands may have run them
	}

	out, stderr, code := runBin(t, ws, "run", "wf.yaml", "--apply", "--no-save")
	if code != 0 || !strings.Contains(out, "Applied the changes to 2 files") {
		t.Fatalf("run --apply: %d\n%s%s", code, out, stderr)
	}
	for name, want := range map[string]string{"a.txt": "a\nx\n", "b.txt": "b\ny\n"} {
		if got, _ := os.ReadFile(filepath.Join(ws, name)); string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	id := ""
	if entries, _ := os.ReadDir(filepath.Join(ws, ".mimir", "executions")); len(entries) == 1 {
		id = entries[0].Name()
	}
	if out, stderr, code = runBin(t, ws, "apply", id, "--branch", "mimir/both"); code != 0 {
		t.Fatalf("apply --branch: %d\n%s%s", code, out, stderr)
	}
	if data, err := os.ReadFile(marker); err == nil {
		t.Fatalf("git ran a program the repository configured:\n%s", data)
	}
}
