package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Each row is one kind of problem: where it is reported and what it says.
func TestValidationProblems(t *testing.T) {
	cases := []struct {
		name, src string
		line, col int
		says      string
	}{
		{"yaml syntax", "name: x\ntasks:\n  - id: a\n    worker: [unclosed\n", 3, 1, "not valid YAML or JSON"},
		{"json syntax", "{\"name\": \"x\",\n \"tasks\": [}\n", 1, 1, "not valid YAML or JSON"},
		{"empty", "", 1, 1, "the workflow is empty"},
		{"not a mapping", "- a\n- b\n", 1, 1, "must be a mapping of fields"},
		{"unknown field", "name: x\ntasks:\n  - id: a\n    wroker: {command: x}\n", 4, 5, `unknown field "wroker" (did you mean "worker"?)`},
		{"field twice", "name: x\nname: y\ntasks:\n  - id: a\n    worker: {command: x}\n", 2, 1, `"name" is given twice (first at line 1)`},
		{"string for int", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    maxRetries: lots\n", 5, 17, "maxRetries must be a whole number"},
		{"list for string", "name: [a]\ntasks:\n  - id: a\n    worker: {command: x}\n", 1, 7, "name must be text"},
		{"bad bool", "name: x\ntasks:\n  - id: a\n    worker: {type: llm, prompt: p, allowCommands: maybe}\n", 4, 51, "true or false"},
		{"missing name", "tasks:\n  - id: a\n    worker: {command: x}\n", 1, 1, "needs a name"},
		{"no tasks", "name: x\ntasks: []\n", 2, 8, "has no tasks"},
		{"missing id", "name: x\ntasks:\n  - worker: {command: x}\n", 3, 5, "tasks[0] needs an id"},
		{"bad id", "name: x\ntasks:\n  - id: a/b\n    worker: {command: x}\n", 3, 9, `task id "a/b" must start with a letter or digit`},
		{"duplicate id", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n  - id: a\n    worker: {command: y}\n", 5, 9, `task id "a" is used twice (first at line 3)`},
		{"missing worker", "name: x\ntasks:\n  - id: a\n", 3, 5, "needs a worker"},
		{"exec without command", "name: x\ntasks:\n  - id: a\n    worker: {env: {A: b}}\n", 4, 13, "needs a command"},
		{"unknown agent type", "name: x\ntasks:\n  - id: a\n    worker: {type: magic, command: x}\n", 4, 20, `unknown agent type "magic"`},
		{"unknown dependency", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    dependsOn: [b]\n", 5, 17, `depends on "b", which is not a task`},
		{"cycle", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    dependsOn: [b]\n  - id: b\n    worker: {command: x}\n    dependsOn: [a]\n", 5, 5, "a cycle: a → b → a"},
		{"self dependency", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    dependsOn: [a]\n", 5, 5, "a cycle: a → a"},
		{"maxRetries range", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    maxRetries: -1\n", 5, 17, "maxRetries must be between 0 and 100"},
		{"zero timeout", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    timeout: 0s\n", 5, 14, "timeout must be more than zero"},
		{"bad duration", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    timeout: soon\n", 5, 14, `"soon" is not a duration`},
		{"threshold range", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    passThreshold: 101\n", 5, 20, "passThreshold must be a score from 0 to 100"},
		{"glob escapes", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    deliverables: [../x]\n", 5, 20, "must stay inside the task's folder"},
		{"glob absolute", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    deliverables: [/etc/x]\n", 5, 20, "must be a relative path"},
		{"glob invalid", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    deliverables: ['a[']\n", 5, 20, "not a valid glob"},
		{"parallelism range", "name: x\nparallelism: -2\ntasks:\n  - id: a\n    worker: {command: x}\n", 2, 14, "parallelism must be between 1 and 1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWorkflow("wf.yaml", []byte(tc.src))
			var v *ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			p := v.Problems[0]
			if p.File != "wf.yaml" || p.Line != tc.line || p.Column != tc.col || !strings.Contains(p.Message, tc.says) {
				t.Errorf("problem %s, want wf.yaml:%d:%d saying %q", p, tc.line, tc.col, tc.says)
			}
		})
	}
}

func TestAllProblemsAtOnceSorted(t *testing.T) {
	src := `name: x
tasks:
  - id: a
    wroker: {command: x}
    maxRetries: many
  - id: b
    worker: {command: x}
    timeout: later
`
	_, err := ParseWorkflow("wf.yaml", []byte(src))
	var v *ValidationError
	if !errors.As(err, &v) || len(v.Problems) != 3 {
		t.Fatalf("err = %v, want 3 problems", err)
	}
	for i := 1; i < len(v.Problems); i++ {
		if v.Problems[i].Line < v.Problems[i-1].Line {
			t.Errorf("problems not sorted by position: %v", v.Problems)
		}
	}
	if !strings.Contains(err.Error(), "3 problems") || !strings.Contains(err.Error(), "wf.yaml:8:14") {
		t.Errorf("message %q", err)
	}
}

func TestYAMLAndJSONAgree(t *testing.T) {
	y := `name: docs
parallelism: 2
tasks:
  - id: draft
    title: Draft
    worker: {command: ./draft.sh}
    qc: {command: [sh, -c, "test -s out.md"]}
    maxRetries: 1
    timeout: 90s
    deliverables: ["**/*.md"]
  - id: ship
    dependsOn: [draft]
    worker: {command: ./ship.sh, env: {MODE: fast}}
    timeout: 90
`
	j := "{\n\t\"name\": \"docs\",\n\t\"parallelism\": 2,\n\t\"tasks\": [\n\t\t{\"id\": \"draft\", \"title\": \"Draft\", \"worker\": {\"command\": \"./draft.sh\"},\n\t\t \"qc\": {\"command\": [\"sh\", \"-c\", \"test -s out.md\"]}, \"maxRetries\": 1, \"timeout\": \"90s\", \"deliverables\": [\"**/*.md\"]},\n\t\t{\"id\": \"ship\", \"dependsOn\": [\"draft\"], \"worker\": {\"command\": \"./ship.sh\", \"env\": {\"MODE\": \"fast\"}}, \"timeout\": 90}\n\t]\n}\n"
	a, err := ParseWorkflow("a.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseWorkflow("b.json", []byte(j))
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Source) != y {
		t.Errorf("Source does not hold the text parsed")
	}
	a.Source, b.Source = nil, nil
	if !reflect.DeepEqual(a, b) {
		t.Errorf("YAML and JSON differ:\n%+v\n%+v", a, b)
	}
	if a.Tasks[0].Attempts() != 2 || a.Tasks[1].Attempts() != 3 {
		t.Errorf("attempts %d %d, want 2 and the default 3", a.Tasks[0].Attempts(), a.Tasks[1].Attempts())
	}
	if a.Tasks[0].TimeoutOrDefault() != 90*time.Second || a.Tasks[1].TimeoutOrDefault() != 90*time.Second {
		t.Errorf("timeouts %v %v", a.Tasks[0].TimeoutOrDefault(), a.Tasks[1].TimeoutOrDefault())
	}
	if a.Tasks[0].QC.Command.Argv[2] != "test -s out.md" || a.Tasks[0].Worker.Command.Shell != "./draft.sh" {
		t.Errorf("commands %+v %+v", a.Tasks[0].Worker.Command, a.Tasks[0].QC.Command)
	}
	if a.Tasks[1].Threshold() != DefaultPassThreshold || a.Tasks[1].TimeoutOrDefault() == DefaultTimeout {
		t.Errorf("defaults wrong")
	}
}

func TestMessages(t *testing.T) {
	for got, want := range map[string]string{
		msgWorkerStart("Translate README"):                    "🤖 Worker executing: Translate README",
		msgWorkerComplete(15*time.Second, 3):                  "✅ Worker completed (15.0s, 3 tool calls)",
		msgWorkerComplete(1500*time.Millisecond, 1):           "✅ Worker completed (1.5s, 1 tool call)",
		msgQCStart("Translate README"):                        "🔍 QC verifying: Translate README",
		msgQCPassed(95):                                       "✅ QC passed (Score: 95/100)",
		msgQCFailed(35, 1, 3):                                 "❌ QC failed (Score: 35/100) - Retrying (1/2)",
		msgQCFailed(35, 2, 3):                                 "❌ QC failed (Score: 35/100) - Retrying (2/2)",
		msgQCFailed(35, 3, 3):                                 "❌ QC failed (Score: 35/100) - No retries left",
		msgWorkerFailed(2*time.Second, "exit status 2", 1, 2): "❌ Worker failed (2.0s): exit status 2 - Retrying (1/1)",
		msgExecutionComplete(2, 2, 3):                         "✅ Execution completed: 2/2 tasks, 3 deliverables",
		msgExecutionFailed(1, 3, 1):                           "❌ Execution failed: 1 of 3 tasks failed, 1 skipped",
		SavedMessage(3, 0, "/w/deliverables"):                 "✅ Saved 3 deliverables to /w/deliverables",
		SavedMessage(2, 1, "/w/deliverables"):                 "⚠️ Saved 2 of 3 deliverables to /w/deliverables (1 failed)",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func FuzzParseWorkflow(f *testing.F) {
	for _, s := range []string{
		"name: x\ntasks:\n  - id: a\n    worker: {command: x}\n",
		"name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    dependsOn: [b]\n  - id: b\n    worker: {command: y}\n    dependsOn: [a]\n",
		`{"name": "j", "tasks": [{"id": "a", "worker": {"command": ["sh", "-c", "true"]}, "timeout": 3}]}`,
		"name: &a x\ntasks: *a\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wf, err := ParseWorkflow("fuzz.yaml", data)
		if err != nil {
			var v *ValidationError
			if !errors.As(err, &v) || len(v.Problems) == 0 {
				t.Fatalf("error is not a ValidationError with problems: %v", err)
			}
			return
		}
		ids := map[string]bool{}
		for _, tk := range wf.Tasks {
			if tk.ID == "" || ids[tk.ID] || tk.Worker == nil || tk.Attempts() < 1 {
				t.Fatalf("accepted a bad task: %+v", tk)
			}
			ids[tk.ID] = true
		}
		for _, tk := range wf.Tasks {
			for _, d := range tk.DependsOn {
				if !ids[d] {
					t.Fatalf("accepted an unknown dependency %q", d)
				}
			}
		}
		byID := map[string]*Task{}
		for _, tk := range wf.Tasks {
			byID[tk.ID] = tk
		}
		if c := findCycle(wf.Tasks, byID); c != nil {
			t.Fatalf("accepted a cycle %v", c)
		}
	})
}
