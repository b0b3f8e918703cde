package llm

import (
	"os"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
)

// The shipped example parses and its agents can be made (its preamble
// files are where it says), and a scripted model can run it to the end.
func TestExampleWorkflow(t *testing.T) {
	const path = "../../examples/llm-review/workflow.yaml"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wf, err := engine.ParseWorkflowFile(path, src)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeLLM(t,
		answer("", call{Name: toolWrite, Args: map[string]any{"path": "review.md", "content": "# Review\n\n## Data race in Allow\n…"}}),
		answer("Wrote review.md."),
		verdictAnswer(true, 90, "Both bugs found.", nil, nil),
	)
	runner := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), Agents: engine.Agents{"exec": exec.Agent(), "llm": Kind(testConfig(f.URL()))}})
	defer runner.Close(t.Context())
	ex, err := runner.Execute(wf, engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-ex.Done()
	if s := ex.Summary(); s.Status != engine.StatusCompleted {
		t.Fatalf("status = %s", s.Status)
	}
	if d := ex.Deliverables(); len(d) != 1 || d[0].Path != "review/review.md" {
		t.Errorf("deliverables = %+v", d)
	}
	reqs := f.requests()
	if !strings.Contains(reqs[0].Body.Messages[0].Text(), "senior Go reviewer") || !strings.Contains(reqs[2].Body.Messages[0].Text(), "strict quality-control reviewer") {
		t.Error("the example's preamble files are not the system messages")
	}
	if !strings.Contains(reqs[0].Body.Messages[1].Text(), "elapsed := now.Sub(l.last) / time.Second") {
		t.Error("the code under review is not in the worker's brief")
	}
}
