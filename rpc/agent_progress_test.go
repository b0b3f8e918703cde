package rpc

import (
	"context"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// toolCallingAgent reports one tool call, as an ACP or llm agent does.
type toolCallingAgent struct{}

func (toolCallingAgent) Work(_ context.Context, j *engine.Job) (engine.WorkResult, error) {
	j.AgentToolCall(engine.PhaseWorker, "WriteFile", "edit", "completed")
	return engine.WorkResult{}, nil
}

func (toolCallingAgent) Check(context.Context, *engine.Job) (engine.Verdict, error) {
	return engine.Verdict{Passed: true, Score: 100}, nil
}

// What an agent does shows in the execution's progress as it happens.
func TestAgentToolCallsInProgress(t *testing.T) {
	kind := engine.AgentKind{
		Worker: func(*engine.Task, *engine.AgentSpec) (engine.Worker, error) { return toolCallingAgent{}, nil },
		QC:     func(*engine.Task, *engine.AgentSpec) (engine.QC, error) { return toolCallingAgent{}, nil },
	}
	c := startServer(t, Options{Agents: func(*workspace.Workspace) (engine.Agents, error) { return engine.Agents{"exec": kind}, nil }})
	c.initialize(t.TempDir(), nil)
	c.result("mimir/execute", map[string]any{"inline": "name: tools\ntasks:\n  - {id: t, title: Write it, worker: {command: x}}\n"})
	frames := c.until(isEvent("execution-complete"))
	for _, m := range frames {
		if m["method"] != "$/progress" {
			continue
		}
		v := m["params"].(map[string]any)["value"].(map[string]any)
		if msg, _ := v["message"].(string); strings.Contains(msg, "Write it · 🔧 WriteFile (completed)") {
			return
		}
	}
	t.Errorf("no progress report shows the agent's tool call")
}
