package engine

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Mimir's task definitions (its TaskDefinition, as Mimir Studio saves them
// in .mimir/workflows/ and POST /api/execute-workflow takes them: a JSON
// object with a "tasks" list) are read as a workflow: each is turned into
// one of our tasks, in the YAML tree, before the workflow is decoded and
// checked as any other. Problems then point at the Mimir file's own lines.

// MimirTaskField is one field of Mimir's TaskDefinition and what it
// becomes here. The table (MimirTaskFields) drives the conversion, its
// tests and docs/mimir-compat.md.
type MimirTaskField struct {
	// Name is Mimir's field.
	Name string
	// Ours is what it becomes ("" when nothing).
	Ours string
	// Unsupported fields stop the workflow with a problem naming them.
	Unsupported bool
	Note        string
	// apply sets the field on the task being made.
	apply func(c *mimirTask, n *yaml.Node)
}

// MimirACPPrefix, at the start of a task's recommendedModel, picks an ACP
// agent (one of ACPPresets) for its worker and QC instead of an llm one.
const MimirACPPrefix = "acp:"

// MimirTaskFields is every field of Mimir's TaskDefinition.
func MimirTaskFields() []MimirTaskField {
	ignored := func(name, note string) MimirTaskField { return MimirTaskField{Name: name, Note: note} }
	unsupported := func(name, note string) MimirTaskField {
		return MimirTaskField{Name: name, Unsupported: true, Note: note}
	}
	return []MimirTaskField{
		{Name: "id", Ours: "id", apply: func(c *mimirTask, n *yaml.Node) { c.set("id", n) }},
		{Name: "title", Ours: "title", apply: func(c *mimirTask, n *yaml.Node) { c.set("title", n) }},
		{Name: "agentRoleDescription", Ours: "worker.preamble", Note: "the worker's system message (Mimir has a model write a preamble from it); with an ACP agent, the start of its prompt",
			apply: func(c *mimirTask, n *yaml.Node) { c.role = n }},
		{Name: "recommendedModel", Ours: "worker.type, worker.agent", Note: `"acp:<agent>" (an ACP preset: claude-code, codex, gemini, …) runs the worker and QC with that ACP agent; anything else runs llm agents with the configured default model, as Mimir does while its PM model suggestions are off`,
			apply: func(c *mimirTask, n *yaml.Node) {
				if agent, ok := strings.CutPrefix(n.Value, MimirACPPrefix); n.Kind == yaml.ScalarNode && ok {
					c.acp = scalar(n, agent)
				}
			}},
		{Name: "prompt", Ours: "worker.prompt", apply: func(c *mimirTask, n *yaml.Node) { c.prompt = n }},
		{Name: "dependencies", Ours: "dependsOn", Note: "kept where Mimir's order already runs them first; a dependency's output is not pasted into the prompt (the worker reads its files)",
			apply: func(c *mimirTask, n *yaml.Node) { c.deps = n }},
		ignored("estimatedDuration", "informational in Mimir too (only logged)"),
		{Name: "parallelGroup", Ours: "dependsOn", Note: "Mimir runs groups one after the other (a task without a group is a group of its own) and the tasks of a group together: each task here depends on every task of the group before its own, so the order, and the stop after a failed group, are Mimir's",
			apply: func(c *mimirTask, n *yaml.Node) { c.group = n }},
		{Name: "qcRole", Ours: "qc.preamble", Note: "a QC agent of the worker's type; without qcRole the task has no QC (Mimir refuses such a task)",
			apply: func(c *mimirTask, n *yaml.Node) { c.qcRole = n }},
		{Name: "verificationCriteria", Ours: "acceptanceCriteria", Note: "one criterion a line (Studio's list, joined by newlines), or a list",
			apply: func(c *mimirTask, n *yaml.Node) { c.criteria = n }},
		{Name: "maxRetries", Ours: "maxRetries", Note: "Mimir counts attempts (default 2, also for 0); ours counts retries after the first attempt: maxRetries here is Mimir's minus one",
			apply: func(c *mimirTask, n *yaml.Node) { c.maxRetries = n }},
		{Name: "estimatedToolCalls", Ours: "worker.maxToolCalls", Note: "Mimir's circuit breaker: ten times the estimate, rounded up (llm workers; at most 1000)",
			apply: func(c *mimirTask, n *yaml.Node) { c.toolCalls = n }},
		{Name: "taskType", Ours: "", Note: `"agent" only: transformer (lambda) tasks are not supported`,
			apply: func(c *mimirTask, n *yaml.Node) {
				if n.Value != "agent" && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
					c.d.errorf(n, "%s: taskType %q is not supported: only Mimir's agent tasks run here (transformer tasks run lambdas)", c.where, n.Value)
				}
			}},
		unsupported("lambdaId", "transformer tasks are not supported"),
		unsupported("lambdaScript", "transformer tasks are not supported"),
		unsupported("lambdaLanguage", "transformer tasks are not supported"),
		unsupported("lambdaName", "transformer tasks are not supported"),
		unsupported("qcPreamblePath", "a path on Mimir's server; give the QC role in qcRole"),
		ignored("workerAgent", "Studio's card state, saved with the task; Mimir's executor ignores it too"),
		ignored("qcAgent", "Studio's card state, saved with the task; Mimir's executor ignores it too"),
		ignored("executionStatus", "Studio's card state, saved with the task; Mimir's executor ignores it too"),
	}
}

// isMimirTasks reports whether doc is Mimir's task definitions: a task with
// a field only Mimir's tasks have, in a workflow without a name.
func isMimirTasks(doc *yaml.Node) bool {
	if doc.Kind != yaml.MappingNode || mapValue(doc, "name") != nil {
		return false
	}
	tasks := mapValue(doc, "tasks")
	if tasks == nil || tasks.Kind != yaml.SequenceNode {
		return false
	}
	for _, t := range tasks.Content {
		if t.Kind != yaml.MappingNode || mapValue(t, "worker") != nil {
			continue
		}
		for _, k := range []string{"agentRoleDescription", "prompt", "recommendedModel", "qcRole", "verificationCriteria", "dependencies", "parallelGroup"} {
			if mapValue(t, k) != nil {
				return true
			}
		}
	}
	return false
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mimirTask is one Mimir task being turned into ours.
type mimirTask struct {
	d                                                          *decoder
	where                                                      string
	at                                                         *yaml.Node
	out                                                        *yaml.Node // our task
	id                                                         string
	role, prompt, acp, qcRole, criteria, maxRetries, toolCalls *yaml.Node
	deps, group                                                *yaml.Node
	// after is the tasks of the group Mimir runs before this task's.
	after []string
}

func (c *mimirTask) set(key string, v *yaml.Node) {
	c.out.Content = append(c.out.Content, scalar(v, key), v)
}

// scalar is a text node made at n's place, so problems with it point there.
func scalar(n *yaml.Node, text string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text, Line: n.Line, Column: n.Column}
}

func intNode(n *yaml.Node, v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v), Line: n.Line, Column: n.Column}
}

func mapping(n *yaml.Node, kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: kv, Line: n.Line, Column: n.Column}
}

// fromMimir returns our workflow, as a YAML tree, for Mimir's task
// definitions in doc, named after file.
func (d *decoder) fromMimir(file string, doc *yaml.Node) *yaml.Node {
	fields := map[string]*MimirTaskField{}
	table := MimirTaskFields()
	for i := range table {
		fields[table[i].Name] = &table[i]
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if k := doc.Content[i]; k.Value != "tasks" {
			d.errorf(k, "unknown field %q: a Mimir workflow has only tasks (give our workflow's fields in our format, with a name)", k.Value)
		}
	}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if name == "" || name == "." {
		name = "mimir-workflow"
	}
	src := mapValue(doc, "tasks")
	tasks := make([]*mimirTask, 0, len(src.Content))
	for i, n := range src.Content {
		c := &mimirTask{d: d, where: fmt.Sprintf("tasks[%d]", i), at: n, out: mapping(n)}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s must be a mapping of fields, not %s", c.where, describe(n))
			continue
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			f := fields[k.Value]
			switch {
			case f == nil:
				d.errorf(k, "%s: %q is not a field of Mimir's task definitions%s", c.where, k.Value, suggest(k.Value, mimirFieldNames(table), "fields"))
			case f.Unsupported:
				d.errorf(k, "%s: %s is not supported: %s", c.where, k.Value, f.Note)
			case f.apply != nil:
				f.apply(c, v)
			}
		}
		if id := mapValue(n, "id"); id != nil {
			c.id = id.Value
		}
		tasks = append(tasks, c)
	}
	order := mimirGroups(tasks)
	groupOf := make(map[string]int, len(tasks))
	for c, g := range order {
		groupOf[c.id] = g
	}
	for _, c := range tasks {
		c.finish(order[c], groupOf)
	}
	out := make([]*yaml.Node, len(tasks))
	for i, c := range tasks {
		out[i] = c.out
	}
	return mapping(doc,
		scalar(doc, "name"), scalar(doc, name),
		scalar(doc, "tasks"), &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: out, Line: src.Line, Column: src.Column},
	)
}

func mimirFieldNames(table []MimirTaskField) []string {
	names := make([]string, len(table))
	for i, f := range table {
		names[i] = f.Name
	}
	return names
}

// mimirGroups numbers the tasks' groups in the order Mimir runs them
// (groupTasksByParallelGroup in its workflow-executor.ts): a task without
// a parallelGroup is a group of its own, in place; the groups with a
// number, in ascending order, are each put before the group of the first
// task without one that follows their first task.
func mimirGroups(tasks []*mimirTask) map[*mimirTask]int {
	var groups [][]*mimirTask
	numbered := map[float64][]*mimirTask{}
	var nums []float64
	for _, c := range tasks {
		if c.group == nil || (c.group.Kind == yaml.ScalarNode && c.group.Tag == "!!null") {
			groups = append(groups, []*mimirTask{c})
			continue
		}
		g, err := strconv.ParseFloat(c.group.Value, 64)
		if c.group.Kind != yaml.ScalarNode || (c.group.Tag != "!!int" && c.group.Tag != "!!float") || err != nil {
			c.d.errorf(c.group, "%s: parallelGroup must be a number, not %s", c.where, describe(c.group))
			groups = append(groups, []*mimirTask{c})
			continue
		}
		if _, ok := numbered[g]; !ok {
			nums = append(nums, g)
		}
		numbered[g] = append(numbered[g], c)
	}
	slices.Sort(nums)
	for _, g := range nums {
		members := numbered[g]
		at := 0
		for _, c := range tasks {
			if c == members[0] {
				break
			}
			if c.group == nil || (c.group.Kind == yaml.ScalarNode && c.group.Tag == "!!null") {
				at++
			}
		}
		groups = slices.Insert(groups, min(at, len(groups)), members)
	}
	order := map[*mimirTask]int{}
	for i, g := range groups {
		for _, c := range g {
			order[c] = i
		}
	}
	// The group before each, for finish.
	for _, c := range tasks {
		if i := order[c]; i > 0 {
			for _, prev := range groups[i-1] {
				c.after = append(c.after, prev.id)
			}
		}
	}
	return order
}

// finish writes the task's agents, retries, criteria and order (its
// group, and every task's group by id).
func (c *mimirTask) finish(group int, groupOf map[string]int) {
	typ, agent := "llm", (*yaml.Node)(nil)
	if c.acp != nil {
		typ, agent = "acp", c.acp
	}
	agentSpec := func(role *yaml.Node, prompt *yaml.Node, worker bool) *yaml.Node {
		m := mapping(c.at, scalar(c.at, "type"), scalar(c.at, typ))
		if agent != nil {
			m.Content = append(m.Content, scalar(agent, "agent"), agent)
		}
		if typ == "acp" && role != nil && role.Value != "" {
			// An ACP agent takes no system message: the role leads the
			// prompt.
			text := "Your role: " + role.Value
			if prompt != nil && prompt.Value != "" {
				text += "\n\n" + prompt.Value
			}
			at := role
			if prompt != nil {
				at = prompt
			}
			prompt, role = scalar(at, text), nil
		}
		if role != nil && role.Value != "" {
			m.Content = append(m.Content, scalar(role, "preamble"), role)
		}
		if prompt != nil {
			m.Content = append(m.Content, scalar(prompt, "prompt"), prompt)
		}
		if worker && typ == "llm" && c.toolCalls != nil {
			if n, err := strconv.ParseFloat(c.toolCalls.Value, 64); err == nil && n > 0 {
				m.Content = append(m.Content, scalar(c.toolCalls, "maxToolCalls"), intNode(c.toolCalls, min(int(math.Ceil(n*10)), maxToolCallsLimit)))
			} else {
				c.d.errorf(c.toolCalls, "%s: estimatedToolCalls must be a positive number, not %s", c.where, describe(c.toolCalls))
			}
		}
		return m
	}
	c.out.Content = append(c.out.Content, scalar(c.at, "worker"), agentSpec(c.role, c.prompt, true))
	if c.qcRole != nil && c.qcRole.Value != "" {
		c.out.Content = append(c.out.Content, scalar(c.qcRole, "qc"), agentSpec(c.qcRole, nil, false))
	}
	if c.criteria != nil {
		c.out.Content = append(c.out.Content, scalar(c.criteria, "acceptanceCriteria"), c.criteriaList())
	}
	if n := c.maxRetries; n != nil {
		// Mimir: `task.maxRetries || 2` attempts.
		attempts, ok := wholeNumber(n)
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
			attempts, ok = 0, true
		case !ok || attempts < 0:
			c.d.errorf(n, "%s: maxRetries must be a whole number of attempts, at least 1 (Mimir counts attempts), not %s", c.where, describe(n))
			ok = false
		}
		if ok {
			if attempts == 0 {
				attempts = 2
			}
			c.out.Content = append(c.out.Content, scalar(n, "maxRetries"), intNode(n, int(attempts)-1))
		}
	} else {
		c.out.Content = append(c.out.Content, scalar(c.at, "maxRetries"), intNode(c.at, 1))
	}
	deps := slices.Clone(c.after)
	if c.deps != nil && c.deps.Kind != yaml.SequenceNode && c.deps.Tag != "!!null" {
		c.d.errorf(c.deps, "%s: dependencies must be a list of task ids, not %s", c.where, describe(c.deps))
	}
	if c.deps != nil && c.deps.Kind == yaml.SequenceNode {
		for _, dn := range c.deps.Content {
			// Only what Mimir's order runs first: a dependency in the same
			// group or a later one gives Mimir no output and no wait.
			if g, ok := groupOf[dn.Value]; ok && g < group && !slices.Contains(deps, dn.Value) {
				deps = append(deps, dn.Value)
			}
		}
	}
	if len(deps) > 0 {
		at := c.at
		if c.deps != nil {
			at = c.deps
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: at.Line, Column: at.Column}
		for _, id := range deps {
			seq.Content = append(seq.Content, scalar(at, id))
		}
		c.out.Content = append(c.out.Content, scalar(at, "dependsOn"), seq)
	}
}

// criteriaList is verificationCriteria as a list: Studio joins its list
// with newlines before saving; a list is taken as it is.
func (c *mimirTask) criteriaList() *yaml.Node {
	n := c.criteria
	if n.Kind == yaml.SequenceNode {
		return n
	}
	if n.Kind != yaml.ScalarNode {
		c.d.errorf(n, "%s: verificationCriteria must be text (one criterion a line) or a list, not %s", c.where, describe(n))
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: n.Line, Column: n.Column}
	for line := range strings.SplitSeq(n.Value, "\n") {
		line = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "-*•"))
		if line != "" {
			seq.Content = append(seq.Content, scalar(n, line))
		}
	}
	return seq
}
