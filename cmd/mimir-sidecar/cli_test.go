package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every command answers -h and --help on stdout with exit status 0, as
// "help COMMAND" does.
func TestHelpOnStdout(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range []string{"serve", "run", "events", "apply", "prune", "worker", "executions", "downloads"} {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--help"}, {"help", cmd}} {
			out, stderr, code := runBin(t, dir, args...)
			if code != 0 || stderr != "" || !strings.Contains(out, "Usage: mimir-sidecar") || !strings.Contains(out, "-workspace") && cmd != "worker" {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want the usage on stdout and 0", strings.Join(args, " "), code, out, stderr)
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		out, stderr, code := runBin(t, dir, args...)
		if code != 0 || stderr != "" || !strings.Contains(out, "mimir-sidecar run WORKFLOW") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".mimir")); err == nil {
		t.Error("asking for help made a .mimir folder")
	}
}

// A command line that cannot run is refused at once with exit status 2,
// before the workflow runs, with one message saying what to change.
func TestRunRefusesBadFlagsBeforeRunning(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: x\ntasks:\n  - id: a\n    worker: {command: echo hi > ran.txt}\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"wf.yaml", "--deliverables", "../out"}, "--deliverables ../out"},
		{[]string{"wf.yaml", "--deliverables", "sub/.git/hooks"}, ".git"},
		{[]string{"wf.yaml", "--parallelism", "-3"}, "--parallelism -3"},
		{[]string{"wf.yaml", "--conflict", "replace"}, "keep-both, overwrite or skip"},
		{[]string{"wf.yaml", "--no-save", "--deliverables", "out"}, "--no-save"},
		{[]string{"wf.yaml", "--branch", "b"}, "--branch needs --apply"},
		{[]string{"wf.yaml", "--sse-addr", "127.0.0.1:9"}, "need --sse"},
		{[]string{"wf.yaml", "--log-level", "loud"}, "--log-level"},
		{[]string{"wf.yaml", "--resume", "ex_1"}, "drop wf.yaml"},
		{[]string{"wf.yaml", "other.yaml"}, "one workflow at a time"},
		{[]string{}, "which workflow?"},
		{[]string{"wf.yaml", "--bogus"}, "-bogus"},
	} {
		out, stderr, code := runBin(t, ws, append([]string{"run"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || out != "" {
			t.Errorf("run %s: exit %d, stdout %q, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, out, stderr, tc.want)
		}
		if strings.Count(stderr, "mimir-sidecar run:") != 1 || strings.Contains(stderr, "save deliverables: save deliverables") {
			t.Errorf("run %s: stderr %q; want the problem said once", strings.Join(tc.args, " "), stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, ".mimir")); err == nil {
		t.Error("a refused command line ran something")
	}
}

// A save refused at the end of a run is said once, by its event, and the
// run exits 1: not a second time as the error of the command.
func TestFailedSaveSaidOnce(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: out\ntasks:\n  - id: a\n    worker: {command: echo hi > out.txt}\n"), 0o644)
	os.Symlink(outside, filepath.Join(ws, "deliverables"))
	out, stderr, code := runBin(t, ws, "run", "wf.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
	}
	if n := strings.Count(out+stderr, "a symbolic link points outside"); n != 1 {
		t.Errorf("the reason is said %d times, want once:\n%s%s", n, out, stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"bogus"},
		{"prune", "--keep", "-1"},
		{"prune", "extra"},
		{"events", "--until-complete"},
		{"apply"},
		{"worker", "--nats", "nats://x", "--prefix", "p", "--concurrency", "0"},
		{"serve", "--log-level", "loud"},
	} {
		_, stderr, code := runBin(t, dir, args...)
		if code != 2 || stderr == "" {
			t.Errorf("%s: exit %d, stderr %q; want 2 and a message", strings.Join(args, " "), code, stderr)
		}
	}
}

// prune where nothing ever ran leaves the folder as it was.
func TestPruneWithoutHistoryCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := runBin(t, dir, "prune")
	if code != 0 || !strings.Contains(out, "removed 0 executions") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("prune left %v behind", entries)
	}
}

func TestExecutionsCommand(t *testing.T) {
	ws := t.TempDir()
	if out, stderr, code := runBin(t, ws, "executions"); code != 0 || out != "" || !strings.Contains(stderr, "No executions") {
		t.Errorf("no history: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(ws, ".mimir")); err == nil {
		t.Error("listing no history made a .mimir folder")
	}
	os.WriteFile(filepath.Join(ws, "ok.yaml"), []byte("name: ok\ntasks:\n  - id: a\n    worker: {command: echo hi > a.txt}\n"), 0o644)
	os.WriteFile(filepath.Join(ws, "bad.yaml"), []byte("name: bad\ntasks:\n  - id: a\n    worker: {command: exit 3}\n    maxRetries: 0\n"), 0o644)
	var ids []string
	for _, wf := range []string{"ok.yaml", "bad.yaml", "ok.yaml"} {
		out, _, _ := runBin(t, ws, "run", wf, "--json", "--no-save")
		ids = append(ids, parseEvents(t, out)[0].ExecutionID)
	}
	out, stderr, code := runBin(t, ws, "executions")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("exit %d, stderr %q, table:\n%s", code, stderr, out)
	}
	for i, want := range []string{ids[2] + " completed ok", ids[1] + " failed bad", ids[0] + " completed ok"} {
		if got := strings.Join(strings.Fields(lines[i+1])[:3], " "); got != want {
			t.Errorf("row %d: %q, want %q (newest first)", i+1, got, want)
		}
	}
	// Pages of one, through the whole history.
	out, _, code = runBin(t, ws, "executions", "--json", "--limit", "2")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var s struct{ ExecutionID, Status string }
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("--json printed %q", line)
		}
		got = append(got, s.ExecutionID)
	}
	if code != 0 || !slices.Equal(got, []string{ids[2], ids[1]}) {
		t.Errorf("--json --limit 2: exit %d, %v; want %v", code, got, []string{ids[2], ids[1]})
	}
}

// A one-shot run reads the llm configuration anew each time: it has no
// sidecar to start again. The problem is said once.
func TestRunBrokenLLMConfigSaysRunAgain(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: l\ntasks:\n  - id: t\n    worker: {type: llm, prompt: p}\n"), 0o644)
	cmd := exec.Command(bin, "run", "wf.yaml")
	cmd.Dir = ws
	cmd.Env = append(os.Environ(), "MIMIR_LLM_PROVIDER=olama", "XDG_CONFIG_HOME="+t.TempDir())
	out, _ := cmd.CombinedOutput()
	if strings.Count(string(out), "unknown provider (known: ollama)") != 1 || !strings.Contains(string(out), "fix it and run the workflow again") || strings.Contains(string(out), "start the sidecar") {
		t.Errorf("exit %v:\n%s", cmd.ProcessState, out)
	}
}

// A shell worker makes no tool calls and a single task runs alone: the
// progress says neither "0 tool calls" nor "2 at a time".
func TestRunReadableSaysNothingIdle(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: one\nparallelism: 2\ntasks:\n  - id: a\n    worker: {command: echo hi > a.txt}\n"), 0o644)
	out, stderr, code := runBin(t, ws, "run", "wf.yaml", "--no-save")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(out, "tool call") || strings.Contains(out, "at a time") || !strings.Contains(out, "[a] ✅ Worker completed (") {
		t.Errorf("output:\n%s", out)
	}
}

// Running again saves nothing twice, and says so file by file.
func TestRunAgainSaysUnchanged(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: s\ntasks:\n  - id: a\n    worker: {command: 'echo same > a.txt; echo same > b.txt'}\n"), 0o644)
	runBin(t, ws, "run", "wf.yaml")
	os.WriteFile(filepath.Join(ws, "deliverables/a/b.txt"), []byte("mine\n"), 0o644)
	out, stderr, code := runBin(t, ws, "run", "wf.yaml")
	if code != 0 || !strings.Contains(out, "✅ Saved 2 deliverables to "+filepath.Join(ws, "deliverables")+" (1 unchanged, 1 kept beside a different file as a numbered copy)") ||
		!strings.Contains(out, "    · a/a.txt (unchanged)\n") || !strings.Contains(out, "    ✓ a/b.txt (saved as deliverables/a/b (1).txt: a different file has its name)\n") {
		t.Errorf("second run: exit %d, stderr %q, output:\n%s", code, stderr, out)
	}
	out, _, _ = runBin(t, ws, "run", "wf.yaml")
	if !strings.Contains(out, "(2 unchanged)") || !strings.Contains(out, "    · a/b.txt (unchanged: the same as deliverables/a/b (1).txt)\n") {
		t.Errorf("third run:\n%s", out)
	}
	if entries, _ := os.ReadDir(filepath.Join(ws, "deliverables/a")); len(entries) != 3 {
		t.Errorf("deliverables/a holds %d files, want a.txt, b.txt and b (1).txt", len(entries))
	}
}

// downloads lists past saves, newest first, with each file's outcome.
func TestDownloadsCommand(t *testing.T) {
	ws := t.TempDir()
	if _, stderr, code := runBin(t, ws, "downloads"); code != 0 || !strings.Contains(stderr, "No saves") {
		t.Errorf("no history: exit %d, %q", code, stderr)
	}
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: s\ntasks:\n  - id: a\n    worker: {command: 'echo same > a.txt'}\n"), 0o644)
	first, _, _ := runBin(t, ws, "run", "wf.yaml", "--json")
	runBin(t, ws, "run", "wf.yaml")
	out, stderr, code := runBin(t, ws, "downloads")
	if code != 0 || strings.Count(out, "✅ Saved 1 deliverable to ") != 2 ||
		strings.Index(out, "· a/a.txt (unchanged)") > strings.Index(out, "✓ a/a.txt") {
		t.Errorf("exit %d, stderr %q, output:\n%s", code, stderr, out)
	}
	id := parseEvents(t, first)[0].ExecutionID
	out, _, _ = runBin(t, ws, "downloads", "--json", "--execution", id)
	var d struct {
		ExecutionID, Target string
		Files               []struct{ Path, Status string }
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.ExecutionID != id || d.Target != filepath.Join(ws, "deliverables") || len(d.Files) != 1 || d.Files[0].Status != "saved" {
		t.Errorf("--json --execution %s: %v %q", id, err, out)
	}
}
