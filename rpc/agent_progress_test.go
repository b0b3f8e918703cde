package rpc

import (
	"context"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// toolCallingAgent reports one tool call, as an ACP or llm agent does,
// then works on until it is let go.
type toolCallingAgent struct{ release chan struct{} }

func (a toolCallingAgent) Work(ctx context.Context, j *engine.Job) (engine.WorkResult, error) {
	j.AgentToolCall(engine.PhaseWorker, "WriteFile", "edit", "completed")
	select {
	case <-a.release:
	case <-ctx.Done():
	}
	return engine.WorkResult{}, nil
}

func (toolCallingAgent) Check(context.Context, *engine.Job) (engine.Verdict, error) {
	return engine.Verdict{Passed: true, Score: 100}, nil
}

// What an agent does shows in the execution's progress as it happens.
func TestAgentToolCallsInProgress(t *testing.T) {
	agent := toolCallingAgent{release: make(chan struct{})}
	kind := engine.AgentKind{
		Worker: func(*engine.Task, *engine.AgentSpec) (engine.Worker, error) { return agent, nil },
		QC:     func(*engine.Task, *engine.AgentSpec) (engine.QC, error) { return agent, nil },
	}
	c := startServer(t, Options{Agents: func(*workspace.Workspace) (engine.Agents, error) { return engine.Agents{"exec": kind}, nil }})
	c.initialize(t.TempDir(), nil)
	c.result("mimir/execute", map[string]any{"inline": "name: tools\ntasks:\n  - {id: t, title: Write it, worker: {command: x}}\n"})
	// The progress shows the latest state once the editor has accepted
	// its token: the agent is still at its tool call then.
	c.until(func(m map[string]any) bool {
		if m["method"] != "$/progress" {
			return false
		}
		v := m["params"].(map[string]any)["value"].(map[string]any)
		msg, _ := v["message"].(string)
		return strings.Contains(msg, "Write it · 🔧 WriteFile (completed)")
	})
	close(agent.release)
	c.until(isEvent("execution-complete"))
}
