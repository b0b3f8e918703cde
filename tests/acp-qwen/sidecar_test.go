//go:build unix

package acpqwen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/fakemodel"
)

// sidecarBinary is the sidecar the suite built (MIMIR_SIDECAR_BIN), or one
// built here.
func sidecarBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MIMIR_SIDECAR_BIN"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "mimir-sidecar")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/mimir-sidecar")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the sidecar: %v\n%s", err, out)
	}
	return bin
}

// Qwen Code as a workflow's worker (type: acp), run by the sidecar as a
// user runs it: fenced by the sandbox, writing through the sidecar's
// fs/write_text_file. Its first draft fails QC; the retry's prompt carries
// the gap, the scripted model fixes the file, and the file arrives in the
// workspace's deliverables/.
func TestQwenAsAWorkflowWorker(t *testing.T) {
	qwen := qwenBinary(t)
	bin := sidecarBinary(t)
	const fix = "the notes must say fixed"
	model := fakemodel.Start("fake-model", fakemodel.WriteFile{
		Name:    "notes.md",
		Trigger: "Write notes.md.",
		Attempts: []fakemodel.Attempt{
			{When: fix, Content: "fixed notes\n"},
			{Content: "draft notes\n"},
		},
		Done: "I wrote notes.md.",
	}.Script())
	defer model.Close()

	ws := t.TempDir()
	u := newQwenUser(t)
	qc := fmt.Sprintf(`if grep -q fixed notes.md; then echo '{"passed":true,"score":100,"feedback":"Good."}'; else echo '{"passed":false,"score":30,"feedback":"Draft only: %s.","issues":["no fix"],"requiredFixes":["Write fixed notes"]}'; fi`, fix)
	workflow := fmt.Sprintf(`name: qwen-notes
tasks:
  - id: notes
    title: Write the notes
    worker:
      type: acp
      command: [%q, --acp, --auth-type, openai, --approval-mode, default]
      prompt: Write notes.md.
      env: {OPENAI_BASE_URL: %q, OPENAI_API_KEY: test-key, OPENAI_MODEL: fake-model, QWEN_HOME: %q}
    qc:
      command: %q
    maxRetries: 1
    deliverables: [notes.md]
`, qwen, model.URL(), u.qwenHome, qc)
	out := u.run(t, bin, ws, workflow)
	got, err := os.ReadFile(filepath.Join(ws, "deliverables", "notes", "notes.md"))
	if err != nil || string(got) != "fixed notes\n" {
		t.Fatalf("deliverables/notes/notes.md = %q, %v; want the fixed notes\n%s", got, err, out.String())
	}
	// The first draft failed QC, and the retry came with its gap.
	if !strings.Contains(out.String(), fix) {
		t.Errorf("the run does not show the QC gap:\n%s", out.String())
	}
	// Qwen reports its tokens in its message chunks' _meta, not in the
	// prompt's answer: they are recorded all the same.
	if !strings.Contains(out.String(), "tokens (") {
		t.Errorf("the run shows no token usage:\n%s", out.String())
	}
	if entries, _ := os.ReadDir(u.home); len(entries) != 0 {
		t.Errorf("something wrote in HOME: %v", entries)
	}
	t.Logf("%s", out.String())
}

// qwenUser is a user's setup for Qwen Code: its own configuration folder,
// HOME, and QWEN_HOME, where Qwen keeps its state and dies without; the
// user's own configuration lets agents write there, as docs/agents.md says.
type qwenUser struct{ config, home, qwenHome string }

func newQwenUser(t *testing.T) qwenUser {
	t.Helper()
	u := qwenUser{config: t.TempDir(), home: t.TempDir(), qwenHome: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(u.config, "mimir"), 0o755); err != nil {
		t.Fatal(err)
	}
	userConfig := fmt.Sprintf("sandbox:\n  write: [%q]\n", u.qwenHome)
	if err := os.WriteFile(filepath.Join(u.config, "mimir", "config.yaml"), []byte(userConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return u
}

// run writes workflow into ws and runs it with `mimir-sidecar run`, with
// args added, as the user; it fails the test unless the run succeeds.
func (u qwenUser) run(t *testing.T, bin, ws, workflow string, args ...string) *bytes.Buffer {
	t.Helper()
	if err := os.WriteFile(filepath.Join(ws, "workflow.yaml"), []byte(workflow), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"run", "--workspace", ws, "workflow.yaml"}, args...)...)
	cmd.Dir = ws
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+u.config, "HOME="+u.home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("mimir-sidecar run: %v\n%s", err, out.String())
	}
	return &out
}

// Qwen Code edits a file the repository already has, in the task's git
// worktree (the user's uncommitted edit in view), and the change is
// applied to the working tree with the user's other edit kept.
func TestQwenEditsAFileInAWorktree(t *testing.T) {
	qwen := qwenBinary(t)
	bin := sidecarBinary(t)
	model := fakemodel.Start("fake-model", fakemodel.WriteFile{
		Name:     "notes.md",
		Trigger:  "Rewrite notes.md.",
		Attempts: []fakemodel.Attempt{{Content: "fixed notes\n"}},
		Done:     "I rewrote notes.md.",
	}.Script())
	defer model.Close()

	u := newQwenUser(t)
	ws := t.TempDir()
	for _, args := range [][]string{{"init", "-q"}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "start"}} {
		if out, err := exec.Command("git", append([]string{"-C", ws}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	// Uncommitted, as the user has them: the notes the agent edits, and
	// a file of the user's own that must survive the apply.
	for name, content := range map[string]string{"notes.md": "old notes\n", "mine.txt": "mine\n"} {
		if err := os.WriteFile(filepath.Join(ws, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	workflow := fmt.Sprintf(`name: qwen-edit
isolation: worktree
tasks:
  - id: notes
    worker:
      type: acp
      command: [%q, --acp, --auth-type, openai, --approval-mode, default]
      prompt: Rewrite notes.md.
      env: {OPENAI_BASE_URL: %q, OPENAI_API_KEY: test-key, OPENAI_MODEL: fake-model, QWEN_HOME: %q}
    qc:
      command: grep -q '^+fixed notes' "$MIMIR_PATCH_FILE"
    maxRetries: 0
`, qwen, model.URL(), u.qwenHome)
	out := u.run(t, bin, ws, workflow, "--apply", "--no-save")
	if !strings.Contains(out.String(), "Applied the changes to 1 file") {
		t.Errorf("the run does not say it applied the change:\n%s", out.String())
	}
	for name, want := range map[string]string{"notes.md": "fixed notes\n", "mine.txt": "mine\n"} {
		if got, err := os.ReadFile(filepath.Join(ws, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q\n%s", name, got, err, want, out.String())
		}
	}
}
