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
		{"windows device id", "name: x\ntasks:\n  - id: CON\n    worker: {command: x}\n", 3, 9, `task id "CON" is a device name on Windows`},
		{"windows device id with extension", "name: x\ntasks:\n  - id: lpt1.out\n    worker: {command: x}\n", 3, 9, `task id "lpt1.out" is a device name on Windows`},
		{"id ending with a dot", "name: x\ntasks:\n  - id: a.\n    worker: {command: x}\n", 3, 9, `task id "a." ends with a dot`},
		{"ids differing in case", "name: x\ntasks:\n  - id: Docs\n    worker: {command: x}\n  - id: docs\n    worker: {command: y}\n", 5, 9, `task id "docs" differs from "Docs" (line 3) only in case`},
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
		// The schema says integer: quoted text is an error, not converted.
		{"quoted int", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    maxRetries: \"2\"\n", 5, 17, `maxRetries must be a whole number, not "2"`},
		{"fraction for int", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    maxRetries: 1.5\n", 5, 17, "maxRetries must be a whole number"},
		{"json quoted int", `{"name": "x", "tasks": [{"id": "a", "worker": {"command": "x"}, "passThreshold": "90"}]}`, 1, 82, "passThreshold must be a whole number"},
		// The schema says uniqueItems.
		{"dependency twice", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n  - id: b\n    worker: {command: x}\n    dependsOn: [a, a]\n", 7, 20, `lists the dependency "a" twice (first at line 7, column 17)`},
		// The schema's duration text needs a unit.
		{"duration text without unit", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    timeout: \"90\"\n", 5, 14, `"90" has no unit: write "90s"`},
		{"duration negative text", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    timeout: -5s\n", 5, 14, `"-5s" is not a duration`},
		{"duration list", "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    timeout: [1]\n", 5, 14, "must be a duration"},
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

// Aliases stand for what they name wherever the decoder or the validator
// walks; these inputs used to index into an alias node and panic.
func TestAliases(t *testing.T) {
	const head = "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n"
	for _, tc := range []struct {
		name, src string
		line, col int    // of the first problem; 0 when valid
		says      string // in the first problem
	}{
		{"dependsOn alias, unknown dependency",
			head + "    dependsOn: &deps [zz]\n  - id: b\n    worker: {command: x}\n    dependsOn: *deps\n", 5, 23, `depends on "zz"`},
		{"dependsOn alias, valid",
			head + "    acceptanceCriteria: &deps [a]\n  - id: b\n    worker: {command: x}\n    dependsOn: *deps\n", 0, 0, ""},
		{"deliverables alias, valid",
			head + "    deliverables: &d ['**/*.md']\n  - id: b\n    worker: {command: x}\n    deliverables: *d\n", 0, 0, ""},
		{"deliverables alias, bad pattern",
			head + "    deliverables: &d ['../x']\n  - id: b\n    worker: {command: x}\n    deliverables: *d\n", 5, 23, "must stay inside"},
		{"deliverables item alias", head + "    title: &p '../x'\n    deliverables: [*p]\n", 5, 12, "must stay inside"},
		{"agent alias", "name: x\ntasks:\n  - id: a\n    worker: &w {command: x}\n  - id: b\n    worker: *w\n", 0, 0, ""},
		{"key alias", "name: &k title\ntasks:\n  - id: a\n    worker: {command: x}\n    *k : A\n", 0, 0, ""},
		// The alias's Value is the anchor's name: the check must read the text.
		{"empty provider through alias", "name: x\ndescription: &e ''\nllm: {provider: *e}\ntasks:\n  - id: a\n    worker: {command: x}\n", 2, 14, "llm.provider must not be empty"},
		{"merge key", "name: x\ntasks:\n  - id: a\n    worker: &w {command: x}\n  - id: b\n    worker: {<<: *w, env: {A: b}}\n", 6, 14, "merge keys (<<) are not supported"},
		{"alias containing itself", "name: x\ntasks: &t\n  - id: a\n    worker: {command: x}\n    acceptanceCriteria: *t\n", 3, 5, "acceptanceCriteria[0] must be text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wf, err := ParseWorkflow("wf.yaml", []byte(tc.src))
			if tc.line == 0 {
				if err != nil {
					t.Fatalf("valid workflow refused: %v", err)
				}
				if len(wf.Tasks) == 0 || wf.Tasks[len(wf.Tasks)-1].Worker == nil {
					t.Fatalf("decoded %+v", wf)
				}
				return
			}
			var v *ValidationError
			if !errors.As(err, &v) || errors.Is(err, errParserBug) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			p := v.Problems[0]
			if p.Line != tc.line || p.Column != tc.col || !strings.Contains(p.Message, tc.says) {
				t.Errorf("problem %s, want wf.yaml:%d:%d saying %q (all: %v)", p, tc.line, tc.col, tc.says, v.Problems)
			}
		})
	}
}

// A "billion laughs" document is refused with one problem, quickly,
// instead of being expanded.
func TestAliasExpansionBounded(t *testing.T) {
	// 2,001 tasks of 1,000 criteria each, from 3,000 values written.
	var b strings.Builder
	b.WriteString("name: x\ntasks:\n  - &t {id: a, worker: {command: x}, acceptanceCriteria: &l [")
	b.WriteString(strings.Repeat("c, ", 999))
	b.WriteString("c]}\n")
	b.WriteString("  - " + strings.Repeat("*t\n  - ", 1999) + "*t\n")
	_, err := ParseWorkflow("wf.yaml", []byte(b.String()))
	var v *ValidationError
	if !errors.As(err, &v) || !strings.Contains(err.Error(), "aliases expand this workflow") {
		t.Fatalf("err = %.500v", err)
	}
	n := 0
	for _, p := range v.Problems {
		if strings.Contains(p.Message, "aliases expand") {
			n++
		}
	}
	if n != 1 || len(v.Problems) > maxProblems+1 {
		t.Errorf("%d expansion problems (want 1) among %d", n, len(v.Problems))
	}
}

// Checks run on whatever decoded: a misspelt field and a cycle elsewhere
// are reported together, each where it is.
func TestEveryProblemAtOnce(t *testing.T) {
	src := `name: x
tasks:
  - id: a
    worker: {command: x}
    dependsOn: [b]
    colour: blue
  - id: b
    worker: {command: x}
    dependsOn: [a, nope]
    timeout: soon
`
	_, err := ParseWorkflow("wf.yaml", []byte(src))
	var v *ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, p := range v.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"wf.yaml:5:5: tasks depend on each other in a cycle: a → b → a",
		`wf.yaml:6:5: tasks[0]: unknown field "colour"`,
		`wf.yaml:9:20: task "b" depends on "nope"`,
		`wf.yaml:10:14: tasks[1].timeout: "soon" is not a duration`,
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %s, want %s…", i, got[i], want[i])
		}
	}
}

// A field that did not decode is reported once: validation does not judge
// the zero value left in its place.
func TestNoFollowOnProblems(t *testing.T) {
	for name, src := range map[string]string{
		"worker not a mapping":   "name: x\ntasks:\n  - id: a\n    worker: 5\n",
		"misspelt worker":        "name: x\ntasks:\n  - id: a\n    wroker: {command: x}\n",
		"task not a mapping":     "name: x\ntasks:\n  - 5\n",
		"tasks not a list":       "name: x\ntasks: 5\n",
		"name not text":          "name: [x]\ntasks:\n  - id: a\n    worker: {command: x}\n",
		"id not text":            "name: x\ntasks:\n  - id: {a: b}\n    worker: {command: x}\n",
		"bad command":            "name: x\ntasks:\n  - id: a\n    worker: {command: {a: b}}\n",
		"bad type":               "name: x\ntasks:\n  - id: a\n    worker: {type: [llm], prompt: p}\n",
		"bad timeout":            "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    timeout: later\n",
		"bad maxToolCalls":       "name: x\ntasks:\n  - id: a\n    worker: {type: llm, prompt: p, maxToolCalls: many}\n",
		"bad criteria":           "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    qc: {type: llm}\n    acceptanceCriteria: 5\n",
		"bad dependency item":    "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    dependsOn: [[a]]\n",
		"empty deliverable item": "name: x\ntasks:\n  - id: a\n    worker: {command: x}\n    deliverables: [~]\n",
		"bad provider":           "name: x\nllm: {provider: [a]}\ntasks:\n  - id: a\n    worker: {command: x}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseWorkflow("wf.yaml", []byte(src))
			var v *ValidationError
			if !errors.As(err, &v) || errors.Is(err, errParserBug) {
				t.Fatalf("err = %v", err)
			}
			if len(v.Problems) != 1 || v.Problems[0].Line == 0 {
				t.Errorf("want one positioned problem, got %v", v.Problems)
			}
		})
	}
}

// A bug of ours while checking a workflow becomes a problem naming the
// file, not a crash of the sidecar.
func TestParseBugIsAnError(t *testing.T) {
	wf, err := guardParse("wf.yaml", func() (*Workflow, error) {
		var tasks []*Task
		return &Workflow{Name: tasks[0].ID}, nil // a stand-in for any internal bug
	})
	var v *ValidationError
	if wf != nil || !errors.As(err, &v) || !errors.Is(err, errParserBug) {
		t.Fatalf("wf %v, err %v", wf, err)
	}
	if p := v.Problems[0]; p.File != "wf.yaml" || !strings.Contains(p.Message, "internal error") || !strings.Contains(p.Message, "index out of range") {
		t.Errorf("problem %s", p)
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
		msgWorkerStart("Translate README"):                             "🤖 Worker executing: Translate README",
		msgWorkerComplete(15*time.Second, ptr(3)):                      "✅ Worker completed (15.0s, 3 tool calls)",
		msgWorkerComplete(1500*time.Millisecond, ptr(1)):               "✅ Worker completed (1.5s, 1 tool call)",
		msgWorkerComplete(1500*time.Millisecond, nil):                  "✅ Worker completed (1.5s)",
		msgQCStart("Translate README"):                                 "🔍 QC verifying: Translate README",
		msgQCPassed(95):                                                "✅ QC passed (Score: 95/100)",
		msgQCFailed(35, 1, 3):                                          "❌ QC failed (Score: 35/100) - Retrying (1/2)",
		msgQCFailed(35, 2, 3):                                          "❌ QC failed (Score: 35/100) - Retrying (2/2)",
		msgQCFailed(35, 3, 3):                                          "❌ QC failed (Score: 35/100) - No retries left",
		msgWorkerFailed(2*time.Second, "exit status 2", 1, 2):          "❌ Worker failed (2.0s): exit status 2 - Retrying (1/1)",
		msgExecutionComplete(2, 2, 3):                                  "✅ Execution completed: 2/2 tasks, 3 deliverables",
		msgExecutionFailed(1, 3, 1):                                    "❌ Execution failed: 1 of 3 tasks failed, 1 skipped",
		SavedMessage(3, 0, "/w/deliverables", nil):                     "✅ Saved 3 deliverables to /w/deliverables",
		SavedMessage(2, 1, "/w/deliverables", nil):                     "⚠️ Saved 2 of 3 deliverables to /w/deliverables (1 failed)",
		SavedMessage(3, 0, "/w/d", counts{"saved": 3}):                 "✅ Saved 3 deliverables to /w/d",
		SavedMessage(3, 0, "/w/d", counts{"saved": 1, "unchanged": 2}): "✅ Saved 3 deliverables to /w/d (1 new, 2 unchanged)",
		SavedMessage(2, 1, "/w/d", counts{"renamed": 2, "failed": 1}):  "⚠️ Saved 2 of 3 deliverables to /w/d (2 kept beside a different file as a numbered copy, 1 failed)",
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
		if errors.Is(err, errParserBug) {
			t.Fatalf("the parser panicked: %v", err)
		}
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

// A .json workflow is held to JSON: YAML reads many broken JSON texts as
// something else (a string, a task with no worker), which is then
// reported as the wrong problem.
func TestJSONWorkflowSyntax(t *testing.T) {
	for _, tc := range []struct {
		src       string
		line, col int
	}{
		{"{\"name\": \"x\",\n \"tasks\": [{\"id\": \"a\",\n   \"worker\": {\"command\": \"x\"},}]}\n", 3, 31},
		{"{\"name\": \"x\", \"tasks\": [{\"id\": \"a\", 'worker': {\"command\": \"x\"}}]}", 1, 37},
		{"{\"name\": \"x\",\n # a comment\n \"tasks\": []}", 2, 2},
	} {
		_, err := ParseWorkflow("wf.json", []byte(tc.src))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 {
			t.Errorf("%q: %v, want one problem", tc.src, err)
			continue
		}
		p := ve.Problems[0]
		if !strings.HasPrefix(p.Message, "not valid JSON: ") || p.Line != tc.line || p.Column != tc.col {
			t.Errorf("%q: %d:%d %s; want not valid JSON at %d:%d", tc.src, p.Line, p.Column, p.Message, tc.line, tc.col)
		}
	}
	// The same text in a .yaml file is YAML's to judge.
	if _, err := ParseWorkflow("wf.yaml", []byte("{\"name\": \"x\", \"tasks\": [{\"id\": \"a\", 'worker': {\"command\": \"x\"}}]}")); err != nil {
		t.Errorf("YAML: %v", err)
	}
}

func TestUnknownDependencyListsTasks(t *testing.T) {
	_, err := ParseWorkflow("wf.yaml", []byte("name: x\ntasks:\n  - id: alpha\n    worker: {command: x}\n    dependsOn: [nope]\n"))
	if err == nil || !strings.Contains(err.Error(), "(known tasks: alpha)") || strings.Contains(err.Error(), "fields") {
		t.Errorf("got %v, want the tasks listed as tasks", err)
	}
}

type counts map[string]int

func (c counts) StatusCounts() map[string]int { return c }
