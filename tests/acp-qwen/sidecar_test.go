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

	ws, config, home, qwenHome := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	// Qwen keeps its state in QWEN_HOME and dies without it: the user's
	// own configuration lets agents write there, as docs/agents.md says.
	if err := os.MkdirAll(filepath.Join(config, "mimir"), 0o755); err != nil {
		t.Fatal(err)
	}
	userConfig := fmt.Sprintf("sandbox:\n  write: [%q]\n", qwenHome)
	if err := os.WriteFile(filepath.Join(config, "mimir", "config.yaml"), []byte(userConfig), 0o600); err != nil {
		t.Fatal(err)
	}
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
`, qwen, model.URL(), qwenHome, qc)
	if err := os.WriteFile(filepath.Join(ws, "workflow.yaml"), []byte(workflow), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--workspace", ws, "workflow.yaml")
	cmd.Dir = ws
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+config, "HOME="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("mimir-sidecar run: %v\n%s", err, out.String())
	}
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
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("something wrote in HOME: %v", entries)
	}
	t.Logf("%s", out.String())
}
