package engine

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestACPAgentSpecProblems(t *testing.T) {
	cases := []struct {
		name, task, want string
		line             int
	}{
		{"neither agent nor command", "worker: {type: acp, prompt: p}", "needs the agent to start: `agent: <claude-code|codex|gemini|qwen|opencode|copilot>` or `command: …`", 4},
		{"both", "worker: {type: acp, prompt: p, agent: qwen, command: qwen --acp}", "give either agent (a preset) or command", 4},
		{"unknown preset", "worker: {type: acp, prompt: p, agent: cursor}", `unknown agent "cursor" (known: claude-code, codex, gemini, qwen, opencode, copilot`, 4},
		{"worker without prompt", "worker: {type: acp, agent: qwen}", "needs a prompt: what the agent should do", 4},
		{"qc with nothing to check", "worker: {command: ls}\n    qc: {type: acp, agent: qwen}", "an acp QC agent needs something to check against", 5},
		{"bad permissions", "worker: {type: acp, agent: qwen, prompt: p, permissions: yes}", "permissions \"yes\" must be one of task-folder, allow-all, reject-all", 4},
		{"llm field on acp", "worker: {type: acp, agent: qwen, prompt: p, model: m}", `"model" is for llm agents only`, 4},
		{"agent on exec", "worker: {command: ls, agent: qwen}", `"agent" is for acp agents only (add ` + "`type: acp`", 4},
		{"permissions on llm", "worker: {type: llm, prompt: p, permissions: allow-all}", `"permissions" is for acp agents only`, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, c.task, c.want, c.line)
		})
	}
}

func TestACPAgentSpecValid(t *testing.T) {
	for _, task := range []string{
		"worker: {type: acp, agent: qwen, prompt: p}",
		"worker: {type: acp, command: [my-agent, --acp], prompt: p, env: {A: b}, permissions: reject-all}",
		"worker: {command: ls}\n    acceptanceCriteria: [x]\n    qc: {type: acp, agent: gemini}",
	} {
		src := "name: n\ntasks:\n  - id: t\n    " + task + "\n"
		if _, err := ParseWorkflow("wf.yaml", []byte(src)); err != nil {
			t.Errorf("%s: %v", task, err)
		}
	}
}

// The schema offers exactly the presets the engine knows.
func TestSchemaKnowsACPPresets(t *testing.T) {
	var s struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema, &s); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ACPPresets() {
		names = append(names, p.Name)
	}
	if got := s.Defs["agent"].Properties["agent"].Enum; !slices.Equal(got, names) {
		t.Errorf("the schema's agent presets %v, the engine's %v", got, names)
	}
	if got := s.Defs["agent"].Properties["permissions"].Enum; !slices.Equal(got, permissionValues) {
		t.Errorf("the schema's permissions %v, the engine's %v", got, permissionValues)
	}
}
