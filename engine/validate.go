package engine

import (
	"cmp"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"

	"github.com/mimir-sidecar/mimir-sidecar/internal/winname"
)

// Task ids name staging folders and deliverable paths, so they are kept to
// characters every filesystem holds.
var taskID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

const maxParallelism = 1024

// validate checks what the decoder cannot: references, cycles, ranges. It
// runs on whatever decoded, so it must expect nil tasks and agents (their
// problem is reported already) and skip a check whose field did not decode.
func (d *decoder) validate(wf *Workflow, doc *yaml.Node) {
	wpos := d.pos[wf]
	if strings.TrimSpace(wf.Name) == "" && !wpos.bad("name") {
		d.errorf(doc, "the workflow needs a name (add `name: my-workflow`)")
	}
	// 0 written out is refused like the schema refuses it: "one per CPU"
	// is what leaving the field out means, and the message says so.
	if wpos.given("parallelism") && (wf.Parallelism < 1 || wf.Parallelism > maxParallelism) {
		d.errorf(wpos["parallelism"].value, "parallelism must be between 1 and %d (or left out for one per CPU), not %d", maxParallelism, wf.Parallelism)
	}
	d.validateSandbox(wpos, "the workflow", wf.Sandbox, wf.Network, workflowSandboxValues)
	d.validateIsolation(wpos, "the workflow", wf.Isolation)
	if wf.LLM != nil {
		lpos := d.pos[wf.LLM]
		for f, v := range map[string]string{"provider": wf.LLM.Provider, "model": wf.LLM.Model} {
			if lpos.given(f) && strings.TrimSpace(v) == "" {
				d.errorf(lpos[f].value, "llm.%s must not be empty (leave it out for the default)", f)
			}
		}
	}
	if len(wf.Tasks) == 0 {
		if !wpos.bad("tasks") {
			at := doc
			if f, ok := wpos["tasks"]; ok {
				at = f.value
			}
			d.errorf(at, "the workflow has no tasks: add at least one under `tasks:`")
		}
		return
	}

	byID := map[string]*Task{}
	// A task's id names its folder, so ids must differ in more than case:
	// on Windows and macOS "Docs" and "docs" are one folder.
	byFolded := map[string]*Task{}
	for i, t := range wf.Tasks {
		if t == nil {
			continue // not a mapping: reported by the decoder
		}
		tpos := d.pos[t]
		where := fmt.Sprintf("tasks[%d]", i)
		switch {
		case t.ID == "" && tpos.bad("id"):
		case t.ID == "":
			d.errorf(tpos[""].value, "%s needs an id", where)
		case !taskID.MatchString(t.ID):
			d.errorf(tpos["id"].value, "task id %q must start with a letter or digit and use only letters, digits, '.', '_' and '-' (at most 64)", t.ID)
		default:
			if first, dup := byID[t.ID]; dup {
				d.errorf(tpos["id"].value, "task id %q is used twice (first at line %d)", t.ID, d.pos[first]["id"].value.Line)
				break
			}
			byID[t.ID] = t
			folded := strings.ToLower(t.ID)
			switch first, dup := byFolded[folded]; {
			case winname.Reserved(t.ID):
				d.errorf(tpos["id"].value, "task id %q is a device name on Windows, which cannot hold a folder of that name: choose another id", t.ID)
			case winname.TrailingDot(t.ID):
				d.errorf(tpos["id"].value, "task id %q ends with a dot, which Windows drops from folder names: remove it", t.ID)
			case dup:
				d.errorf(tpos["id"].value, "task id %q differs from %q (line %d) only in case: on Windows and macOS both would use one folder; choose another id", t.ID, first.ID, d.pos[first]["id"].value.Line)
			default:
				byFolded[folded] = t
			}
		}
		if t.ID != "" {
			where = fmt.Sprintf("task %q", t.ID)
		}
		switch {
		case t.Worker != nil:
			d.validateAgent(t.Worker, where+": worker", PhaseWorker, t)
		case !tpos.bad("worker"):
			d.errorf(tpos[""].value, "%s needs a worker (for example `worker: {command: ./do-it.sh}`)", where)
		}
		if t.QC != nil {
			d.validateAgent(t.QC, where+": qc", PhaseQC, t)
		}
		if t.MaxRetries != nil && (*t.MaxRetries < 0 || *t.MaxRetries > maxRetriesLimit) {
			d.errorf(tpos["maxRetries"].value, "%s: maxRetries must be between 0 and %d, not %d", where, maxRetriesLimit, *t.MaxRetries)
		}
		if tpos.given("timeout") && t.Timeout <= 0 {
			d.errorf(tpos["timeout"].value, "%s: timeout must be more than zero, not %s", where, t.Timeout)
		}
		if t.PassThreshold != nil && (*t.PassThreshold < 0 || *t.PassThreshold > 100) {
			d.errorf(tpos["passThreshold"].value, "%s: passThreshold must be a score from 0 to 100, not %d", where, *t.PassThreshold)
		}
		d.validateIsolation(tpos, where, t.Isolation)
		if iso := cmp.Or(t.Isolation, wf.Isolation); (iso == IsolationWorktree || iso == IsolationCopy) && tpos.given("deliverables") {
			d.errorf(tpos["deliverables"].value, "%s: an isolated task delivers its change to the workspace, not files picked by deliverables: remove deliverables or set isolation: none", where)
		}
		for j, g := range t.Deliverables {
			at := tpos["deliverables"].value.Content[j]
			if !isText(at) {
				continue // reported by the decoder
			}
			switch {
			case g == "" || strings.HasPrefix(g, "/") || strings.Contains(g, "\\"):
				d.errorf(at, "%s: deliverable pattern %q must be a relative path with '/' separators", where, g)
			case hasDotDot(g):
				d.errorf(at, "%s: deliverable pattern %q must stay inside the task's folder (no '..')", where, g)
			case !doublestar.ValidatePattern(g):
				d.errorf(at, "%s: deliverable pattern %q is not a valid glob", where, g)
			}
		}
	}

	for _, t := range wf.Tasks {
		if t == nil {
			continue
		}
		listed := map[string]*yaml.Node{}
		for j, dep := range t.DependsOn {
			at := d.pos[t]["dependsOn"].value.Content[j]
			if !isText(at) {
				continue // reported by the decoder
			}
			// A repeated dependency is a slip (another task was meant), and
			// the schema's uniqueItems refuses it in the editor too.
			if first, dup := listed[dep]; dup {
				d.errorf(at, "task %q lists the dependency %q twice (first at line %d, column %d)", t.ID, dep, first.Line, first.Column)
				continue
			}
			listed[dep] = at
			if _, ok := byID[dep]; !ok {
				d.errorf(at, "task %q depends on %q, which is not a task of this workflow%s", t.ID, dep, suggest(dep, ids(wf), "tasks"))
			}
		}
	}
	if cycle := findCycle(wf.Tasks, byID); cycle != nil {
		d.errorf(d.pos[byID[cycle[0]]]["dependsOn"].key, "tasks depend on each other in a cycle: %s", strings.Join(cycle, " → "))
	}
}

// isText reports whether a list item decoded as text: the decoder reported
// any other kind, and its zero value ("") must not be judged again.
func isText(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag != "!!null"
}

// llmFields are the agent fields llm agents read; acpFields those acp
// agents read besides command (prompt is both's).
var (
	llmFields = []string{"provider", "model", "prompt", "preamble", "preambleFile", "allowCommands", "maxToolCalls", "temperature"}
	acpFields = []string{"agent", "prompt", "permissions"}
)

// typeFields are the fields only some agent types read, and which types.
func typeFields() map[string][]string {
	m := map[string][]string{}
	for _, f := range llmFields {
		m[f] = append(m[f], "llm")
	}
	for _, f := range acpFields {
		m[f] = append(m[f], "acp")
	}
	return m
}

// maxToolCallsLimit bounds what a workflow may allow an llm worker per
// attempt: past it a loop is a runaway, not a plan.
const maxToolCallsLimit = 1000

var permissionValues = []string{PermissionsTaskFolder, PermissionsAllowAll, PermissionsRejectAll}

func (d *decoder) validateAgent(a *AgentSpec, where, role string, t *Task) {
	apos := d.pos[a]
	d.validateSandbox(apos, where, a.Sandbox, a.Network, agentSandboxValues)
	if apos.bad("type") {
		return // which rules apply depends on the type, reported already
	}
	typ := a.Type
	if typ == "" {
		typ = "exec"
	}
	if typ == "exec" || typ == "llm" || typ == "acp" {
		// One rule for every field some types do not read: a misplaced
		// one is named with the types that take it.
		for f, types := range typeFields() {
			if p, ok := apos[f]; ok && !slices.Contains(types, typ) {
				d.errorf(p.key, "%s: %q is for %s agents only (add `type: %s`, or leave it out)", where, f, strings.Join(types, " and "), types[0])
			}
		}
	}
	switch typ {
	case "exec":
		if a.Command.IsZero() && !apos.bad("command") {
			d.errorf(apos[""].value, "%s needs a command (text for the shell, or a list of arguments)", where)
		}
	case "llm":
		d.validateLLMAgent(a, apos, where, role, t)
	case "acp":
		d.validateACPAgent(a, apos, where, role, t)
	default:
		d.errorf(apos["type"].value, "%s: unknown agent type %q (known: exec, llm, acp)", where, a.Type)
	}
}

func (d *decoder) validateACPAgent(a *AgentSpec, apos positions, where, role string, t *Task) {
	_, hasCommand := apos["command"]
	_, hasAgent := apos["agent"]
	names := make([]string, 0, len(ACPPresets()))
	for _, p := range ACPPresets() {
		names = append(names, p.Name)
	}
	switch {
	case hasCommand && hasAgent:
		d.errorf(apos["agent"].key, "%s: give either agent (a preset) or command (the agent to start), not both", where)
	case !hasCommand && !hasAgent:
		d.errorf(apos[""].value, "%s needs the agent to start: `agent: <%s>` or `command: …`", where, strings.Join(names, "|"))
	case hasAgent && !apos.bad("agent"):
		if _, ok := LookupACPPreset(a.Agent); !ok {
			d.errorf(apos["agent"].value, "%s: unknown agent %q (known: %s; or give `command:` to start another)", where, a.Agent, strings.Join(names, ", "))
		}
	}
	if apos.given("permissions") && !slices.Contains(permissionValues, a.Permissions) {
		d.errorf(apos["permissions"].value, "%s: permissions %q must be one of %s", where, a.Permissions, strings.Join(permissionValues, ", "))
	}
	d.validatePrompt(a, apos, where, role, t, "the agent")
}

// validatePrompt checks what an llm or acp agent is asked: a worker needs
// a prompt, a QC agent a prompt or the task's acceptance criteria.
func (d *decoder) validatePrompt(a *AgentSpec, apos positions, where, role string, t *Task, who string) {
	if role == PhaseWorker && strings.TrimSpace(a.Prompt) == "" && !apos.bad("prompt") {
		at := apos[""].value
		if p, ok := apos["prompt"]; ok {
			at = p.value
		}
		d.errorf(at, "%s needs a prompt: what %s should do (add `prompt: …`)", where, who)
	}
	if role == PhaseQC && strings.TrimSpace(a.Prompt) == "" && len(t.AcceptanceCriteria) == 0 && !apos.bad("prompt") && !d.pos[t].bad("acceptanceCriteria") {
		d.errorf(apos[""].value, "%s: an %s QC agent needs something to check against: add `acceptanceCriteria` to the task or a `prompt` to the qc agent", where, a.Type)
	}
}

func (d *decoder) validateLLMAgent(a *AgentSpec, apos positions, where, role string, t *Task) {
	if p, ok := apos["command"]; ok {
		d.errorf(p.key, "%s: an llm agent takes a prompt, not a command (to let the model run commands, set `allowCommands: true`)", where)
	}
	d.validatePrompt(a, apos, where, role, t, "the model")
	if role == PhaseQC {
		if p, ok := apos["allowCommands"]; ok {
			d.errorf(p.key, "%s: allowCommands is for llm workers; the QC agent reads the worker's files and runs nothing", where)
		}
		if p, ok := apos["maxToolCalls"]; ok {
			d.errorf(p.key, "%s: maxToolCalls is for llm workers; the QC agent calls no tools", where)
		}
	}
	if a.Preamble != "" && a.PreambleFile != "" {
		d.errorf(apos["preambleFile"].key, "%s: give either preamble or preambleFile, not both", where)
	}
	if p, ok := apos["preambleFile"]; ok && !p.bad {
		switch {
		case strings.TrimSpace(a.PreambleFile) == "":
			d.errorf(p.value, "%s: preambleFile must name a file", where)
		case filepath.IsAbs(a.PreambleFile) || strings.HasPrefix(a.PreambleFile, "/"):
			d.errorf(p.value, "%s: preambleFile %q must be relative to the workflow's folder", where, a.PreambleFile)
		}
	}
	if p, ok := apos["maxToolCalls"]; ok && !p.bad && (a.MaxToolCalls < 1 || a.MaxToolCalls > maxToolCallsLimit) {
		d.errorf(p.value, "%s: maxToolCalls must be between 1 and %d, not %d", where, maxToolCallsLimit, a.MaxToolCalls)
	}
	if a.Temperature != nil && (*a.Temperature < 0 || *a.Temperature > 2) {
		d.errorf(apos["temperature"].value, "%s: temperature must be between 0 and 2, not %g", where, *a.Temperature)
	}
	for f, v := range map[string]string{"provider": a.Provider, "model": a.Model} {
		if apos.given(f) && strings.TrimSpace(v) == "" {
			d.errorf(apos[f].value, "%s: %s must not be empty (leave it out for the default)", where, f)
		}
	}
}

// The values of sandbox and network, as the schema's enums: an agent's
// sandbox is a mode; the workflow's may also be "required".
var (
	agentSandboxValues    = []string{"task-write", "read-only", "off"}
	workflowSandboxValues = []string{"task-write", "read-only", "off", SandboxRequired}
	networkValues         = []string{"allow", "deny", "endpoints"}
)

// validateSandbox checks the sandbox and network fields of the object at
// pos. "off" is valid here: whether it takes effect is the user's
// configuration's to say when the workflow runs.
func (d *decoder) validateSandbox(pos positions, where, mode, network string, modes []string) {
	for _, f := range []struct {
		name, value string
		allowed     []string
	}{{"sandbox", mode, modes}, {"network", network, networkValues}} {
		if pos.given(f.name) && !slices.Contains(f.allowed, f.value) {
			d.errorf(pos[f.name].value, "%s: %s %q must be one of %s", where, f.name, f.value, strings.Join(f.allowed, ", "))
		}
	}
}

var isolationValues = []string{IsolationNone, IsolationWorktree, IsolationCopy}

func (d *decoder) validateIsolation(pos positions, where, value string) {
	if pos.given("isolation") && !slices.Contains(isolationValues, value) {
		d.errorf(pos["isolation"].value, "%s: isolation %q must be one of %s", where, value, strings.Join(isolationValues, ", "))
	}
}

func hasDotDot(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

func ids(wf *Workflow) []string {
	out := make([]string, 0, len(wf.Tasks))
	for _, t := range wf.Tasks {
		if t != nil && t.ID != "" {
			out = append(out, t.ID)
		}
	}
	return out
}

// findCycle returns one dependency cycle as ids, the first repeated at the
// end ("a → b → a"), or nil.
func findCycle(tasks []*Task, byID map[string]*Task) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(id string) []string
	visit = func(id string) []string {
		switch state[id] {
		case onPath:
			for i, p := range path {
				if p == id {
					return append(append([]string(nil), path[i:]...), id)
				}
			}
		case done:
			return nil
		}
		state[id] = onPath
		path = append(path, id)
		for _, dep := range byID[id].DependsOn {
			if _, ok := byID[dep]; !ok {
				continue
			}
			if c := visit(dep); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		state[id] = done
		return nil
	}
	for _, t := range tasks {
		if t == nil {
			continue
		}
		if _, ok := byID[t.ID]; !ok {
			continue
		}
		if c := visit(t.ID); c != nil {
			return c
		}
	}
	return nil
}
