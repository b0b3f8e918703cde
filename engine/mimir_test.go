package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// A file as Mimir Studio saves it in .mimir/workflows/ ({tasks}, with
// verificationCriteria joined by newlines and the cards' UI state).
const studioFile = `{
  "tasks": [
    {
      "id": "task-1",
      "title": "Research",
      "agentRoleDescription": "A researcher",
      "recommendedModel": "gpt-4.1",
      "prompt": "Find the facts",
      "dependencies": [],
      "estimatedDuration": "30 min",
      "qcRole": "A fact checker",
      "verificationCriteria": "- cites sources\n- no speculation",
      "maxRetries": 3,
      "estimatedToolCalls": 4,
      "workerAgent": {"id": "w", "name": "Worker", "role": "r", "type": "worker"},
      "executionStatus": "pending"
    },
    {
      "id": "task-2.1",
      "title": "Draft A",
      "agentRoleDescription": "A writer",
      "recommendedModel": "acp:claude-code",
      "prompt": "Write A",
      "dependencies": ["task-1", "task-2.2"],
      "estimatedDuration": "30 min",
      "parallelGroup": 2
    },
    {
      "id": "task-2.2",
      "title": "Draft B",
      "agentRoleDescription": "A writer",
      "recommendedModel": "",
      "prompt": "Write B",
      "dependencies": ["task-1"],
      "estimatedDuration": "30 min",
      "parallelGroup": 2,
      "maxRetries": 0
    },
    {
      "id": "task-3",
      "title": "Merge",
      "agentRoleDescription": "An editor",
      "recommendedModel": "gpt-4.1",
      "prompt": "Merge",
      "dependencies": ["task-2.1", "task-2.2"],
      "estimatedDuration": "30 min",
      "maxRetries": 1
    }
  ]
}`

func TestMimirTasksAreAWorkflow(t *testing.T) {
	wf, err := ParseWorkflowFile("/ws/.mimir/workflows/my-workflow.json", []byte(studioFile))
	if err != nil {
		t.Fatal(err)
	}
	if wf.Name != "my-workflow" || len(wf.Tasks) != 4 {
		t.Fatalf("workflow %q with %d tasks", wf.Name, len(wf.Tasks))
	}
	t1, t21, t22, t3 := wf.Tasks[0], wf.Tasks[1], wf.Tasks[2], wf.Tasks[3]

	// Mimir's maxRetries counts attempts, `|| 2`: 3 → 3 attempts, 0 → 2,
	// absent → 2, 1 → 1.
	for _, c := range []struct {
		task     *Task
		attempts int
	}{{t1, 3}, {t21, 2}, {t22, 2}, {t3, 1}} {
		if got := c.task.Attempts(); got != c.attempts {
			t.Errorf("%s: %d attempts, want %d (Mimir's count)", c.task.ID, got, c.attempts)
		}
	}

	w := t1.Worker
	if w.Type != "llm" || w.Preamble != "A researcher" || w.Prompt != "Find the facts" || w.MaxToolCalls != 40 || w.Model != "" {
		t.Errorf("task-1 worker = %+v", w)
	}
	if t1.QC == nil || t1.QC.Type != "llm" || t1.QC.Preamble != "A fact checker" {
		t.Errorf("task-1 qc = %+v", t1.QC)
	}
	if !slices.Equal(t1.AcceptanceCriteria, []string{"cites sources", "no speculation"}) {
		t.Errorf("task-1 criteria = %q", t1.AcceptanceCriteria)
	}
	if t21.Worker.Type != "acp" || t21.Worker.Agent != "claude-code" || t21.Worker.Preamble != "" ||
		t21.Worker.Prompt != "Your role: A writer\n\nWrite A" || t21.QC != nil {
		t.Errorf("task-2.1 worker = %+v, qc %+v", t21.Worker, t21.QC)
	}
	// Mimir's order: task-1, then the group 2 together, then task-3; a
	// dependency in the same group (task-2.2 for task-2.1) gives no wait.
	for _, c := range []struct {
		task *Task
		deps []string
	}{{t1, nil}, {t21, []string{"task-1"}}, {t22, []string{"task-1"}}, {t3, []string{"task-2.1", "task-2.2"}}} {
		if !slices.Equal(c.task.DependsOn, c.deps) {
			t.Errorf("%s depends on %q, want %q", c.task.ID, c.task.DependsOn, c.deps)
		}
	}
}

// Mimir's grouping: numbered groups go, in ascending order, before the
// first task without a group that follows their first task.
func TestMimirGroupOrder(t *testing.T) {
	src := `{"tasks": [
	  {"id": "a", "prompt": "p", "parallelGroup": 5},
	  {"id": "b", "prompt": "p"},
	  {"id": "c", "prompt": "p", "parallelGroup": 1},
	  {"id": "d", "prompt": "p", "parallelGroup": 5},
	  {"id": "e", "prompt": "p"}
	]}`
	wf, err := ParseWorkflow("order.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// Mimir: sequential [b], [e]; group 1 (first task c, one sequential
	// task before it) is put at 1: [b] [c] [e]; group 5 (first task a,
	// none before it) at 0: [a d] [b] [c] [e].
	want := map[string][]string{"a": nil, "d": nil, "b": {"a", "d"}, "c": {"b"}, "e": {"c"}}
	for _, task := range wf.Tasks {
		if !slices.Equal(task.DependsOn, want[task.ID]) {
			t.Errorf("%s depends on %q, want %q", task.ID, task.DependsOn, want[task.ID])
		}
	}
}

// Every field Mimir's task definitions have but we cannot honour is a
// problem at its line, not a silent difference.
func TestMimirUnsupportedFields(t *testing.T) {
	src := `{"tasks": [
  {"id": "t", "prompt": "p",
   "taskType": "transformer",
   "lambdaScript": "x",
   "qcPreamblePath": "/tmp/qc.md",
   "maxRetries": -1,
   "agentRoleDescriptoin": "typo"}
], "name2": 1}`
	_, err := ParseWorkflow("bad.json", []byte(src))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`bad.json:3:16: tasks[0]: taskType "transformer" is not supported`,
		`bad.json:4:4: tasks[0]: lambdaScript is not supported`,
		`bad.json:5:4: tasks[0]: qcPreamblePath is not supported`,
		`bad.json:6:18: tasks[0]: maxRetries must be a whole number of attempts, at least 1`,
		`bad.json:7:4: tasks[0]: "agentRoleDescriptoin" is not a field of Mimir's task definitions (did you mean "agentRoleDescription"?)`,
		`bad.json:8:4: unknown field "name2"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing problem %q in:\n%s", want, msg)
		}
	}
}

// Our own workflows are not taken for Mimir's.
func TestOurWorkflowIsNotMimirs(t *testing.T) {
	wf, err := ParseWorkflow("ours.yaml", []byte("name: ours\ntasks:\n  - id: a\n    worker: {command: echo}\n"))
	if err != nil || wf.Tasks[0].Worker.Type != "" {
		t.Fatalf("%v %+v", err, wf)
	}
	_, err = ParseWorkflow("ours.yaml", []byte("name: ours\ntasks:\n  - id: a\n    prompt: p\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "prompt"`) {
		t.Errorf("a named workflow with a Mimir field: %v, want our unknown-field problem", err)
	}
}

// Mimir's task definitions as they come, from a file being typed or a
// request: whatever they hold, a problem list or a workflow, never a panic.
func FuzzMimirTasks(f *testing.F) {
	for _, s := range []string{
		studioFile,
		`{"tasks": [{"id": "a", "prompt": "p", "parallelGroup": 1}, {"id": "b", "prompt": "p", "parallelGroup": 1, "dependencies": ["a"]}]}`,
		`{"tasks": [{"id": "a", "prompt": "p", "verificationCriteria": {"x": 1}, "dependencies": "a", "maxRetries": 1e30}]}`,
		`{"tasks": [{"prompt": [1], "recommendedModel": "acp:", "estimatedToolCalls": -1, "qcRole": {}}, 3]}`,
		"tasks:\n  - &t {id: a, prompt: p}\n  - *t\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wf, err := ParseWorkflow("fuzz.json", data)
		if errors.Is(err, errParserBug) {
			t.Fatalf("the parser panicked: %v", err)
		}
		if err == nil {
			for _, tk := range wf.Tasks {
				if tk.Worker == nil || tk.Attempts() < 1 {
					t.Fatalf("accepted a bad task: %+v", tk)
				}
			}
		}
	})
}
