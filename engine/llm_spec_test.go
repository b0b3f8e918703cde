package engine

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The llm agent fields are read by a package outside the engine, so the
// parser and validator are the only guard against a workflow that names
// them wrongly: these tests pin what reaches that package.

func TestLLMAgentSpecParses(t *testing.T) {
	wf, err := ParseWorkflow("wf.yaml", []byte(`
name: review
llm: {provider: local, model: small}
tasks:
  - id: write
    acceptanceCriteria: [it exists]
    worker:
      type: llm
      provider: other
      model: big
      prompt: Write it.
      preambleFile: prompts/writer.md
      allowCommands: true
      maxToolCalls: 7
      temperature: 0.2
    qc:
      type: llm
      preamble: You check.
      temperature: 0
`))
	if err != nil {
		t.Fatal(err)
	}
	w := wf.Tasks[0].Worker
	temp := 0.2
	want := &AgentSpec{Type: "llm", Provider: "other", Model: "big", Prompt: "Write it.", PreambleFile: "prompts/writer.md", AllowCommands: true, MaxToolCalls: 7, Temperature: &temp}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("worker spec = %+v, want %+v", w, want)
	}
	if q := wf.Tasks[0].QC; q.Temperature == nil || *q.Temperature != 0 || q.Preamble != "You check." {
		t.Errorf("qc spec = %+v", q)
	}
	if wf.LLM == nil || wf.LLM.Provider != "local" || wf.LLM.Model != "small" {
		t.Errorf("workflow llm = %+v", wf.LLM)
	}
}

// Agents are built from a copy of their spec with the workflow's llm
// defaults and folder filled in; the workflow itself stays as written.
func TestAgentsGetResolvedSpecs(t *testing.T) {
	wf, err := ParseWorkflow("wf.yaml", []byte(`
name: r
llm: {provider: local, model: small}
tasks:
  - id: a
    worker: {type: llm, prompt: p, preambleFile: prompts/w.md}
  - id: b
    worker: {type: llm, prompt: p, model: big}
  - id: c
    worker: {type: llm, prompt: p, provider: remote}
  - id: d
    worker: {type: llm, prompt: p, provider: local}
    qc: {type: llm, prompt: q, preambleFile: ../shared/qc.md}
  - id: e
    worker: {command: ls}
`))
	if err != nil {
		t.Fatal(err)
	}
	wf.Dir = t.TempDir()
	got := map[string]AgentSpec{}
	record := func(role string) func(task *Task, spec *AgentSpec) (Worker, error) {
		return func(task *Task, spec *AgentSpec) (Worker, error) {
			got[task.ID+"/"+role] = *spec
			return nil, nil
		}
	}
	llm := AgentKind{
		Worker: record("worker"),
		QC: func(task *Task, spec *AgentSpec) (QC, error) {
			got[task.ID+"/qc"] = *spec
			return nil, nil
		},
	}
	exec := AgentKind{Worker: record("worker"), QC: func(*Task, *AgentSpec) (QC, error) { return nil, nil }}
	r := NewRunner(t.Context(), Options{Workspace: t.TempDir(), Agents: Agents{"exec": exec, "llm": llm}})
	defer r.Close(t.Context())
	if _, err := r.Prepare(wf, ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a/worker": "local/small/" + filepath.Join(wf.Dir, "prompts", "w.md"),
		"b/worker": "local/big/",
		"c/worker": "remote//", // the workflow's model goes with its provider
		"d/worker": "local/small/",
		"d/qc":     "local/small/../shared/qc.md", // outside the folder: left for the agent to refuse
		"e/worker": "//",
	}
	for k, w := range want {
		s := got[k]
		if g := s.Provider + "/" + s.Model + "/" + s.PreambleFile; g != w {
			t.Errorf("%s: %q, want %q", k, g, w)
		}
	}
	if a := wf.Tasks[0].Worker; a.Provider != "" || a.Model != "" || a.PreambleFile != "prompts/w.md" {
		t.Errorf("the workflow was changed: %+v", a)
	}
}

// A workflow's llm: that names a model and no provider means the default
// provider's model: agents that name no provider get it, an agent that
// names a provider gets that provider's own.
func TestWorkflowModelWithoutProvider(t *testing.T) {
	wf, err := ParseWorkflow("wf.yaml", []byte(`
name: r
llm: {model: small}
tasks:
  - id: a
    worker: {type: llm, prompt: p}
  - id: b
    worker: {type: llm, prompt: p, provider: remote}
  - id: c
    worker: {type: llm, prompt: p, provider: remote, model: big}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "/small", "b": "remote/", "c": "remote/big"}
	for _, task := range wf.Tasks {
		s := specFor(wf, task.Worker)
		if g := s.Provider + "/" + s.Model; g != want[task.ID] {
			t.Errorf("%s: %q, want %q", task.ID, g, want[task.ID])
		}
	}
}

func TestLLMAgentSpecProblems(t *testing.T) {
	cases := []struct {
		name, task, want string
		line             int
	}{
		{"worker without prompt", "worker: {type: llm}", `task "t": worker needs a prompt`, 4},
		{"llm with command", "worker: {type: llm, prompt: p, command: ls}", "an llm agent takes a prompt, not a command", 4},
		{"exec with prompt", "worker: {command: ls, prompt: p}", `"prompt" is for llm and acp agents only`, 4},
		{"qc with nothing to check", "worker: {command: ls}\n    qc: {type: llm}", "an llm QC agent needs something to check against", 5},
		{"qc with tools", "worker: {command: ls}\n    acceptanceCriteria: [x]\n    qc: {type: llm, allowCommands: true}", "allowCommands is for llm workers", 6},
		{"both preambles", "worker: {type: llm, prompt: p, preamble: a, preambleFile: b.md}", "either preamble or preambleFile", 4},
		{"absolute preamble file", "worker: {type: llm, prompt: p, preambleFile: /etc/motd}", "must be relative to the workflow's folder", 4},
		{"tool call limit", "worker: {type: llm, prompt: p, maxToolCalls: 0}", "maxToolCalls must be between 1 and 1000, not 0", 4},
		{"temperature", "worker: {type: llm, prompt: p, temperature: 3}", "temperature must be between 0 and 2", 4},
		{"temperature text", "worker: {type: llm, prompt: p, temperature: warm}", "must be a number", 4},
		{"empty model", "worker: {type: llm, prompt: p, model: ''}", "model must not be empty", 4},
		{"unknown type", "worker: {type: gpt, prompt: p}", `unknown agent type "gpt" (known: exec, llm, acp)`, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, c.task, c.want, c.line)
		})
	}
}

// The schema editors complete from must offer the llm type and every field
// the decoder accepts for an agent.
func TestSchemaKnowsLLMAgents(t *testing.T) {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema, &s); err != nil {
		t.Fatal(err)
	}
	agent := s.Defs["agent"].Properties
	if !slices.Equal(agent["type"].Enum, []string{"exec", "llm", "acp"}) {
		t.Errorf("agent type enum = %v", agent["type"].Enum)
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[AgentSpec]()) {
		if _, ok := agent[f.Tag.Get("yaml")]; !ok {
			t.Errorf("the schema's agent has no %q", f.Tag.Get("yaml"))
		}
	}
	if _, ok := s.Properties["llm"]; !ok {
		t.Error("the schema's workflow has no llm")
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[LLMDefaults]()) {
		if _, ok := s.Defs["llmDefaults"].Properties[f.Tag.Get("yaml")]; !ok {
			t.Errorf("the schema's llmDefaults has no %q", f.Tag.Get("yaml"))
		}
	}
}

// A preamble file is made absolute only when it lies inside the workflow's
// folder, symlinks resolved; one that leads out ("..", or a symlink) is
// left as written, for the llm agent to refuse.
func TestPreambleFileStaysInWorkflowFolder(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(dir, "prompts", "in.md"), filepath.Join(outside, "secret.md")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"alias.md": "in.md", "out.md": filepath.Join(outside, "secret.md"), "up": outside} {
		if err := os.Symlink(target, filepath.Join(dir, "prompts", link)); err != nil {
			t.Fatal(err)
		}
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(realDir, "prompts", "in.md")
	for file, want := range map[string]string{
		"prompts/in.md":        in,
		"prompts/alias.md":     in,
		"prompts/missing.md":   filepath.Join(dir, "prompts", "missing.md"), // the agent's read reports it
		"prompts/out.md":       "prompts/out.md",
		"prompts/up/secret.md": "prompts/up/secret.md",
		"../secret.md":         "../secret.md",
		"prompts/../../x.md":   "prompts/../../x.md",
	} {
		wf := &Workflow{Dir: dir}
		if got := specFor(wf, &AgentSpec{Type: "llm", PreambleFile: file}).PreambleFile; got != want {
			t.Errorf("%s: %q, want %q", file, got, want)
		}
	}
}

// wantProblem parses a one-task workflow whose task is task and wants a
// problem saying want at line.
func wantProblem(t *testing.T, task, want string, line int) {
	t.Helper()
	src := "name: n\ntasks:\n  - id: t\n    " + task + "\n"
	_, err := ParseWorkflow("wf.yaml", []byte(src))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a validation error", err)
	}
	for _, p := range ve.Problems {
		if strings.Contains(p.Message, want) {
			if p.Line != line {
				t.Errorf("problem %q at line %d, want line %d", p.Message, p.Line, line)
			}
			return
		}
	}
	t.Errorf("problems %v do not say %q", ve.Problems, want)
}
