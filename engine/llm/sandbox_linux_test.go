package llm

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// A model that asks its command tool to write outside the task's folder is
// refused by the kernel, and told why; what it writes inside lands.
func TestModelCommandsAreFenced(t *testing.T) {
	if sandbox.Available() < 1 {
		t.Skip("no Landlock on this kernel")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(home, "mimir-llm-fence-test-"+strconv.Itoa(os.Getpid()))
	f := newFakeLLM(t,
		answer("", call{Name: toolRun, Args: map[string]any{"command": `echo pwned > "` + outside + `"`}}),
		answer("", call{Name: toolRun, Args: map[string]any{"command": `echo ok > inside.txt`}}),
		answer("Done."),
	)
	events, ex := runWorkflow(t, `
name: fenced
tasks:
  - id: t
    maxRetries: 0
    worker: {type: llm, prompt: Write where you are told., allowCommands: true}
`, nil, testConfig(f.URL()))
	if _, err := os.Lstat(outside); !errors.Is(err, os.ErrNotExist) {
		os.Remove(outside)
		t.Fatalf("the model's command wrote %s", outside)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	out := reqs[1].Body.Messages[3].Text()
	if !strings.Contains(out, "Permission denied") || !strings.Contains(out, "the sandbox (task-write) lets this task write only") {
		t.Errorf("the model is not told the fence refused: %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(ex.StagingDir(), "t", "inside.txt")); err != nil || string(b) != "ok\n" {
		t.Errorf("inside.txt: %q, %v", b, err)
	}
	if w := eventsNamed(events, engine.EventWorkerStart); len(w) != 1 || w[0].Data.Sandbox != "task-write" {
		t.Errorf("worker-start = %+v", w)
	}
}
