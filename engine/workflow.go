package engine

import (
	"strings"
	"time"
)

// Workflow is a set of tasks to run, parsed from YAML or JSON (one schema:
// engine/workflow.schema.json).
type Workflow struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Parallelism int    `yaml:"parallelism"`
	// LLM picks the provider and model for every llm agent of the workflow
	// that does not name its own.
	LLM *LLMDefaults `yaml:"llm"`
	// Sandbox and Network set the fence of every agent of the workflow
	// that does not set its own (see AgentSpec); Sandbox may also be
	// "required": each agent keeps its default fence, and the workflow
	// refuses to run where the kernel cannot enforce it.
	Sandbox string `yaml:"sandbox"`
	Network string `yaml:"network"`
	// Isolation is the isolation of every task that sets none of its own.
	Isolation string  `yaml:"isolation"`
	Tasks     []*Task `yaml:"tasks"`

	// Path is the file it was read from ("" when inline); commands run with
	// its folder in MIMIR_WORKFLOW_DIR so they can find their scripts.
	Path string `yaml:"-"`
	// Dir is the folder relative paths in the workflow resolve against.
	Dir string `yaml:"-"`
	// Source is the text it was parsed from: the journal keeps it so that a
	// restarted sidecar can rebuild and resume the execution.
	Source []byte `yaml:"-"`
}

// Task is one unit of work: a worker does it, an optional QC checks it.
type Task struct {
	ID           string     `yaml:"id"`
	Title        string     `yaml:"title"`
	Worker       *AgentSpec `yaml:"worker"`
	QC           *AgentSpec `yaml:"qc"`
	DependsOn    []string   `yaml:"dependsOn"`
	MaxRetries   *int       `yaml:"maxRetries"`
	Timeout      Duration   `yaml:"timeout"`
	Deliverables []string   `yaml:"deliverables"`
	// PassThreshold is the score a QC verdict without an explicit "passed"
	// needs to pass.
	PassThreshold *int `yaml:"passThreshold"`
	// AcceptanceCriteria is what the QC agent checks the work against.
	AcceptanceCriteria []string `yaml:"acceptanceCriteria"`
	// Isolation is where the task works: "none" (the default: an empty
	// folder of its own), "worktree" (a git worktree of the workspace as
	// the user has it, uncommitted edits included) or "copy" (the same
	// from a workspace outside git, .gitignore honoured). An isolated
	// task's deliverable is its change to the workspace.
	Isolation string `yaml:"isolation"`
}

// Isolations.
const (
	IsolationNone     = "none"
	IsolationWorktree = "worktree"
	IsolationCopy     = "copy"
)

// Isolated reports whether the task works on a copy of the workspace
// (isolation worktree or copy) rather than in an empty folder.
func (t *Task) Isolated() bool {
	return t.Isolation == IsolationWorktree || t.Isolation == IsolationCopy
}

// LLMDefaults are a workflow's choices for its llm agents; an agent's own
// provider and model win over them.
type LLMDefaults struct {
	Provider string `yaml:"provider"`
	Model    string `yaml:"model"`
}

// AgentSpec says which agent does a role and how.
type AgentSpec struct {
	// Type is "exec" (the default: a command), "llm" or "acp".
	Type string `yaml:"type"`
	// Command is what an exec agent runs, or the agent an acp agent starts.
	Command Command `yaml:"command"`
	// Agent names a well-known ACP agent (see ACPPresets) in place of a
	// command; acp agents only.
	Agent string `yaml:"agent"`
	// Permissions is how an acp agent's permission requests are answered:
	// "task-folder" (the default: edits and commands inside the task's
	// folder are allowed, the rest refused), "allow-all" or "reject-all".
	Permissions string `yaml:"permissions"`
	// Env is added to the environment of the commands an agent runs.
	Env map[string]string `yaml:"env"`
	// Sandbox is how the kernel fences the processes the agent starts:
	// "task-write" (a worker's default: it writes only its task's folder
	// and a temp folder), "read-only" (a QC agent's default: only the temp
	// folder) or "off" (honoured only when the user's own configuration
	// allows it). Network is "allow", "deny" (no TCP connect or bind) or
	// "endpoints" (connect only to the model endpoints' ports); the
	// stricter of the user's and the workflow's wins.
	Sandbox string `yaml:"sandbox"`
	Network string `yaml:"network"`

	// The fields below are for llm agents only, but for Prompt, which acp
	// agents take too (validation rejects them elsewhere, so that a
	// misplaced one is not silently ignored).

	// Provider names a provider of the llm configuration; Model overrides
	// its model. The spec an agent is built from has the workflow's llm
	// defaults filled in.
	Provider string `yaml:"provider"`
	Model    string `yaml:"model"`
	// Prompt is what the model or ACP agent is asked to do (a worker needs
	// one; for a QC agent it adds to the task's acceptance criteria).
	Prompt string `yaml:"prompt"`
	// Preamble is the system message, given inline or as a file relative
	// to the workflow's folder (the spec an agent is built from has it
	// made absolute when the folder is known).
	Preamble     string `yaml:"preamble"`
	PreambleFile string `yaml:"preambleFile"`
	// AllowCommands lets an llm worker run shell commands in its staging
	// folder; off unless the workflow says so.
	AllowCommands bool `yaml:"allowCommands"`
	// MaxToolCalls bounds an llm worker's tool calls per attempt (0: the
	// provider's default).
	MaxToolCalls int `yaml:"maxToolCalls"`
	// Temperature is the sampling temperature (nil: the endpoint's default).
	Temperature *float64 `yaml:"temperature"`
}

// Defaults.
const (
	DefaultMaxRetries    = 2
	DefaultTimeout       = 10 * time.Minute
	DefaultPassThreshold = 80
	maxRetriesLimit      = 100
)

// Attempts is how many times the worker may run.
func (t *Task) Attempts() int {
	if t.MaxRetries == nil {
		return DefaultMaxRetries + 1
	}
	return *t.MaxRetries + 1
}

// TimeoutOrDefault is the limit on each agent call: the worker's, then
// the QC's, each get all of it.
func (t *Task) TimeoutOrDefault() time.Duration {
	if t.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(t.Timeout)
}

// Threshold is the pass score for verdicts that give only a score.
func (t *Task) Threshold() int {
	if t.PassThreshold == nil {
		return DefaultPassThreshold
	}
	return *t.PassThreshold
}

// DisplayTitle falls back to the id so messages never show an empty title.
func (t *Task) DisplayTitle() string {
	if t.Title != "" {
		return t.Title
	}
	return t.ID
}

// Command is argv, written either as one string (run by /bin/sh -c, so
// pipes and variables work) or as a list (run directly).
type Command struct {
	Shell string
	Argv  []string
}

// IsZero reports whether no command was given.
func (c Command) IsZero() bool { return c.Shell == "" && len(c.Argv) == 0 }

func (c Command) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Argv, " ")
}

// Duration accepts "90s", "2m", "1h30m" or a number of seconds (90, not
// "90": text needs a unit).
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// ACPPreset is how a well-known ACP agent is started, and what to install
// when its program is missing.
type ACPPreset struct {
	Name    string
	Argv    []string
	Install string
}

// ACPPresets are the agents `agent:` may name, with their documented
// launch commands (as of 2026: Claude's and Codex's adapters moved from
// @zed-industries to @agentclientprotocol; Gemini CLI deprecated
// --experimental-acp for --acp; Copilot CLI takes --stdio to say which
// transport). Each runs an installed program, never one fetched at run
// time. Qwen Code edits without asking in its ACP default mode; with
// --approval-mode default it asks, so the workflow's permission policy
// decides. docs/agents.md has the table and its sources.
func ACPPresets() []ACPPreset {
	return []ACPPreset{
		{"claude-code", []string{"claude-agent-acp"}, "Claude Code's ACP adapter: npm install -g @agentclientprotocol/claude-agent-acp (then sign in to Claude Code, or set ANTHROPIC_API_KEY)"},
		{"codex", []string{"codex-acp"}, "Codex's ACP adapter: npm install -g @agentclientprotocol/codex-acp (then sign in to Codex, or set OPENAI_API_KEY)"},
		{"gemini", []string{"gemini", "--acp"}, "Gemini CLI: npm install -g @google/gemini-cli"},
		{"qwen", []string{"qwen", "--acp", "--approval-mode", "default"}, "Qwen Code: npm install -g @qwen-code/qwen-code"},
		{"opencode", []string{"opencode", "acp"}, "OpenCode: npm install -g opencode-ai"},
		{"copilot", []string{"copilot", "--acp", "--stdio"}, "GitHub Copilot CLI: npm install -g @github/copilot"},
	}
}

// LookupACPPreset returns the preset called name.
func LookupACPPreset(name string) (ACPPreset, bool) {
	for _, p := range ACPPresets() {
		if p.Name == name {
			return p, true
		}
	}
	return ACPPreset{}, false
}

// ACP permission policies.
const (
	PermissionsTaskFolder = "task-folder"
	PermissionsAllowAll   = "allow-all"
	PermissionsRejectAll  = "reject-all"
)
